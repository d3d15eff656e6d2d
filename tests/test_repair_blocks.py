"""The repair_blocks builder: exact counts, balance, disjoint validation, lineage,
reproducibility, quota errors, and the hub (`hf`) path on local Parquet files."""

import json
import shutil
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
    assert parts == {"A": 10714, "B": 929, "D": 3562, "E": 900, "F": 240, "validation": 801}
    assert sum(r["block"] in "ABD" for r in rows) == 16006
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
        keys.setdefault(m["part"] == "validation", set()).add(m["key"])
    assert not keys[True] & keys[False]


def test_mcq_answer_letter_points_at_the_right_option(full):
    _, rows = full
    for r in rows:
        if r["format"] == "mcq_letter":
            meta = json.loads(r["meta"])
            assert meta["options"]["ABCD".index(r["response"])] == meta["correct"]


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
    base = yaml.safe_load(MANIFEST.read_text())
    base["targets"] = json.loads(json.dumps(SMALL_TARGETS))

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
