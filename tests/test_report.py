"""`ffdata report`: a self-contained HTML page with embedded plots, the same bytes every time,
that tells the truth: each target against the figure it names, validation as its own part, the
answer-blind baselines in their own section, "All checks passed" only when every check ran."""

import base64
import json
import re
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ffdata.audit import connect, run_audit
from ffdata.build import build_set
from ffdata.cli import app
from ffdata.errors import FFDataError
from ffdata.formats import render_mcq
from ffdata.records import make_record
from ffdata.report import check_status, write_report
from tests.conftest import write_gsm8k_manifest

runner = CliRunner()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    base = tmp_path_factory.mktemp("report")
    root = str(base / "root")
    build_set("gsm8k_sft", write_gsm8k_manifest(base / "p", rows=150, decontam=("gsm8k",)), root,
              quiet=True)  # fmt: skip
    return root


def test_report_is_self_contained_and_deterministic(root, tmp_path):
    path = Path(write_report("gsm8k_sft", root, tmp_path / "r.html"))
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "gsm8k_sft" in page and re.search(r"All \d+ checks ran and passed", page)
    assert "1,000 of its 10,042" in page  # the offline HellaSwag subset is said where reported
    for heading in ("Checks", "Composition", "Reconciliation", "Contamination", "Lengths",
                    "Duplicates"):  # fmt: skip
        assert f"<h2>{heading}" in page
    assert "Answer-blind" not in page  # no MCQ or yes/no items: no panel
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 5  # rows by part/block and source, targets, drops, 2 histograms
    for b64 in images:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from elsewhere
    again = Path(write_report("gsm8k_sft", root, tmp_path / "r2.html"))
    assert again.read_bytes() == path.read_bytes()


def test_report_unknown_set(root, tmp_path):
    with pytest.raises(FFDataError, match="no built set 'nope'"):
        write_report("nope", root, tmp_path / "x.html")


def test_report_goes_under_the_root_it_reads(root, tmp_path, monkeypatch):
    """`ffdata report SET --root R` wrote under ./artifacts whatever R was."""
    monkeypatch.chdir(tmp_path)
    out = runner.invoke(app, ["report", "gsm8k_sft", "--root", root])
    assert out.exit_code == 0, out.output
    assert (Path(root) / "reports" / "gsm8k_sft.html").is_file()
    assert str(Path(root) / "reports" / "gsm8k_sft.html") in out.output
    assert not (tmp_path / "artifacts").exists()


# --- a repair-like set: training and validation parts, pools, declared and unmeasured targets -----
def _probe(monkeypatch):
    """100 training and 20 validation MCQs of one pool `p` (category `p` too, so the record's
    by_block_category has "A/p" = 100 training rows: the figure the old audit compared the
    validation target with), and targets shaped like repair_blocks'."""

    def build(ctx):
        for idx, row in ctx.read_source("gsm8k_train"):
            if idx >= 120:
                ctx.drop("gsm8k_train", idx, "over_quota")
                continue
            answer = int(row["answer"].rsplit("####", 1)[-1].strip().replace(",", ""))
            options = [str(answer + k) for k in (0, 3, 7, 12)]
            key = idx % 4
            options[0], options[key] = options[key], options[0]
            part = "A" if idx < 100 else "validation"
            rec = make_record(
                set_name=ctx.set_name, block="A", source="gsm8k_train", source_row=idx,
                seed=ctx.seed, instruction=render_mcq(row["question"], options),
                response="ABCD"[key], format="mcq_letter", category="p",
                meta={"pool": "p", "part": part},
            )  # fmt: skip
            ctx.emit(part, rec)
        ctx.set_targets({
            "blocks": {"A": 100}, "declared": {"blocks": {"A": 100}}, "validation": 20,
            "pools": {"A": {"p": 100, "q": 1}}, "validation_by_pool": {"A/p": 20},
            "anchor_table_share": {"inventors": {"Thomas Edison": 0.0353}},
        })  # fmt: skip

    module = types.ModuleType("builders.report_probe")
    module.VERSION, module.build = "1", build
    monkeypatch.setitem(sys.modules, "builders.report_probe", module)


