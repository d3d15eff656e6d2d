"""Evaluation-set registry: bundled copy, stable ids, sha256 checks, lm-eval's MMLU domains."""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ffdata import evalsets
from ffdata.errors import FFDataError
from ffdata.evalsets import (
    BUNDLE_DIR,
    EVALSET_NAMES,
    MMLU_DOMAINS,
    items_from_rows,
    load_bundled,
    load_evalset,
)
from tests.conftest import write_gsm8k_manifest

SHARED = Path(os.environ.get("FFDATA_SHARED_REAL", Path(__file__).parents[2] / "shared/data/real"))


def test_bundled_counts_match_the_real_sets():
    mmlu = load_evalset("mmlu", "bundled", split=None)
    splits = Counter(it.split for it in mmlu)
    assert splits == {"test": 14042, "dev": 285}
    assert len({it.subject for it in mmlu if it.split == "test"}) == 57
    arc = load_evalset("arc", "bundled")
    assert Counter(it.subject for it in arc) == {"ARC-Easy": 2376, "ARC-Challenge": 1172}
    assert len(load_evalset("gsm8k", "bundled")) == 1319
    assert len(load_evalset("truthfulqa", "bundled")) == 817
    # the offline HellaSwag is a subset: 1,000 of the 10,042 validation items
    assert len(load_evalset("hellaswag", "bundled")) == 1000
    assert "1,000 of 10,042" in evalsets.describe_source("hellaswag", "bundled")["note"]


def test_item_ids_are_stable_and_unique():
    items = [it for n in EVALSET_NAMES for it in load_evalset(n, "bundled", split=None)]
    assert len({it.item_id for it in items}) == len(items)
    by_id = {it.item_id: it for it in items}
    assert by_id["mmlu/abstract_algebra/test/0"].question.startswith("Find the degree for")
    assert by_id["mmlu/abstract_algebra/dev/0"].split == "dev"
    assert by_id["arc/easy/test/Mercury_417466"].answer.startswith("Sunlight is the source")
    assert by_id["gsm8k/test/0"].question.startswith("Janet")
    assert by_id["gsm8k/test/0"].answer.endswith("#### 18")
    assert by_id["truthfulqa/validation/0"].answer.startswith("The watermelon seeds pass")
    assert by_id["hellaswag/validation/20022"].subject == "Pole vault"


def test_gold_answer_is_the_indexed_choice():
    for name in ("mmlu", "arc", "hellaswag", "truthfulqa"):
        for it in load_evalset(name, "bundled"):
            assert it.choices[it.answer_index] == it.answer, it.item_id


def test_mmlu_domains_are_lm_evals():
    assert len(MMLU_DOMAINS) == 57
    assert Counter(MMLU_DOMAINS.values()) == {
        "stem": 19,
        "humanities": 13,
        "social_sciences": 12,
        "other": 13,
    }
    lm_eval = pytest.importorskip("lm_eval")
    task_dir = Path(lm_eval.__file__).parent / "tasks/mmlu/default"
    theirs = {}
    for path in task_dir.glob("mmlu_*.yaml"):
        text = path.read_text()
        subject = json.loads(text.split('"dataset_name": ')[1].splitlines()[0])
        tag = json.loads(text.split('"tag": ')[1].splitlines()[0])
        theirs[subject] = tag.removeprefix("mmlu_").removesuffix("_tasks")
    assert theirs == MMLU_DOMAINS
    mmlu = load_evalset("mmlu", "bundled")
    assert {it.subject for it in mmlu} == set(MMLU_DOMAINS)
    assert mmlu[0].domain == "stem"


def test_altered_bundle_file_is_named(tmp_path):
    bundle = tmp_path / "evalsets"
    shutil.copytree(BUNDLE_DIR, bundle)
    path = bundle / "gsm8k.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FFDataError, match=r"gsm8k\.parquet: sha256 .* does not match"):
        load_bundled("gsm8k", bundle)
    (bundle / "arc.parquet").unlink()
    with pytest.raises(FFDataError, match=r"arc\.parquet: bundled eval set 'arc' is missing"):
        load_bundled("arc", bundle)
    assert len(load_bundled("truthfulqa", bundle)) == 817  # the untouched files still load


