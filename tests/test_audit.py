"""DuckDB audits over real built sets (GSM8K train), local and on a real S3 endpoint."""

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ffdata.audit import AUDIT_DIR, GENERIC_AUDITS, connect, run_audit
from ffdata.build import build_set
from ffdata.cli import app
from ffdata.errors import FFDataError
from ffdata.evalsets import load_evalset
from tests.conftest import write_gsm8k_manifest

runner = CliRunner()
FFDATA = str(Path(sys.executable).parent / "ffdata")


def write_second_manifest(project: Path, rows: int) -> Path:
    """Another set (gsm8k_small) from the same builder: its instructions repeat gsm8k_sft's."""
    first = write_gsm8k_manifest(project, rows=rows)
    text = first.read_text().replace("name: gsm8k_sft", "name: gsm8k_small\nbuilder: gsm8k_sft")
    path = project / "manifests" / "gsm8k_small.yaml"
    path.write_text(text.replace("path: sft/gsm8k\n", "path: sft/gsm8k_small\n"))
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    base = tmp_path_factory.mktemp("audit")
    root = str(base / "root")
    m = write_gsm8k_manifest(base / "p", rows=300, decontam=("gsm8k",))
    build_set("gsm8k_sft", m, root, quiet=True)
    build_set("gsm8k_small", write_second_manifest(base / "q", rows=50), root, quiet=True)
    # a prefix without _build.json is not a set (a killed build, a stray upload)
    stray = Path(root) / "sft" / "half_done" / ("ab" * 32)
    stray.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["x"]}), stray / "part-train-00000.parquet")
    return root


def by_title(results, words: str):
    return next(r for r in results if words in r.title)


def test_views_and_catalog(root):
    db = connect(root)
    views = db.views()
    for v in ("gsm8k_sft", "gsm8k_sft__dropped", "gsm8k_small", "sets", "evalsets"):
        assert v in views
    assert not any("half_done" in v for v in views)
    sets = db.query("SELECT name, rows, latest FROM sets ORDER BY name").rows
    assert sets == [("gsm8k_sft", 300, True), ("gsm8k_small", 50, True)]
    assert db.query("SELECT count(*) FROM gsm8k_sft").rows == [(300,)]
    n_eval = db.query("SELECT count(*) FROM evalsets WHERE evalset = 'mmlu' AND split = 'test'")
    assert n_eval.rows == [(14042,)]
    domains = db.query(
        "SELECT domain, count(DISTINCT subject) FROM evalsets WHERE evalset = 'mmlu' "
        "GROUP BY domain ORDER BY domain"
    ).rows
    assert domains == [("humanities", 13), ("other", 13), ("social_sciences", 12), ("stem", 19)]


def test_sql_error_names_duckdb_message_and_views(root):
    db = connect(root, evalsets=False)
    with pytest.raises(FFDataError) as e:
        db.query("SELECT * FROM gsm8k_sfx")
    msg = str(e.value)
    assert "gsm8k_sfx" in msg and "does not exist" in msg
    assert "available views:" in msg and "gsm8k_sft__dropped" in msg


