"""The repair_blocks builder: exact counts, balance, disjoint validation, lineage,
reproducibility, quota errors, and the hub (`hf`) path on local Parquet files."""

import json
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.formats import is_short_fact, verify
from ffdata.hashing import sha256_file

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "manifests" / "repair_blocks.yaml"


def _rows(built) -> list[dict]:
    files = sorted(str(p) for p in Path(built.storage.root, built.prefix).glob("part-*.parquet"))
    return duckdb.sql(f"SELECT * FROM read_parquet({files})").arrow().read_all().to_pylist()


@pytest.fixture(scope="module")
def full(repair_blocks):
    """The default manifest, built once per session (conftest; about 12 s on two cores)."""
    return repair_blocks, _rows(repair_blocks)


def test_default_build_has_exact_counts(full):
    built, rows = full
    parts = built.record["counts"]["by_part"]
    assert parts == {
        "A": 10714, "B": 929, "D": 3562, "E": 764, "F": 240, "validation": 801, "validation_e": 104
    }  # fmt: skip
    assert sum(r["block"] in "ABD" for r in rows) == 16006  # validation_e is Block E's
    val = [r for r in rows if json.loads(r["meta"])["part"] == "validation"]
    assert {r["block"] for r in val} == {"A", "B", "D"}
    assert built.record["reconciliation"]["ok"]


def test_every_item_is_well_formed_and_unique(full):
    _, rows = full
    assert len({r["id"] for r in rows}) == len(rows)
    questions = set()
    for r in rows:
        meta = json.loads(r["meta"])
        kwargs = {"allow_steps": True} if r["format"] == "numeric" else {}
        assert verify(r["format"], r["response"], **kwargs), r
        assert "table" in meta or "generator" in meta or "source" in meta  # lineage
        assert r["text"].endswith("### Response:\n" + r["response"])
        q = (r["instruction"].casefold(), meta.get("correct"))
        assert q not in questions, r["instruction"]
        questions.add(q)
        if r["block"] == "B":
            assert len(r["response"]) < 100 and (
                is_short_fact(r["response"]) or r["format"] == "yes_no"
            )


def test_letters_balanced_and_validation_disjoint(full):
    _, rows = full
    for part in ("A", "validation"):
        letters = [
            r["response"]
            for r in rows
            if r["block"] == "A" and json.loads(r["meta"])["part"] == part
        ]
        for letter in "ABCD":
            assert abs(letters.count(letter) / len(letters) - 0.25) <= 0.01
    keys = {}
    for r in rows:
        m = json.loads(r["meta"])
        keys.setdefault(m["part"].startswith("validation"), set()).add(m["key"])
    assert not keys[True] & keys[False]


def test_mcq_answer_letter_points_at_the_right_option(full):
    _, rows = full
    for r in rows:
        if r["format"] == "mcq_letter":
            meta = json.loads(r["meta"])
            assert meta["options"]["ABCD".index(r["response"])] == meta["correct"]


def test_validation_e_holds_out_whole_humanities_works(full):
    """The weak-domain part: MCQ over literature, music and art, every letter a quarter per
    subject, each held-out work asked both ways (who made it, which work is by its maker), and
    no training item of any block from a held-out work's row."""
    _, rows = full
    metas = [(r, json.loads(r["meta"])) for r in rows]
    ve = [(r, m) for r, m in metas if m["part"] == "validation_e"]
    assert Counter(m["subject"] for _, m in ve) == {"literature": 48, "music": 32, "art": 24}
    assert {r["format"] for r, _ in ve} == {"mcq_letter"} and {r["block"] for r, _ in ve} == {"E"}
    for subject in ("literature", "music", "art"):
        letters = Counter(r["response"] for r, m in ve if m["subject"] == subject)
        assert set(letters.values()) == {sum(letters.values()) // 4}, (subject, letters)
    works = defaultdict(set)
    for _, m in ve:
        works[m["template"]].add((m["table"], m["row"]))
    assert works["creator"] == works["work_by"] and len(works["creator"]) == 52
    trained = {(m["table"], m["row"]) for _, m in metas
               if not m["part"].startswith("validation") and "table" in m}  # fmt: skip
    assert not works["creator"] & trained


# --- Block A across subjects, Block B misconceptions, a validation split that is held out ---------

ARITHMETIC_POOLS = {"gsm8k_mcq", "numeric_mcq"}


def _stem(r) -> str:
    """The question as asked: an MCQ prompt without its options, else the instruction."""
    if r["format"] == "mcq_letter":
        return r["instruction"].split("\nA. ")[0]
    return r["instruction"]


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.casefold()).strip()