@pytest.fixture
def probe_root(tmp_path, monkeypatch) -> str:
    _probe(monkeypatch)
    path = write_gsm8k_manifest(tmp_path / "p", rows=120)
    path.write_text(path.read_text().replace('version: "1"', 'version: "1"\nbuilder: report_probe'))
    root = str(tmp_path / "root")
    build_set("gsm8k_sft", path, root, quiet=True)
    return root


def test_each_target_is_compared_with_the_figure_it_names(probe_root):
    results = run_audit(connect(probe_root, evalsets=False), "gsm8k_sft")
    comp = next(r for r in results if r.title.startswith("Targets vs actual"))
    got = {row[0]: row[1:3] for row in comp.rows}
    # validation targets against validation rows (the old audit: 100 training rows)
    assert got["validation_by_pool.A/p"] == (20.0, 20)
    assert got["validation"] == (20.0, 20)
    # training targets against the training parts only (the old by_block.A counted 120)
    assert got["blocks.A"] == (100.0, 100) and got["pools.A.p"] == (100.0, 100)
    # one row for a key and its declared.* copy; nothing compared that has no figure
    # a target of 1 is one row (pool q has none): a count, not a share of 100%
    q = comp.rows[[r[0] for r in comp.rows].index("pools.A.q")]
    assert q[1:3] == (1.0, 0) and q[comp.columns.index("deviation_pct")] == -100.0
    assert "declared.blocks.A" not in got
    assert comp.rows[[r[0] for r in comp.rows].index("blocks.A")][-1] == "declared.blocks.A"
    assert not any(k.startswith("anchor_table_share") for k in got)
    ignored = next(r for r in results if r.title.startswith("Declared numbers"))
    assert ignored.rows == [("anchor_table_share.inventors.Thomas Edison", 0.0353)]
    by_part = next(r for r in results if r.title.startswith("Rows by part and block"))
    assert [r[:3] for r in by_part.rows] == [("A", "A", 100), ("validation", "A", 20)]
    letters = next(r for r in results if r.title.startswith("Letter counts"))
    assert {(r[0], r[1]) for r in letters.rows} == {("A", "A"), ("validation", "A")}


def test_the_page_shows_parts_baselines_and_a_true_status(probe_root, tmp_path):
    page = Path(write_report("gsm8k_sft", probe_root, tmp_path / "r.html")).read_text()
    assert "<h2>Answer-blind baselines" in page
    assert "All checks passed" not in page and "checks ran and passed" not in page
    # the letters rotate evenly, but the key is always the smallest of its four numbers:
    # most_frequent_rank is right on every item, and the status names the failed check
    assert "checks failed: " in page and "Answer-blind baselines: the best one per pool" in page
    assert "<td>validation</td><td>A</td>" in page  # validation is its own part in the tables
    assert page.count("declared.blocks.A") == 1  # only in the same_as column


def test_status_line_counts_only_checks_that_ran():
    from ffdata.audit import Result

    ran = Result("Totals", ["n", "ok"], [(1, True)], "reconciliation.sql")
    skipped = Result("lengths", [], [], "lengths.sql", "skipped: the shards have no text column")
    unjudged = Result("Per pool", ["pool", "ok"], [("a", True), ("b", None)], "x.sql")
    failed = Result("Letters", ["block", "ok"], [("A", False)], "mcq_balance.sql")
    small = Result("Answer-blind (ok: ...)", ["pool", "ok"], [("tiny", None)], "shortcuts")
    assert check_status([ran, small])[:2] == ("ok", "All 2 checks ran and passed.")
    kind, line, _ = check_status([ran, skipped])
    assert kind == "warn" and "1 did not run: lengths.sql" in line
    kind, line, _ = check_status([ran, unjudged])
    assert kind == "warn" and "1 could not be judged" in line and "Per pool" in line
    kind, line, rows = check_status([ran, skipped, failed])
    assert kind == "bad" and line.startswith("1 of 3 checks failed: Letters")
    assert rows[-1] == ("mcq_balance.sql", "Letters", 1, 1, "failed")
    assert json.dumps(rows)  # plain values, for the page's table