def test_generic_audits(root):
    db = connect(root)
    results = run_audit(db, "gsm8k_sft")
    sources = {r.source for r in results}
    assert {f"{g}.sql" for g in GENERIC_AUDITS} <= sources | {"mcq_balance.sql"}
    assert not any(r.failed for r in results)

    totals = by_title(results, "Totals")
    row = dict(zip(totals.columns, totals.rows[0], strict=True))
    assert row["input"] == 7473 == row["kept"] + row["dropped"] and row["ok"] is True

    comp = by_title(results, "Targets vs actual")
    assert comp.rows[0][:3] == ("rows", 300.0, 300)

    matrix = by_title(results, "The matrix")
    cols = matrix.columns
    sft = next(r for r in matrix.rows if r[0] == "gsm8k_sft")
    assert sft[cols.index("gsm8k")] >= 1  # GSM8K's own train/test near-duplicates
    items = by_title(results, "Which eval items")
    assert all(r[1].startswith("gsm8k/test/") for r in items.rows)

    shared = by_title(results, "shared with other sets")
    # gsm8k_small is the first 50 train rows without decontamination: all but the one that
    # gsm8k_sft dropped as contaminated are shared
    both = db.query("SELECT count(*) FROM gsm8k_small WHERE instruction IN "
                    "(SELECT instruction FROM gsm8k_sft)").rows[0][0]  # fmt: skip
    assert shared.rows[0][:2] == ("gsm8k_small", both) and 45 <= both <= 50
    tokens = by_title(results, "GPT-2 tokens")
    assert tokens.columns[:3] == ["part", "block", "sampled_rows"]
    assert tokens.rows[0][2] == 300 and 50 < tokens.rows[0][3] < 400


def test_broken_reconciliation_fails_the_audit(root, tmp_path):
    copy = tmp_path / "root"
    shutil.copytree(root, copy)
    db = connect(str(copy), evalsets=False)
    dropped = db.sets["gsm8k_sft"].dropped_path()
    table = pq.read_table(dropped)
    pq.write_table(table.slice(0, table.num_rows - 1), dropped)  # one dropped row lost
    results = run_audit(connect(str(copy), evalsets=False), "gsm8k_sft")
    assert by_title(results, "Totals").failed
    out = runner.invoke(app, ["audit", "gsm8k_sft", "--root", str(copy), "--format", "csv"])
    assert out.exit_code == 1


def test_set_specific_audit_runs_after_the_generic_ones(root, tmp_path):
    audit_dir = tmp_path / "audits"
    shutil.copytree(AUDIT_DIR, audit_dir)
    (audit_dir / "gsm8k_sft.sql").write_text(
        "-- Final answers that are whole numbers\n"
        "SELECT count(*) AS rows, count(*) FILTER (WHERE regexp_matches("
        "json_extract_string(meta, '$.final_answer'), '^-?[0-9]+$')) AS integer_answers,\n"
        "  count(*) = (SELECT rows FROM build) AS ok FROM shards;\n"
    )
    results = run_audit(connect(root, evalsets=False), "gsm8k_sft", audit_dir)
    own = results[-1]
    assert own.source == "gsm8k_sft.sql" and own.title == "Final answers that are whole numbers"
    assert own.rows[0][0] == 300 and own.rows[0][2] is True
    assert [r.source for r in results].index("reconciliation.sql") == 0
    with pytest.raises(FFDataError, match="no built set 'repair_blocks'"):
        run_audit(connect(root, evalsets=False), "repair_blocks", audit_dir)