def _parts(rows):
    """(held-out rows, training rows): both held-out parts, validation and validation_e."""
    val = [r for r in rows if json.loads(r["meta"])["part"].startswith("validation")]
    train = [r for r in rows if not json.loads(r["meta"])["part"].startswith("validation")]
    return val, train


def test_block_a_covers_twelve_subjects_and_at_most_40_percent_arithmetic(full):
    _, rows = full
    a = [r for r in rows if json.loads(r["meta"])["part"] == "A"]
    metas = [json.loads(r["meta"]) for r in a]
    arithmetic = sum(m["pool"] in ARITHMETIC_POOLS for m in metas)
    assert arithmetic / len(a) <= 0.40, arithmetic / len(a)
    subjects = Counter(m.get("subject") for m in metas)
    assert all(subjects)
    assert len([s for s, n in subjects.items() if n >= 20]) >= 12, subjects
    # the label follows the pool: every arithmetic item, and only those, is labelled arithmetic
    assert subjects["arithmetic"] == arithmetic


def test_block_b_is_a_quarter_misconceptions_with_short_sourced_answers(full):
    from ffdata.evalsets import load_evalset
    from ffdata.tables import load_table

    _, rows = full
    b = [r for r in rows if json.loads(r["meta"])["part"] == "B"]
    mis = [r for r in b if json.loads(r["meta"])["pool"] == "misconceptions"]
    assert len(mis) / len(b) >= 0.25
    table = load_table("misconceptions")
    for r in mis:
        row = table.rows[json.loads(r["meta"])["row"]]
        assert r["instruction"] == row["question"] and r["response"] == row["answer"]
        assert len(r["response"]) < 100 and row["source"].startswith("https://en.wikipedia.org/")
    truthful = {_norm(i.question) for i in load_evalset("truthfulqa")}
    assert not {_norm(r["instruction"]) for r in mis} & truthful

    def grams(text, n=5):
        words = _norm(text).split()
        return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}

    # nor a five-word run: "Is the North Star the brightest star in the night sky?" shared
    # "the brightest star in the" with TruthfulQA's question on the same misconception
    eval_grams = set().union(*(grams(q) for q in truthful))
    assert not [r["instruction"] for r in mis if grams(r["instruction"]) & eval_grams]


def test_validation_asks_no_question_that_training_asks(full):
    """(a) no normalized question in validation and in any training block (any format)."""
    _, rows = full
    val, train = _parts(rows)
    asked = {_norm(_stem(r)) for r in train}
    shared = [_stem(r) for r in val if _norm(_stem(r)) in asked]
    assert not shared, shared[:5]
    # the label the audit reads agrees with the text
    assert all(json.loads(r["meta"])["question_norm"] == _norm(_stem(r)) for r in rows)


def test_validation_asks_no_fact_that_a_training_item_states(full):
    """(b) a validation item from a table row: no training item from the same row states its
    answer (all the answer's content words in the training question + answer), and the fact ids
    the builder reserves are disjoint."""
    _, rows = full
    val, train = _parts(rows)
    stop = {"the", "a", "an", "of", "in", "is", "was", "by", "and", "to", "yes", "no", "it"}

    def toks(t):
        return set(_norm(t).split())

    def answer(r):
        return json.loads(r["meta"]).get("correct", r["response"])

    by_row = defaultdict(list)
    for r in train:
        m = json.loads(r["meta"])
        if "table" in m:
            by_row[(m["table"], m["row"])].append(_stem(r) + " " + answer(r))
    leaks, table_items = [], 0
    for v in val:
        m = json.loads(v["meta"])
        if "table" not in m:
            continue
        table_items += 1
        obj = toks(answer(v)) - toks(_stem(v)) - stop
        leaks += [(_stem(v), t) for t in by_row[(m["table"], m["row"])] if obj and obj <= toks(t)]
    assert not leaks, leaks[:5]
    assert table_items >= 100  # validation does ask table facts
    held = {f for v in val for f in json.loads(v["meta"])["facts"]}
    trained = {f for r in train for f in json.loads(r["meta"])["facts"]}
    assert not held & trained


