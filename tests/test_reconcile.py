"""Reconciliation is computed from what was read, never assumed.

`BuildContext.reconcile` used to set `input = kept + dropped` and `ok: True`, and checked only
that no row was left over, so a row emitted twice or both kept and dropped passed, and the
audit's `input = kept + dropped` could never fail. These builders break the accounting on
purpose; each build must fail naming the source and the difference. They run through the real
build path (build_set), with the builder module registered under builders/.
"""

import json
import sys
import types

import pytest

from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.records import make_record
from tests.conftest import write_gsm8k_manifest


def _record(ctx, idx, row):
    return make_record(
        set_name=ctx.set_name, block="train", source="gsm8k_train", source_row=idx,
        seed=ctx.seed, instruction=row["question"], response=row["answer"], format="free",
    )  # fmt: skip


def _probe_builder(monkeypatch, build):
    module = types.ModuleType("builders.reconcile_probe")
    module.VERSION, module.build = "1", build
    monkeypatch.setitem(sys.modules, "builders.reconcile_probe", module)


def _build(tmp_path, monkeypatch, build):
    _probe_builder(monkeypatch, build)
    manifest = write_gsm8k_manifest(tmp_path / "p", rows=20)
    text = manifest.read_text().replace('version: "1"', 'version: "1"\nbuilder: reconcile_probe')
    manifest.write_text(text)
    return build_set("gsm8k_sft", manifest, root=str(tmp_path / "root"), quiet=True)


def _first_rows(ctx, n=20):
    rows = []
    for idx, row in ctx.read_source("gsm8k_train"):
        if idx < n:
            rows.append((idx, row))
        else:
            ctx.drop("gsm8k_train", idx, "over_quota")
    return rows


def test_a_row_emitted_twice_fails_the_build(tmp_path, monkeypatch):
    def build(ctx):
        rows = _first_rows(ctx)
        for idx, row in rows:
            ctx.emit("train", _record(ctx, idx, row))
        ctx.emit("train", _record(ctx, *rows[0]))  # the same row again

    with pytest.raises(FFDataError, match=r"source 'gsm8k_train': .*: 1 more than its input"):
        _build(tmp_path, monkeypatch, build)


def test_a_row_kept_and_dropped_fails_the_build(tmp_path, monkeypatch):
    def build(ctx):
        rows = _first_rows(ctx)
        for idx, row in rows:
            ctx.emit("train", _record(ctx, idx, row))
        ctx.drop("gsm8k_train", rows[3][0], "duplicate")  # kept above, dropped here too

    with pytest.raises(FFDataError, match=r"source 'gsm8k_train': .*: 1 more than its input"):
        _build(tmp_path, monkeypatch, build)


def test_a_row_left_unaccounted_fails_the_build(tmp_path, monkeypatch):
    def build(ctx):
        rows = _first_rows(ctx)
        for idx, row in rows[:-2]:  # the last two rows read are neither kept nor dropped
            ctx.emit("train", _record(ctx, idx, row))

    with pytest.raises(FFDataError, match=r"source 'gsm8k_train': .*: 2 rows neither kept nor"):
        _build(tmp_path, monkeypatch, build)


def test_an_emitted_row_that_was_never_read_or_generated_fails(tmp_path, monkeypatch):
    def build(ctx):
        for idx, row in _first_rows(ctx):
            ctx.emit("train", _record(ctx, idx, row))
        rec = _record(ctx, 0, {"question": "q", "answer": "a"})
        ctx.emit("train", {**rec, "source": "made_up"})

    with pytest.raises(FFDataError, match=r"source 'made_up': 0 read \+ 0 generated = 0 input"):
        _build(tmp_path, monkeypatch, build)


def test_generated_items_and_expanded_rows_reconcile_and_are_recorded(tmp_path, monkeypatch):
    """A generator's items are inputs (counted as generated, per pool); a row they were made
    from is spent ("expanded"), not kept or dropped itself."""

    def build(ctx):
        for idx, row in _first_rows(ctx):
            ctx.emit("train", _record(ctx, idx, row))
        ctx.generated("gen:probe", 3, pool="probe")
        for k in range(2):
            rec = _record(ctx, k, {"question": f"q{k}", "answer": "a"})
            ctx.emit("train", {**rec, "source": "gen:probe"})
        ctx.drop("gen:probe", 2, "verifier_failed")

    built, _ = _build(tmp_path, monkeypatch, build)
    rec = built.record["reconciliation"]
    assert rec["ok"] is True
    assert rec["by_source"]["gen:probe"] == {
        "read": 0, "generated": 3, "input": 3, "kept": 2, "dropped": 1, "expanded": 0, "ok": True,
    }  # fmt: skip
    assert rec["by_source"]["gsm8k_train"]["read"] == 7473
    assert rec["input"] == 7473 + 3 and rec["kept"] + rec["dropped"] == rec["input"]
    assert rec["generated_by_pool"] == {"probe": 3}
    # the saved audit reads the same numbers from the record
    saved = json.loads((built.storage.path(f"{built.prefix}/_build.json")).read_text())
    assert saved["reconciliation"] == rec


def test_errata_correct_a_source_row_with_lineage_and_stale_errata_stop(tmp_path, monkeypatch):
    """The ARC "An iron" key, corrected as the row is read; the record lists the correction.
    An erratum whose `was` no longer matches the row stops the build."""
    from ffdata.hashing import sha256_file

    seen = {}

    def build(ctx):
        for idx, row in _first_rows(ctx):
            if idx == 4:
                seen["q"] = row["question"]
            ctx.emit("train", _record(ctx, idx, row))

    manifest_dir = tmp_path / "p"
    _probe_builder(monkeypatch, build)
    manifest = write_gsm8k_manifest(manifest_dir, rows=20)
    original = None
    for idx, line in enumerate((manifest_dir / "data/sources/gsm8k/train.jsonl").open()):
        if idx == 4:
            original = json.loads(line)["question"]
            break
    errata = manifest_dir / "manifests" / "errata.csv"
    base = manifest.read_text().replace('version: "1"', 'version: "1"\nbuilder: reconcile_probe')

    def write_errata(was):
        errata.write_text(
            "source,row,field,was,now,reason,reference\n"
            f'gsm8k_train,4,question,"{was}",Corrected question?,typo,test\n'
        )
        text = base + f"errata: {{path: manifests/errata.csv, sha256: {sha256_file(errata)}}}\n"
        manifest.write_text(text)

    write_errata(original)
    built, _ = build_set("gsm8k_sft", manifest, root=str(tmp_path / "root"), quiet=True)
    assert seen["q"] == "Corrected question?"
    applied = built.record["errata_applied"]
    assert [(a["source"], a["row"], a["was"], a["now"]) for a in applied] == [
        ("gsm8k_train", "4", original, "Corrected question?")
    ]
    assert "errata" in built.record["inputs"]

    write_errata("not what the row says")
    with pytest.raises(FFDataError, match=r"errata.csv:2: .*row 4 .*expects 'not what the row"):
        build_set("gsm8k_sft", manifest, root=str(tmp_path / "root2"), quiet=True)