def test_cli_sql_formats(root):
    out = runner.invoke(
        app,
        ["sql", "SELECT name, rows FROM sets ORDER BY name", "--root", root, "--format", "json"],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [
        {"name": "gsm8k_sft", "rows": 300},
        {"name": "gsm8k_small", "rows": 50},
    ]
    out = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM gsm8k_sft__dropped", "--root", root,
                              "--format", "csv"])  # fmt: skip
    assert out.output.splitlines()[0] == "n" and int(out.output.splitlines()[1]) > 7000
    out = subprocess.run([FFDATA, "sql", "SELECT * FROM nope", "--root", root],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2
    assert (
        "Table with name nope does not exist" in out.stderr and "gsm8k_sft__dropped" in out.stderr
    )


def test_cli_decontam_file(tmp_path):
    arc = load_evalset("arc", "bundled")[10]
    rows = [
        {"prompt": "Write a haiku about rain.", "answer": "Soft rain on the roof."},
        {"prompt": f"Quiz time! {arc.question}", "answer": arc.answer},
        {"prompt": "What is 2 + 2?", "answer": "4"},
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = runner.invoke(
        app,
        [
            "decontam",
            str(path),
            "--text-field",
            "prompt",
            "--text-field",
            "answer",
            "--format",
            "json",
        ],
    )
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert lines[0]["row"] == 1 and lines[0]["evalset"] == "arc"
    assert lines[0]["item_id"] == arc.item_id and lines[0]["ngram"]
    assert lines[-1]["summary"]["rows"] == 3 and lines[-1]["summary"]["flagged"] == 1

    pq.write_table(pa.table({"prompt": [r["prompt"] for r in rows]}), tmp_path / "d.parquet")
    out = runner.invoke(app, ["decontam", str(tmp_path / "d.parquet"), "--text-field", "prompt"])
    assert out.exit_code == 0 and "row 1: arc" in out.output and "1 of 3 rows flagged" in out.output

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"text": "no prompt here"}\n')
    out = subprocess.run([FFDATA, "decontam", str(bad), "--text-field", "prompt"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2
    assert "bad.jsonl:2: row 1 field 'prompt' is missing" in out.stderr


def test_s3_root_is_read_through_the_cache(tmp_path, s3_bucket, monkeypatch):
    monkeypatch.setenv("FFDATA_CACHE", str(tmp_path / "cache"))
    root = f"s3://{s3_bucket}/ff"
    build_set("gsm8k_sft", write_gsm8k_manifest(tmp_path / "p", rows=80), root, quiet=True)
    db = connect(root, evalsets=False)
    assert db.query("SELECT count(*) FROM gsm8k_sft").rows == [(80,)]
    results = run_audit(db, "gsm8k_sft")
    assert by_title(results, "Totals").rows[0][-1] is True
    assert db.query("SELECT path FROM sets").rows[0][0].startswith(f"s3://{s3_bucket}/ff/")


def test_mcq_letter_balance_audit():
    import duckdb

    from ffdata.audit import AuditDB

    responses = ["A"] * 40 + ["(B) because"] * 20 + ["C. twelve"] * 20 + ["d"] * 20 + ["none"]
    shards = pa.table(
        {
            "part": ["A"] * len(responses),
            "block": ["A"] * len(responses),
            "format": ["mcq_letter"] * len(responses),
            "response": responses,
        }
    )
    con = duckdb.connect()
    con.register("shards", shards)
    results = AuditDB(con, "memory").run_script((AUDIT_DIR / "mcq_balance.sql").read_text())
    letters = {r[2]: r[3] for r in results[0].rows}
    assert letters == {"A": 40, "B": 20, "C": 20, "D": 20, "?": 1}
    summary = dict(zip(results[1].columns, results[1].rows[0], strict=True))
    assert summary["letters_used"] == 4 and summary["max_share"] == 0.4
    assert summary["ok"] is False and results[1].failed


def test_a_sets_own_audit_can_replace_a_generic_one(tmp_path):
    from ffdata.audit import audit_files

    for g in GENERIC_AUDITS:
        (tmp_path / f"{g}.sql").write_text("SELECT 1;\n")
    (tmp_path / "mine.sql").write_text("-- requires: doc_id\n-- replaces: composition\nSELECT 2;\n")
    names = [p.stem for p in audit_files("mine", tmp_path)]
    assert names == [g for g in GENERIC_AUDITS if g != "composition"] + ["mine"]
    assert [p.stem for p in audit_files("other", tmp_path)] == list(GENERIC_AUDITS)
    (tmp_path / "bad.sql").write_text("-- replaces: compositon\nSELECT 3;\n")
    with pytest.raises(
        FFDataError, match=r"bad\.sql: '-- replaces:' names no generic audit \['compositon'\]"
    ):
        audit_files("bad", tmp_path)


# --- the overlap matrix across sets ---------------------------------------------------------------
def _overlap_probe(monkeypatch):
    """setx: GSM8K rows 0-49 in part train, 50-59 in validation. sety: rows 55-64 with a format
    request after the question (rows 55-59 are setx's validation rows: 5 questions, 5 rows), and
    row 70 asked with setx's row 3 question as an MCQ (a question shared, not a row)."""
    from ffdata.formats import render_mcq
    from ffdata.records import make_record

    def build(ctx):
        rows = dict(ctx.read_source("gsm8k_train"))
        plan = (
            {i: ("train" if i < 50 else "validation", rows[i]["question"]) for i in range(60)}
            if ctx.set_name == "setx"
            else {i: ("train", rows[i]["question"] + " Answer with only the final number.")
                  for i in range(55, 65)}
            | {70: ("train", render_mcq(rows[3]["question"], ["1", "2", "3", "4"]))}
        )  # fmt: skip
        for idx in rows:
            if idx not in plan:
                ctx.drop("gsm8k_train", idx, "over_quota")
                continue
            part, instruction = plan[idx]
            ctx.emit(part, make_record(
                set_name=ctx.set_name, block=part, source="gsm8k_train", source_row=idx,
                seed=ctx.seed, instruction=instruction, response="1", format="free",
            ))  # fmt: skip

    module = types.ModuleType("builders.overlap_probe")
    module.VERSION, module.build = "1", build
    monkeypatch.setitem(sys.modules, "builders.overlap_probe", module)


def test_overlap_matrix_finds_a_planted_overlap(tmp_path, monkeypatch):
    _overlap_probe(monkeypatch)
    root = str(tmp_path / "root")
    for name in ("setx", "sety"):
        path = write_gsm8k_manifest(tmp_path / name, rows=60)
        text = path.read_text().replace("name: gsm8k_sft", f"name: {name}\nbuilder: overlap_probe")
        path.write_text(text.replace("path: sft/gsm8k\n", f"path: probe/{name}\n"))
        build_set(name, path, root, quiet=True)
    build_set("gsm8k_small", write_second_manifest(tmp_path / "q", rows=20), root, quiet=True)

    from ffdata.audit import overlap

    matrix = overlap(connect(root, evalsets=False), ["setx", "sety"])[0]
    cells = {(r[0], r[1], r[2], r[3]): r[4:] for r in matrix.rows}
    assert len(cells) == 9  # setx/train, setx/validation, sety/train: all pairs
    assert cells[("setx", "validation", "sety", "train")] == (5, 5)
    assert cells[("sety", "train", "setx", "validation")] == (5, 5)
    assert cells[("setx", "train", "sety", "train")] == (1, 0)  # the MCQ asks row 3's question
    assert cells[("setx", "train", "setx", "validation")] == (0, 0)
    assert cells[("setx", "train", "setx", "train")] == (50, 50)  # the diagonal: its own

    out = runner.invoke(app, ["audit", "--overlap", "setx", "sety", "--root", root,
                              "--format", "json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)[0]["rows"]
    assert {"set_a": "setx", "part_a": "validation", "set_b": "sety", "part_b": "train",
            "shared_questions": 5, "shared_source_rows": 5} in rows  # fmt: skip
    # no sets named: every built set, gsm8k_small included (its rows are setx's rows 0-19)
    out = runner.invoke(app, ["audit", "--overlap", "--root", root, "--format", "json"])
    rows = json.loads(out.output)[0]["rows"]
    assert {r["set_a"] for r in rows} == {"gsm8k_small", "setx", "sety"}
    assert {"set_a": "gsm8k_small", "part_a": "train", "set_b": "setx", "part_b": "train",
            "shared_questions": 20, "shared_source_rows": 20} in rows  # fmt: skip
    out = runner.invoke(app, ["audit", "--overlap", "setx", "sety", "--root", root])
    assert out.exit_code == 0 and "Shared normalized questions" in out.output
    assert "5 / 5" in out.output and "1 / 0" in out.output  # the grid's cells
    out = runner.invoke(app, ["audit", "--overlap", "setx", "nope", "--root", root])
    assert isinstance(out.exception, FFDataError) and "no built set 'nope'" in str(out.exception)