def _earlier_sets_read(names):
    """Questions and tables the named recipes read, straight from their manifests (no build)."""
    questions, tables = set(), set()
    for name in names:
        m = yaml.safe_load((REPO / "manifests" / f"{name}.yaml").read_text())
        for s in m["sources"]:
            if s.get("loader") == "table":
                tables.add(Path(s["path"]).stem)
            elif s.get("loader") == "jsonl":
                for line in (REPO / s["path"]).read_text(encoding="utf-8").splitlines():
                    q = json.loads(line).get("question")
                    if isinstance(q, dict):
                        q = q.get("stem")
                    if isinstance(q, str):
                        questions.add(_norm(q))
    return questions, tables


def test_validation_holds_out_nothing_surgical_or_sft_shards_v2_read(full):
    """(c) surgical and sft_shards_v2 train on GSM8K/ARC rows and the countries/elements tables
    before this set: validation has none of their questions and nothing from their tables."""
    built, rows = full
    questions, tables = _earlier_sets_read(["surgical", "sft_shards_v2"])
    assert len(questions) > 10000 and {"countries", "elements"} <= tables
    val, _ = _parts(rows)
    assert not [_stem(r) for r in val if _norm(_stem(r)) in questions][:5]
    assert not [r["source"] for r in val if r["source"] in tables]
    assert not [r for r in val if r["source"] in ("gsm8k_train", "arc_easy_train")]
    assert not [r for r in val if r["source"] == "arc_challenge_train"]
    excludes = built.record["manifest"]["options"]["validation_excludes"]
    assert {"surgical", "sft_shards_v2"} <= set(excludes)


def test_arc_validation_comes_from_arcs_own_validation_split_and_never_trains(full):
    """The train splits are read whole by sets trained earlier, so ARC validation items come
    from ARC's validation split (options.validation_sources), and only from it; training never
    takes a row of it."""
    built, rows = full
    val, train = _parts(rows)
    by_source = Counter(r["source"] for r in val)
    assert by_source["arc_easy_validation"] >= 100 and by_source["arc_challenge_validation"] >= 50
    assert not [r for r in train if r["source"].endswith("_validation")]
    val_q = {_norm(_stem(r)) for r in val}
    assert not [r for r in train if _norm(_stem(r)) in val_q]
    rec = built.record["reconciliation"]["by_source"]["arc_easy_validation"]
    assert rec["read"] == 570 and rec["kept"] == by_source["arc_easy_validation"]
    assert rec["kept"] + rec["dropped"] == rec["read"]  # the rest dropped with a reason


def test_a_validation_source_must_not_be_the_pools_training_source(project):
    tmp, write = project
    path = write(options={"validation_sources": {"arc_easy": "arc_easy_train"}})
    with pytest.raises(FFDataError, match=r"validation_sources.arc_easy: 'arc_easy_train' is"):
        build_set("repair_blocks", path, root=str(tmp / "r"), quiet=True)


def test_generated_duplicates_are_dropped_with_a_reason(full):
    built, _ = full
    rec = built.record["reconciliation"]
    numeric = rec["by_source"]["numeric"]
    assert numeric["generated"] == numeric["kept"] + numeric["dropped"] > numeric["kept"]
    assert built.record["dropped"]["by_reason"].get("duplicate_question", 0) > 0


# --- a small project copy for the tests that build several times --------------------------------

SMALL_TARGETS = {
    "blocks": {"A": 120, "B": 40, "D": 40, "E": 10, "F": 5},
    "validation": 20,
    "A": {"arc_easy": 40, "gsm8k_mcq": 40, "numeric_mcq": 20, "capital_of": 20},
    "B": {"country_of_capital": 20, "inventor_yes_no": 20},
    "D": {"numeric_change": 20, "numeric_fraction": 20},
    "E": {"literature_creator": 10},
    "F": {"philosophy_yes_no": 5},
}