def test_offline_env_picks_the_bundle_and_bad_names_fail(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    evalsets.hub_reachable.cache_clear()
    try:
        assert evalsets.resolve_source("auto") == "bundled"
        assert evalsets.describe_source("mmlu")["source"] == "bundled"
    finally:
        evalsets.hub_reachable.cache_clear()
    with pytest.raises(FFDataError, match="unknown eval set 'mmlu_pro'"):
        load_evalset("mmlu_pro")
    with pytest.raises(FFDataError, match="auto, hub or bundled"):
        evalsets.resolve_source("s3")


def test_hub_converters_on_local_files(tmp_path):
    """The converters the hub loader uses, fed by datasets.load_dataset on local JSONL."""
    datasets = pytest.importorskip("datasets")
    arc = load_evalset("arc", "bundled")[:5]
    rows = [
        {
            "id": it.item_id.split("/")[-1],
            "question": it.question,
            "choices": {"text": list(it.choices), "label": list("ABCDE"[: len(it.choices)])},
            "answerKey": "ABCDE"[it.answer_index],
        }
        for it in arc
    ]
    path = tmp_path / "arc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert items_from_rows("arc", "ARC-Easy", "test", ds) == arc
    # HellaSwag on the hub keeps its label as a string
    hs = load_evalset("hellaswag", "bundled")[:3]
    hub_rows = [
        {
            "ind": int(it.item_id.split("/")[-1]),
            "activity_label": it.subject,
            "ctx": it.question,
            "endings": list(it.choices),
            "label": str(it.answer_index),
        }
        for it in hs
    ]
    assert items_from_rows("hellaswag", None, "validation", hub_rows) == hs


def test_evalsets_table_has_every_item_and_domain():
    table = evalsets.evalsets_table("bundled")
    benches = 106 + 116  # factbench (the card's) and factbench_extended
    assert table.num_rows == 14327 + 3548 + 1319 + 1000 + 817 + benches
    assert "domain" in table.column_names
    domains = Counter(table.column("domain").to_pylist())
    assert domains[None] == 3548 + 1319 + 1000 + 817 + benches


@pytest.mark.skipif(not (SHARED / "mmlu").exists(), reason="needs the raw real-data folder")
def test_rebuild_bundle_is_byte_identical(tmp_path):
    manifest = evalsets.rebuild_bundle(SHARED, tmp_path)
    committed = json.loads((BUNDLE_DIR / "bundle.json").read_text())
    assert manifest == committed
    assert (tmp_path / "PROVENANCE.md").read_text() == (BUNDLE_DIR / "PROVENANCE.md").read_text()


def test_a_hub_load_that_fails_stops_instead_of_falling_back_to_the_bundle():
    """The real hub loader runs (datasets.load_dataset at the pinned revision); offline it fails
    fast. It used to fall back to the bundled copy after the fingerprint had recorded the hub
    revision, so the record named a copy the build never read; now the load stops, naming the
    set and the revision. A fresh process: huggingface_hub reads HF_HUB_OFFLINE on import."""
    pytest.importorskip("datasets")
    code = (
        "from ffdata import evalsets as E\n"
        "print(E.describe_source('truthfulqa', 'hub')['source'])\n"
        "from ffdata.errors import FFDataError\n"
        "try:\n    E.load_evalset('truthfulqa', 'hub')\n"
        "except FFDataError as e:\n    print('error:', e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    described, error = out.stdout.splitlines()[:2]
    assert described == "hub"
    assert error.startswith("error: eval set 'truthfulqa': could not load truthfulqa/")
    assert "FFDATA_EVALSETS_SOURCE=bundled" in error


def test_a_build_resolves_the_eval_set_source_once_and_records_it(tmp_path, monkeypatch):
    """build_set resolves the copy once and hands it to the context; the record says which."""
    from ffdata import build as B

    calls = []
    real = evalsets.resolve_source

    def counting(source="auto"):
        calls.append(source)
        return real(source)

    monkeypatch.setattr(evalsets, "resolve_source", counting)
    monkeypatch.setenv("FFDATA_EVALSETS_SOURCE", "bundled")
    m = write_gsm8k_manifest(tmp_path / "p", rows=60, rows_per_shard=500, decontam=["gsm8k"])
    built, _ = B.build_set("gsm8k_sft", m, root=str(tmp_path / "root"), quiet=True)
    assert built.record["evalset_source"] == "bundled"
    # "auto" (a network probe) resolved once, by build_set; never again by the context or a worker
    assert [c for c in calls if c == "auto"] == ["auto"]
    inputs = built.record["inputs"]["decontamination"]["evalsets"]
    assert {v["source"] for v in inputs.values()} == {"bundled"}


# ---------------------------------------------------------------- the factual benches


def _bench_decontaminator():
    from ffdata.decontam import Decontaminator

    items = load_evalset("factbench") + load_evalset("factbench_extended")
    return Decontaminator(items, {n: evalsets.describe_source(n) for n in evalsets.REPO_SETS})


def test_the_factual_benches_are_targets_with_their_questions():
    card, extended = load_evalset("factbench"), load_evalset("factbench_extended")
    assert (len(card), len(extended)) == (106, 116)
    by_id = {it.item_id: it for it in card + extended}
    # a format prompt's item is its question: the instruction and the lettered options apart
    mcq = by_id["factbench_extended/fmt-01"]
    assert mcq.question == "Which planet is closest to the Sun?"
    assert mcq.choices[mcq.answer_index] == mcq.answer == "Mercury"
    assert by_id["factbench/fmt-23"].question == "What is the capital of Peru?"
    assert by_id["factbench/fmt-06"].question == "Is Sydney the capital of Australia?"
    assert by_id["factbench/geo-01"].question == "What is the capital of France?"
    # a generic stem ("of these") is asked with its options: other items share the stem alone
    fmt04 = "Which of these animals is a mammal? (Shark, Salmon, Crocodile, Dolphin)"
    assert by_id["factbench/fmt-04"].question == fmt04
    described = evalsets.describe_source("factbench", "bundled")
    assert described == evalsets.describe_source("factbench", "hub")  # the repo file either way
    assert described["file"] == "ffllm/eval/factbench.jsonl"


@pytest.mark.parametrize(
    "text, item",
    [
        ("Who wrote the play Hamlet?", "factbench/person-13"),
        ("WHO WROTE THE PLAY HAMLET", "factbench/person-13"),
        ("Question: who wrote the play 'Hamlet' ?\nAnswer: Shakespeare.", "factbench/person-13"),
        ("What is 38+47?", "factbench/arith-01"),  # "38 + 47" in the bench
        ("Who discovered X rays?", "factbench_extended/person-25"),  # "X-rays"
        ('{"question": "what is the chemical symbol for sodium"}', "factbench/sci-10"),
        ("Name a primary color!", "factbench_extended/open-01"),
        ("Answer with one word.\nIs the Sun a planet?", "factbench_extended/fmt-07"),
        # a stem answered by its options counts with them (question+choices, any labels)
        (
            "Which of these animals is a mammal?\n(a) Shark (b) Salmon (c) Crocodile (d) Dolphin",
            "factbench/fmt-04",
        ),
    ],
)
def test_a_bench_question_in_its_own_line_or_sentence_is_matched_exactly(text, item):
    """Too short for 13-grams and, without their answer, for the short-question rule: these
    are found only by the exact rule (whole normalized question in a line or sentence)."""
    match = _bench_decontaminator().check(text)
    assert match is not None and match.item_id == item
    assert match.evalset == item.split("/")[0]


@pytest.mark.parametrize(
    "text",
    [
        "What is 38 + 47 + 5?",  # begins with the bench's "What is 38 + 47?"
        "Who wrote the play Hamlet and when?",
        "Who wrote the play Macbeth?",
        "Which planet is farthest from the Sun?",
        "Name a primary colour of light.",
        "What is the chemical symbol for sodium chloride?",
        "Which of these animals is a mammal?\nA. Bat\nB. Frog\nC. Trout\nD. Snake",
    ],
)
def test_a_near_but_different_question_is_kept(text):
    assert _bench_decontaminator().check(text) is None


def test_a_build_drops_bench_questions_as_contaminated_naming_the_bench(tmp_path, monkeypatch):
    """A real gsm8k_sft build whose source asks bench questions: each variant is dropped with
    the reason contaminated:<bench> and the bench item in its detail; near misses are kept."""
    import pyarrow.parquet as pq

    from ffdata import build as B
    from ffdata.hashing import sha256_file

    monkeypatch.setenv("FFDATA_EVALSETS_SOURCE", "bundled")
    asked = {
        "What is 38 + 47?": "factbench/arith-01",
        "what is 38+47": "factbench/arith-01",
        "WHAT IS THE CAPITAL OF FRANCE?": "factbench/geo-01",
        "Q: What is the capital of France!": "factbench/geo-01",
        "Quick question. Who wrote the play Hamlet? Thanks.": "factbench/person-13",
        "What is 144 divided by 12?": "factbench_extended/arith-03",
    }
    near = ["What is 38 + 47 + 10?", "What is the capital of France's largest region?",
            "Who wrote the play Hamlet's sequel?"]  # fmt: skip
    questions = list(asked) + near
    src = tmp_path / "p" / "data" / "bench_rows.jsonl"
    src.parent.mkdir(parents=True)
    with open(src, "w") as f:
        for q in questions:
            f.write(json.dumps({"question": q, "answer": "It is known.\n#### 1"}) + "\n")
    m = write_gsm8k_manifest(
        tmp_path / "p",
        rows=len(near),
        decontam=["factbench", "factbench_extended"],
        source_path="data/bench_rows.jsonl",
        sha256=sha256_file(src),
    )
    built, _ = B.build_set("gsm8k_sft", m, root=str(tmp_path / "root"), quiet=True)
    dropped = pq.read_table(built.dropped_path()).to_pylist()
    got = {questions[d["source_row"]]: (d["reason"], d["detail"]) for d in dropped}
    assert set(got) == set(asked)
    for q, item in asked.items():
        reason, detail = got[q]
        assert reason == f"contaminated:{item.split('/')[0]}"
        assert detail.startswith(f"{item}: ")
    kept = [q for p in built.shard_paths() for q in pq.read_table(p)["instruction"].to_pylist()]
    assert sorted(kept) == sorted(near)


def test_the_bench_description_and_items_follow_the_bench_file(tmp_path, monkeypatch):
    """The bench's digest is its description (so every fingerprint that decontaminates against
    it changes with it), and its items are read again when the file changes."""
    from ffdata import build as B
    from ffdata.manifest import load_manifest

    bench = tmp_path / "factbench.jsonl"
    shutil.copy(evalsets.REPO_SETS["factbench"], bench)
    monkeypatch.setitem(evalsets.REPO_SETS, "factbench", bench)
    m = load_manifest(write_gsm8k_manifest(tmp_path / "p", rows=10, decontam=["factbench"]))
    before = evalsets.describe_source("factbench")
    inputs_before = B.build_inputs(m, tmp_path / "p", "bundled")
    assert before["sha256"] == evalsets.describe_source("factbench", "hub")["sha256"]
    rows = [json.loads(line) for line in bench.read_text().splitlines()]
    rows[0]["prompt"] = "What is 39 + 47?"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    after = evalsets.describe_source("factbench")
    assert after["sha256"] != before["sha256"]
    inputs_after = B.build_inputs(m, tmp_path / "p", "bundled")
    assert inputs_after["decontamination"] != inputs_before["decontamination"]
    assert load_evalset("factbench")[0].question == "What is 39 + 47?"
    # a bad row is one error naming the file, the row and the field
    rows[3]["truth"] = []
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(FFDataError, match=r"factbench.jsonl: row 4: field 'truth'"):
        load_evalset("factbench")
