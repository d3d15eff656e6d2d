"""Stage 5 (the card's rejected LoRA experiments): lora_v4b (6,000 synthetic instructions) and
format_only v1/v3 (1,779 / 2,092 format-discipline items), built by their real builders from
the shipped manifests, and the run manifests that train on them."""

import json
import re
import shutil
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from builders import lora_v4b
from builders._stage5 import Draft
from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.formats import is_short_fact
from ffdata.generators import names, numeric
from ffdata.hashing import sha256_file
from ffdata.lints import stem
from ffdata.shortcuts import items_from_table, key_balance, panel
from ffdata.strict_formats import (
    check,
    is_answer_line,
    is_bullet_list,
    is_comma_list,
    is_json_object,
    is_letter,
    is_number_only,
    is_numbered_list,
    is_one_word,
    is_yes_no_strict,
)
from ffdata.tables import load_all
from ffllm.train.config import load_run
from ffllm.train.data import load_sft

REPO = Path(__file__).resolve().parent.parent
SETS = {"lora_v4b": 6000, "format_only_v1": 1779, "format_only_v3": 2092}
RUNS = {"ff_stage5_lora_v4b": "lora_v4b", "ff_stage5_format_v1": "format_only_v1",
        "ff_stage5_format_v3": "format_only_v3"}  # fmt: skip


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Each set built twice, into two roots, the second with --force: (first, second)."""
    out = {}
    for name in SETS:
        a, _ = build_set(name, root=str(tmp_path_factory.mktemp(f"{name}_a")), quiet=True)
        b, _ = build_set(name, root=str(tmp_path_factory.mktemp(f"{name}_b")), force=True,
                         quiet=True)  # fmt: skip
        out[name] = (a, b)
    return out


def _rows(built) -> list[dict]:
    return built.read_table().to_pylist()


# --- the verifiers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ok,good,near_misses",
    [
        (is_answer_line, ["Answer: Paris", "Answer: Salt Lake City", "Answer: 1876"],
         ["answer: Paris", "Answer:Paris", "Answer: Paris.", "Answer:  Paris", "ANSWER: Paris",
          "The answer: Paris", " Answer: Paris", "Answer: Paris\n", "Answer: ", "Paris",
          "Answer: Paris\nBecause it is."]),
        (is_letter, ["A", "D"], ["a", "A.", "(A)", "E", "A B", "Answer: A", " A"]),
        (is_yes_no_strict, ["Yes", "No"], ["yes", "Yes.", "No!", "Yes, it is.", " No", "Nope",
                                           "No. It is not."]),
        (is_one_word, ["mammal", "Nairobi", "Fe", "guaraní", "Jean-Paul"],
         ["Paris.", "New Delhi", "mammal\n", " mammal", "3", "**Paris**", "Paris!", "-Paris"]),
        (is_number_only, ["26", "1876", "2.5"], ["26.", "twenty-six", "26 protons", "$26", "2 6"]),
        (lambda t: is_json_object(t, ["symbol", "atomic_number"]),
         ['{"symbol": "Fe", "atomic_number": 26}'],
         ["{'symbol': 'Fe', 'atomic_number': 26}", '{"symbol": "Fe", "atomic_number": 26,}',
          '{"atomic_number": 26, "symbol": "Fe"}', '{"symbol": "Fe"}',
          '{"symbol": "Fe", "atomic_number": 26, "period": 4}',
          '{"symbol":"Fe","atomic_number":26}', '{\n  "symbol": "Fe",\n  "atomic_number": 26\n}',
          '```json\n{"symbol": "Fe", "atomic_number": 26}\n```',
          'Here it is: {"symbol": "Fe", "atomic_number": 26}',
          '{"symbol": "Fe", "atomic_number": "26 "}', '{"symbol": "", "atomic_number": 26}',
          '{"symbol": "Fe", "atomic_number": true}', '["Fe", 26]']),
        (lambda t: is_numbered_list(t, 3), ["1. a\n2. b\n3. c"],
         ["1. a\n2. b", "1. a\n2. b\n3. c\n4. d", "1) a\n2) b\n3) c", "- a\n- b\n- c",
          "0. a\n1. b\n2. c", "1. a\n3. b\n4. c", "1. a\n\n2. b\n3. c", "1.a\n2.b\n3.c",
          "1. a\n2. b\n3. c\n", "Here:\n1. a\n2. b\n3. c"]),
        (lambda t: is_bullet_list(t, 2), ["- a\n- b"],
         ["- a", "* a\n* b", "1. a\n2. b", "-a\n-b", "- a\n- b\n", "- a\n\n- b"]),
        (lambda t: is_comma_list(t, 3), ["Paris, Rome, Lima", "Salt Lake City, Boise, Helena"],
         ["Paris, Rome", "Paris, Rome, and Lima", "Paris, Rome, Lima.", "Paris,Rome,Lima",
          "Paris, Rome and Lima", "Paris; Rome; Lima", "Paris, Rome,  Lima", "Paris, Rome, Lima,",
          "Paris, Rome,\nLima"]),
    ],
)  # fmt: skip
def test_strict_verifiers_accept_the_shape_and_refuse_near_misses(ok, good, near_misses):
    assert [t for t in good if not ok(t)] == []
    assert [t for t in near_misses if ok(t)] == []


# --- counts, accounting, determinism -----------------------------------------------------------
@pytest.mark.parametrize("name", list(SETS))
def test_exact_counts_reconciled_and_byte_identical(builds, name):
    a, b = builds[name]
    rec = a.record
    assert rec["rows"] == SETS[name]
    targets = rec["manifest"]["targets"]
    if name == "lora_v4b":
        assert rec["counts"]["by_block"] == targets["tasks"]
    else:
        quotas = rec["targets"]["quotas"]
        assert (
            sum(quotas.values()) == SETS[name] and max(quotas.values()) - min(quotas.values()) <= 1
        )
        assert rec["counts"]["by_block"] == quotas
    rec_ = rec["reconciliation"]
    assert rec_["ok"] and rec_["input"] == rec_["kept"] + rec_["dropped"] + rec_["expanded"]
    for source, e in rec_["by_source"].items():
        assert e["read"] + e["generated"] == e["kept"] + e["dropped"] + e["expanded"], source
    # every table row the build read was spent on items or dropped as unused (never silently)
    reasons = {r for r in rec["dropped"]["by_reason"] if not r.startswith("contaminated:")}
    assert reasons <= {"unused", "reference_table", "verifier_failed", "duplicate_prompt"}
    # two builds into two roots (the second forced): same fingerprint, byte-identical files
    assert a.fingerprint == b.fingerprint

    def files(built):
        shards = built.shard_paths()
        return [*shards, shards[0].parent / "_dropped.parquet"]

    assert [p.name for p in files(a)] == [p.name for p in files(b)]
    assert [sha256_file(p) for p in files(a)] == [sha256_file(p) for p in files(b)]
    rows = _rows(a)
    assert len({r["instruction"] for r in rows}) == len(rows)  # no prompt asked twice
    assert len({r["id"] for r in rows}) == len(rows)
    # the trainer reads them (prompt and response tokenized apart, template checked), none cut
    examples = load_sft(a.shard_paths(), seq_len=512)
    assert len(examples) == len(rows) and examples.n_cut == 0


# --- format_only --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["format_only_v1", "format_only_v3"])
def test_format_only_responses_pass_their_strict_verifier_and_keys_are_balanced(builds, name):
    rows = _rows(builds[name][0])
    for r in rows:
        meta = json.loads(r["meta"])
        assert meta["strict_format"] == r["block"]
        assert check(r["block"], r["response"], meta), r
    yes_no = [r["response"] for r in rows if r["block"] == "yes_no"]
    assert abs(yes_no.count("Yes") - yes_no.count("No")) <= 0.02 * len(yes_no)
    letters = Counter(r["response"] for r in rows if r["block"] == "letter")
    n = sum(letters.values())
    assert set(letters) == set("ABCD") and max(letters.values()) - min(letters.values()) <= 1
    ranks = Counter(json.loads(r["meta"])["length_rank"] for r in rows if r["block"] == "letter")
    assert max(ranks.values()) - min(ranks.values()) <= 1 and sum(ranks.values()) == n
    # the answer-blind panel (the manifest's gate) finds no rule beating chance by 5 points
    items, unread = items_from_table(builds[name][0].read_table(), "train")
    assert unread == 0 and len(items) == n + len(yes_no)
    judged = [row for row in panel(items, (), 0.05, 50) if row.ok is not None]
    assert judged and all(row.ok for row in judged), [r.values() for r in judged if not r.ok]
    assert all(row[-1] is not False for row in key_balance(items))
    # content is the table's: a yes/no statement is Yes exactly when it is true
    for r in rows:
        if r["block"] == "yes_no":
            assert (r["response"] == "Yes") == json.loads(r["meta"])["truth"]


def test_format_only_v3_differs_from_v1_as_stated(builds):
    v1, v3 = _rows(builds["format_only_v1"][0]), _rows(builds["format_only_v3"][0])
    f1, f3 = {r["block"] for r in v1}, {r["block"] for r in v3}
    assert f3 - f1 == {"number_only", "comma_list", "bullet_list"} and f1 < f3
    # v1: one fixed request sentence per format, always the last line (MCQ: render_mcq's own);
    # v3: four per format, before or after the question
    asks1 = {b: {r["instruction"].split("\n")[-1] for r in v1 if r["block"] == b} for b in f1}
    assert all(len(a) == 1 for b, a in asks1.items() if b not in ("json", "numbered_list"))
    before = sum(r["instruction"].split("\n")[0] in _requests() for r in v3)
    assert 0.3 * len(v3) < before < 0.8 * len(v3)


def _requests() -> set[str]:
    from builders.format_only import ASK_VARIED

    out = set()
    for asks in ASK_VARIED.values():
        for a in asks:
            if "{" not in a:
                out.add(a)
            else:  # the filled forms that occur: n 2-5, the keys of the json items
                out |= {a.format(n=n, keys=k) for n in range(2, 6) for k in _json_keys()}
    return out


def _json_keys():
    from builders.format_only import _keys_text

    return [_keys_text(k) for k in (["capital", "continent"], ["symbol", "atomic_number"],
                                    ["symbol", "atomic_number", "period"], ["author", "year"])]  # fmt: skip


# --- lora_v4b -----------------------------------------------------------------------------------
def test_lora_v4b_answers_are_derived_from_the_data_and_checked(builds):
    rows = _rows(builds["lora_v4b"][0])
    tables = load_all()
    group_of = {
        "countries": {
            names.country(r["country"]): r["continent"] for r in tables["countries"].rows
        },
        "animals": {r["entity"]: r["value"] for r in tables["biology"].rows},
        "instruments": {r["entity"]: r["value"] for r in tables["instruments"].rows},
        "elements": {r["name"]: r["category"] for r in tables["elements"].rows},
    }
    number = {r["name"].lower(): r["number"] for r in tables["elements"].rows}
    kinds = Counter()
    for r in rows:
        meta = json.loads(r["meta"])
        kind = meta["kind"]
        kinds[r["block"], kind] += 1
        d = Draft(r["block"], r["instruction"], r["response"], r["format"], r["category"], meta)
        assert lora_v4b.verify(d), r  # the builder's checks hold on the stored rows
        if r["block"] == "arithmetic":  # re-derive: the last step's arithmetic is the answer
            *steps, last = r["response"].split("\n")
            m = re.search(r"((?:[\d./]+ [+−×÷] )+[\d./]+) = ([\d./]+)\.$", steps[-1])
            assert numeric.evaluate(m[1]) == Fraction(m[2]), r
            assert last == f"The answer is {m[2]}."
        elif kind.startswith("filter_") and kind[7:] in group_of:  # the group, from the table
            picked = set(r["response"].split(", "))
            assert picked == {x for x in meta["listed"] if x in picked}
            groups = {group_of[kind[7:]][x] for x in picked}
            assert len(groups) == 1, r  # the picks share one group, and no other listed item has it
            assert not any(group_of[kind[7:]][x] in groups for x in set(meta["listed"]) - picked)
        elif kind == "sort_number":
            els = [
                re.sub(r" \(\d+\)$", "", ln.split(". ", 1)[1]) for ln in r["response"].split("\n")
            ]
            assert [number[e] for e in els] == sorted(number[e] for e in els)
        elif r["block"] == "qa":
            assert is_short_fact(r["response"])
    tasks = {t for t, _ in kinds}
    assert tasks == set(lora_v4b.TASKS)
    for task in tasks:  # each task mixes several kinds; none is more than half of its task
        of_task = {k: n for (t, k), n in kinds.items() if t == task}
        assert len(of_task) >= 3 and max(of_task.values()) <= 0.5 * sum(of_task.values()), task


def test_lora_v4b_has_no_dominant_prompt_stem(builds):
    rows = _rows(builds["lora_v4b"][0])
    tables = load_all()
    stems = Counter(stem(r["instruction"], tables) for r in rows)
    assert stems.most_common(1)[0][1] <= 0.05 * len(rows), stems.most_common(3)
    for task in lora_v4b.TASKS:
        of_task = Counter(stem(r["instruction"], tables) for r in rows if r["block"] == task)
        assert of_task.most_common(1)[0][1] <= 0.10 * sum(of_task.values()), (
            task,
            of_task.most_common(2),
        )


def _copy_manifest(tmp_path, name: str, **targets) -> Path:
    """The shipped manifest with other targets, in a project folder of its own (with copies of
    the tables it reads)."""
    data = yaml.safe_load((REPO / "manifests" / f"{name}.yaml").read_text())
    for s in data["sources"]:
        (tmp_path / s["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / s["path"], tmp_path / s["path"])
    data["targets"] = {**data["targets"], **targets}
    path = tmp_path / "manifests" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_quota_the_sources_cannot_fill_is_an_error_naming_the_shortfall(tmp_path):
    path = _copy_manifest(tmp_path, "lora_v4b", total=6000, tasks={"explain": 6000})
    with pytest.raises(
        FFDataError, match=r"task 'explain' kept \d+ items for a quota of 6000 \(\d+ short\)"
    ):
        build_set("lora_v4b", path, root=str(tmp_path / "root"), quiet=True)
    path = _copy_manifest(tmp_path, "lora_v4b", total=6000, tasks={"qa": 5000})
    with pytest.raises(FFDataError, match="the tasks sum to 5000, not total 6000"):
        build_set("lora_v4b", path, root=str(tmp_path / "root"), quiet=True)
    path = _copy_manifest(tmp_path, "format_only_v1", total=1779, formats=["json"])
    with pytest.raises(FFDataError, match=r"task 'json' kept \d+ items for a quota of 1779"):
        build_set("format_only_v1", path, root=str(tmp_path / "root"), quiet=True)


# --- run manifests ------------------------------------------------------------------------------
@pytest.mark.parametrize("run_name", list(RUNS))
def test_stage5_run_manifests_validate(builds, run_name):
    run = load_run(REPO / "manifests" / "train" / f"{run_name}.yaml")
    assert run.name == run_name and run.stage == "sft"
    assert run.lora is not None and run.lora.r > 0 and run.lora.target_modules
    assert run.optim.lr >= 5e-4  # the card: LR >= 5e-4
    assert run.model.init == "artifacts/champions/latest"  # the stage-4 model, as ff_stage5_lora
    assert run.data.set == RUNS[run_name]
    built = builds[run.data.set][0]
    assert built.record["rows"] == SETS[run.data.set]
    assert run.batch.accumulation(8) >= 1