@pytest.fixture()
def project(tmp_path):
    """A copy of the inputs the manifest needs, and a writer for variants of it."""
    for sub in ("data/sources/arc", "data/sources/gsm8k", "manifests/tables"):
        shutil.copytree(REPO / sub, tmp_path / sub)
    shutil.copy(REPO / "manifests" / "errata.csv", tmp_path / "manifests" / "errata.csv")
    base = yaml.safe_load(MANIFEST.read_text())
    base["targets"] = json.loads(json.dumps(SMALL_TARGETS))
    # the other sets' manifests are not in this copy (the test of the key copies one)
    base["options"].pop("validation_excludes")

    def write(**changes):
        m = json.loads(json.dumps(base))
        m.update(changes)
        path = tmp_path / "manifests" / "repair_blocks.yaml"
        path.write_text(yaml.safe_dump(m))
        return path

    return tmp_path, write


def _shards(built):
    return {s["path"]: s["sha256"] for s in built.record["shards"]}


def test_same_manifest_same_bytes_and_new_seed_new_items(project):
    tmp, write = project
    path = write()
    a, _ = build_set("repair_blocks", path, root=str(tmp / "r1"), quiet=True)
    b, _ = build_set("repair_blocks", path, root=str(tmp / "r2"), quiet=True)
    assert _shards(a) == _shards(b)
    c, _ = build_set("repair_blocks", write(seed=99), root=str(tmp / "r3"), quiet=True)
    assert c.record["fingerprint"] != a.record["fingerprint"]
    assert c.record["counts"]["by_part"] == a.record["counts"]["by_part"]
    ra, rc = _rows(a), _rows(c)
    assert {r["instruction"] for r in ra} != {r["instruction"] for r in rc}


def test_pool_that_cannot_fill_its_quota_says_which_and_by_how_much(project):
    tmp, write = project
    targets = json.loads(json.dumps(SMALL_TARGETS))
    targets["A"]["capital_of"] = 500
    targets["blocks"]["A"] += 480
    with pytest.raises(FFDataError, match=r"pool 'capital_of' \(block A\) cannot fill .* short\)"):
        build_set("repair_blocks", write(targets=targets), root=str(tmp / "r"), quiet=True)


def test_quota_sum_must_match_block_target(project):
    tmp, write = project
    targets = json.loads(json.dumps(SMALL_TARGETS))
    targets["blocks"]["B"] = 41
    with pytest.raises(FFDataError, match=r"targets.B: pool counts sum to 40, but .* is 41"):
        build_set("repair_blocks", write(targets=targets), root=str(tmp / "r"), quiet=True)


def test_table_row_without_source_fails_the_build(project):
    tmp, write = project
    table = tmp / "manifests" / "tables" / "countries.csv"
    lines = table.read_text(encoding="utf-8").splitlines()
    cells = lines[5].split(",")
    cells[-2] = ""
    lines[5] = ",".join(cells)
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    m = yaml.safe_load(write().read_text())
    for s in m["sources"]:
        if s["name"] == "countries":
            s["sha256"] = sha256_file(table)
    path = write(sources=m["sources"])
    with pytest.raises(FFDataError, match=r"countries\.csv:6: field 'source': row has no source"):
        build_set("repair_blocks", path, root=str(tmp / "r"), quiet=True)


def _hf_fixtures(tmp: Path) -> dict:
    """Local Parquet files in the hub schemas of cais/mmlu, allenai/ai2_arc, allenai/openbookqa."""
    out = tmp / "hub"
    out.mkdir()
    subjects = ["astronomy", "law", "nutrition"]
    mmlu = [
        {
            "train": {
                "question": f"Auxiliary question number {i} about {subjects[i % 3]}?",
                "choices": [f"opt{i}a", f"opt{i}b", f"opt{i}c", f"opt{i}d"],
                "answer": i % 4,
                "subject": subjects[i % 3],
            }
        }
        for i in range(60)
    ]
    arc = [
        {
            "id": f"a{i}",
            "question": f"Which rock layer {i} is oldest in a column?",
            "choices": {"text": [f"l{i}w", f"l{i}x", f"l{i}y", f"l{i}z"], "label": list("ABCD")},
            "answerKey": "ABCD"[i % 4],
        }
        for i in range(40)
    ]
    obqa = [
        {
            "id": f"o{i}",
            "question_stem": f"A magnet numbered {i} attracts",
            "choices": {"text": [f"m{i}p", f"m{i}q", f"m{i}r", f"m{i}s"], "label": list("ABCD")},
            "answerKey": "B",
        }
        for i in range(40)
    ]
    files = {}
    for name, rows in (("mmlu", mmlu), ("arc", arc), ("obqa", obqa)):
        pq.write_table(pa.Table.from_pylist(rows), out / f"{name}.parquet")
        files[name] = str(out / f"{name}.parquet")
    return files


def test_hf_source_path_on_local_parquet(project):
    tmp, write = project
    files = _hf_fixtures(tmp)
    m = yaml.safe_load(write().read_text())
    cache = str(tmp / "hf_cache")
    where = {
        "mmlu_aux_train_hf": "mmlu",
        "arc_easy_train_hf": "arc",
        "arc_challenge_train_hf": "arc",
        "openbookqa_train_hf": "obqa",
    }
    for s in m["sources"]:
        if s["name"] in where:  # same schema, read through datasets.load_dataset("parquet")
            s["uri"], s["subset"], s["split"] = "parquet", None, "train"
            s["options"] = {
                "load_kwargs": {
                    "data_files": {"train": files[where[s["name"]]]},
                    "cache_dir": cache,
                }
            }
    targets = json.loads(json.dumps(SMALL_TARGETS))
    targets["A_hf"] = {"mmlu_aux_hf": 50, "arc_easy_hf": 25, "openbookqa_hf": 25, "capital_of": 20}
    path = write(sources=m["sources"], targets=targets, options={"block_a_source": "hf"})
    built, _ = build_set("repair_blocks", path, root=str(tmp / "r"), quiet=True)
    rows = _rows(built)
    cats = {r["category"] for r in rows if r["block"] == "A"}
    assert {"astronomy", "law", "nutrition", "arc_easy", "openbookqa", "geography"} <= cats
    assert built.record["counts"]["by_part"]["A"] == 120
    assert built.record["targets"]["block_a_source"] == "hf"
    dropped = built.record["dropped"]["by_reason"]
    assert dropped.get("over_quota", 0) > 0  # unused hub rows are accounted for


def test_validation_excludes_names_sets_whose_rows_are_never_held_out(project):
    tmp, write = project
    shutil.copy(REPO / "manifests" / "surgical.yaml", tmp / "manifests" / "surgical.yaml")

    def validation_sources(**options):
        path = write(options={"block_a_source": "local", **options})
        built, _ = build_set("repair_blocks", path, root=str(tmp / f"r{len(options)}"), quiet=True)
        val, _ = _parts(_rows(built))
        return Counter(r["source"] for r in val)

    free = validation_sources()
    assert free["arc_easy_train"] and free["gsm8k_train"] and free["countries"]
    held = validation_sources(validation_excludes=["surgical"])
    assert sum(held.values()) == sum(free.values())  # the same 20, from other pools
    assert not {"arc_easy_train", "gsm8k_train", "countries"} & set(held)
    path = write(options={"validation_excludes": ["no_such_set"]})
    with pytest.raises(
        FFDataError, match=r"options.validation_excludes: no manifest .*no_such_set"
    ):
        build_set("repair_blocks", path, root=str(tmp / "bad"), quiet=True)


def test_letters_exactly_balanced_in_every_pool(full):
    """Each pool's answer letters differ by at most one item between A-D (a per-block sequence
    left 30%+ of one letter in small pools: a most-frequent-letter shortcut)."""
    _, rows = full
    by_pool = defaultdict(Counter)
    for r in rows:
        if r["format"] == "mcq_letter":
            m = json.loads(r["meta"])
            by_pool[(m["part"], m["pool"])][r["response"]] += 1
    for key, counts in by_pool.items():
        n = [counts[x] for x in "ABCD"]
        assert max(n) - min(n) <= 1, (key, counts)


def test_block_a_subject_rules_stop_the_build(project):
    tmp, write = project
    targets = json.loads(json.dumps(SMALL_TARGETS))  # A: 60 of 120 arithmetic, 3 subjects
    for rule, value, message in (
        ("max_arithmetic_share_A", 0.4, r"Block A is 50.0% arithmetic \(60 of 120\), above 40%"),
        ("min_subjects_A", 12, r"Block A covers 3 subject areas .* fewer than 12"),
    ):
        path = write(targets={**targets, rule: value})
        with pytest.raises(FFDataError, match=message):
            build_set("repair_blocks", path, root=str(tmp / rule), quiet=True)
