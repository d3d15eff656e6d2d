"""Answer-blind baselines (ffdata.shortcuts): each rule on hand-made items, the Wilson interval,
and the build gate through the real build path (build_set with a probe builder)."""

import json
import sys
import types

import pyarrow as pa
import pytest

from ffdata.audit import connect, result_json, shortcut_results
from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.formats import render_mcq
from ffdata.records import make_record
from ffdata.sets import list_sets
from ffdata.shortcuts import Item, items_from_table, number_format, panel, wilson
from tests.conftest import write_gsm8k_manifest


def mcq(options, key, question="Which one?", pool="p", part="A", block="A"):
    return Item(part, block, pool, question, list(options), key, False)


def yes_no(answer, pool="p"):
    return Item("B", "B", pool, "Is it so?", ["Yes", "No"], 0 if answer else 1, True)


def by_baseline(rows, pool="p"):
    return {r.baseline: r for r in rows if r.pool == pool}


def test_always_yes_and_always_no():
    rows = by_baseline(panel([yes_no(True)] * 3 + [yes_no(False)], min_items=1))
    assert rows["always_yes"].accuracy == 0.75 and rows["always_no"].accuracy == 0.25
    assert rows["always_yes"].chance == 0.5 and rows["always_yes"].items == 4
    assert rows["always_yes"].ok is False and rows["always_no"].ok is True
    assert "longest_option" not in rows  # MCQ rules do not score yes/no items


def test_letter_length_and_word_rules():
    items = [
        mcq(["a", "bb", "ccc", "dddd"], 3),  # key: longest
        mcq(["aaaa", "b", "cc", "ddd"], 1),  # key: shortest
        mcq(["xx", "yy", "z", "w"], 0),  # longest is a tie of two: half a point each way
        mcq(["red planet", "blue whale", "green tea", "gold coin"], 1, "Which animal is a whale?"),
    ]
    rows = by_baseline(panel(items, min_items=1))
    # the last item: "red planet" and "blue whale" tie for longest, the key is one of them
    assert rows["longest_option"].accuracy == pytest.approx((1 + 0 + 0.5 + 0.5) / 4)
    assert rows["shortest_option"].accuracy == pytest.approx((0 + 1 + 0 + 0) / 4)
    # keys: D, B, A, B -> B is the most frequent letter, right on 2 of 4
    assert rows["most_frequent_letter"].accuracy == 0.5
    # only the last item shares a word ("whale") with its question; the others are 4-way ties
    assert rows["most_words_shared"].accuracy == pytest.approx((0.25 * 3 + 1) / 4)
    assert rows["longest_option"].chance == 0.25


def test_numeric_rules():
    items = [
        mcq(["10", "20", "30", "100"], 1),  # mean 40: 30 is closest; the key 20 is not
        mcq(["1", "2", "3", "4"], 1),  # mean 2.5: 2 and 3 tie -> 0.5
        mcq(["4.50", "4.75", "5", "5.75"], 2),  # mean 5: the key; and the only one without cents
        mcq(["3/8", "5/8", "1/8", "2/7"], 3),  # the only odd denominator, and the key
        mcq(["$12", "$15", "$18", "$21"], 0),  # one format: the rule does not apply
    ]
    rows = by_baseline(panel(items, min_items=1))
    central = rows["most_central_number"]
    assert central.items == 5
    # 4th item: values .375 .625 .125 .2857, mean .353 -> 3/8 (.375) is closest, not the key
    # 5th: mean 16.5 -> 15 and 18 tie, the key is $12
    assert central.accuracy == pytest.approx((0 + 0.5 + 1 + 0 + 0) / 5)
    odd = rows["only_of_its_format"]
    assert odd.items == 2 and odd.accuracy == 1.0  # items 3 and 4 only
    # sorted ranks of the keys: 1, 1, 2, 1 (2/7 is second smallest), 0 -> rank 1 on 3 of 5
    assert rows["most_frequent_rank"].accuracy == 0.6
    assert number_format("$1,050.50") == ("$", "", 2, True, False)
    assert number_format("3/7") == ("fraction", "odd", False)


def test_anchor_rules_need_anchors():
    items = [
        mcq(["Thomas Edison", "Nikola Tesla", "Alexander Graham Bell", "Elisha Gray"], 2),
        mcq(["Thomas Edison", "Joseph Swan", "Humphry Davy", "Hiram Maxim"], 0),
        mcq(["Rome", "Paris", "Oslo", "Bern"], 1),  # no anchor among the options
    ]
    assert "avoid_the_anchor" not in by_baseline(panel(items, min_items=1))
    rows = by_baseline(panel(items, ["Thomas Edison", "Nikola Tesla"], min_items=1))
    assert rows["pick_the_anchor"].items == 2
    assert rows["pick_the_anchor"].accuracy == pytest.approx((0 + 1) / 2)
    assert rows["avoid_the_anchor"].accuracy == pytest.approx((1 / 2 + 0) / 2)


def test_groups_by_part_block_pool_and_min_items():
    items = [yes_no(False, "x")] * 60 + [yes_no(True, "y")] * 10 + [yes_no(False, "y")] * 10
    rows = panel(items)  # defaults: max_gain 0.05, min_items 50
    x, y, both = (by_baseline(rows, p)["always_no"] for p in ("x", "y", "(all)"))
    assert (x.items, x.accuracy, x.ok) == (60, 1.0, False)
    assert (y.items, y.accuracy, y.ok) == (20, 0.5, None)  # too few items to judge
    assert (both.items, both.accuracy, both.ok) == (80, 70 / 80, None)  # shown, judged per pool


def test_wilson_interval():
    lo, hi = wilson(0.5, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.4038, 0.5962)
    lo, hi = wilson(1.0, 8)  # an all-correct small pool is still uncertain
    assert hi == 1.0 and round(lo, 3) == 0.676


def test_items_are_read_from_rendered_records():
    records = [
        {"format": "mcq_letter", "instruction": render_mcq("Pick", ["x", "yy", "z"]),
         "response": "B", "block": "A", "category": "c", "meta": json.dumps({"pool": "p1"})},
        {"format": "yes_no", "instruction": "Is it?", "response": "No. It is not.",
         "block": "B", "category": "c", "meta": "{}"},
        {"format": "mcq_letter", "instruction": "Pick one: x or y", "response": "A",
         "block": "A", "category": "c", "meta": "{}"},  # not an MCQ layout: unreadable
        {"format": "mcq_letter", "instruction": render_mcq("Pick", ["x", "y"]),
         "response": "D", "block": "A", "category": "c", "meta": "{}"},  # letter out of range
        {"format": "numeric", "instruction": "2+2?", "response": "4", "block": "D",
         "category": "c", "meta": "{}"},
    ]  # fmt: skip
    tolkien = render_mcq("J. R. R. Tolkien is the author of which of these?", ["a", "b", "c"])
    records.append({"format": "mcq_letter", "instruction": tolkien, "response": "B",
                    "block": "E", "category": "c", "meta": "{}"})  # fmt: skip
    items, unread = items_from_table(pa.Table.from_pylist(records), "train")
    assert unread == 2
    assert [(i.pool, i.options, i.key, i.yes_no) for i in items] == [
        ("p1", ["x", "yy", "z"], 1, False),
        ("c", ["Yes", "No"], 1, True),
        ("c", ["a", "b", "c"], 1, False),  # a stem that starts like an option line is a stem
    ]
    assert items[-1].question.startswith("J. R. R. Tolkien")


# --- the build gate, through build_set -----------------------------------------------------------
def _probe(monkeypatch, yes_share: float, n: int = 80):
    """A builder that asks the first n GSM8K rows as yes/no items, Yes on yes_share of them."""

    def build(ctx):
        for idx, row in ctx.read_source("gsm8k_train"):
            if idx >= n:
                ctx.drop("gsm8k_train", idx, "over_quota")
                continue
            yes = idx < round(yes_share * n)
            rec = make_record(
                set_name=ctx.set_name, block="B", source="gsm8k_train", source_row=idx,
                seed=ctx.seed, instruction=f"Is the answer to this 42? {row['question']}",
                response="Yes" if yes else "No", format="yes_no", category="facts",
                meta={"pool": "facts"},
            )  # fmt: skip
            ctx.emit("B", rec)

    module = types.ModuleType("builders.shortcut_probe")
    module.VERSION, module.build = "1", build
    monkeypatch.setitem(sys.modules, "builders.shortcut_probe", module)


def _manifest(tmp_path, gate: str | None):
    path = write_gsm8k_manifest(tmp_path / "p", rows=80)
    text = path.read_text().replace('version: "1"', 'version: "1"\nbuilder: shortcut_probe')
    path.write_text(text + (f"shortcuts: {gate}\n" if gate else ""))
    return path


def test_a_shortcut_fails_the_build_before_publishing(tmp_path, monkeypatch):
    _probe(monkeypatch, yes_share=0.1)
    root = str(tmp_path / "root")
    manifest = _manifest(tmp_path, "{max_gain: 0.05, min_items: 50}")
    with pytest.raises(FFDataError) as e:
        build_set("gsm8k_sft", manifest, root=root, quiet=True)
    msg = str(e.value)
    assert "always_no scores 90.0% on pool B/facts, 80 items, chance 50.0%" in msg
    assert "40.0 points over chance" in msg and "shortcuts.max_gain 0.05" in msg
    assert list_sets(root) == []  # nothing published


def test_the_gate_is_opt_in_and_part_of_the_fingerprint(tmp_path, monkeypatch):
    _probe(monkeypatch, yes_share=0.1)
    root = str(tmp_path / "root")
    built, _ = build_set("gsm8k_sft", _manifest(tmp_path / "a", None), root=root, quiet=True)
    assert built.record["rows"] == 80  # no shortcuts key: built, and the audit still shows it
    results = shortcut_results(connect(root, evalsets=False), "gsm8k_sft")
    assert results[0].failed  # judged with the defaults
    rows = json.loads(result_json(results))[1]["rows"]
    no = next(r for r in rows if r["baseline"] == "always_no")
    assert (no["part"], no["pool"], no["items"], no["accuracy"]) == ("B", "facts", 80, 0.9)
    assert no["ok"] is False and no["ci_low"] == pytest.approx(wilson(0.9, 80)[0], abs=1e-4)
    # the same recipe with the gate is another recipe: it is built (and fails), not found
    with pytest.raises(FFDataError, match="answer-blind shortcut"):
        build_set("gsm8k_sft", _manifest(tmp_path / "b", "{max_gain: 0.05}"), root=root,
                  quiet=True)  # fmt: skip


def test_a_balanced_set_passes_the_gate(tmp_path, monkeypatch):
    _probe(monkeypatch, yes_share=0.5)
    root = str(tmp_path / "root")
    manifest = _manifest(tmp_path, "{max_gain: 0.05, min_items: 50}")
    built, fresh = build_set("gsm8k_sft", manifest, root=root, quiet=True)
    assert fresh and built.record["manifest"]["shortcuts"] == {"max_gain": 0.05, "min_items": 50}
    results = shortcut_results(connect(root, evalsets=False), "gsm8k_sft")
    rows = json.loads(result_json(results))[1]["rows"]
    assert {r["baseline"]: r["accuracy"] for r in rows} == {"always_yes": 0.5, "always_no": 0.5}
    assert not any(r.failed for r in results)


def test_the_best_row_of_a_pool_is_a_judged_one(tmp_path, monkeypatch):
    """A rule that applies to 3 items of a 60-item pool (gain 0.75) must not hide the judged
    rules of that pool from the best-per-pool table."""
    from ffdata.audit import AuditDB, Result

    items = [mcq(["a", "bb", "ccc", "dddd"], i % 4, pool="arc") for i in range(60)]
    items += [mcq(["1", "2", "3", "40"], 3, pool="arc") for _ in range(3)]  # numeric: 3 items
    built = types.SimpleNamespace(record={"manifest": {}, "targets": {}})
    db = AuditDB(None, "memory", {"s": built})
    monkeypatch.setattr("ffdata.shortcuts.items_from_files", lambda files: (items, 0))
    monkeypatch.setattr(AuditDB, "shard_files", lambda self, name: [])
    best, every, _ = shortcut_results(db, "s")
    assert isinstance(best, Result) and len(best.rows) == 1
    row = dict(zip(best.columns, best.rows[0], strict=True))
    assert row["items"] == 63 and row["ok"] is not None  # not most_frequent_rank on 3 items
    assert any(r[3] == "most_central_number" and r[4] == 3 for r in every.rows)


def test_the_manifest_key_is_checked(tmp_path, monkeypatch):
    _probe(monkeypatch, yes_share=0.5)
    for gate, error in (
        ("{max_gian: 0.05}", "shortcuts.max_gian: unknown key"),
        ("{max_gain: 2}", "shortcuts.max_gain: Input should be less than or equal to 1"),
        ("{min_items: 0}", "shortcuts.min_items: Input should be greater than or equal to 1"),
    ):
        with pytest.raises(FFDataError, match=error):
            build_set("gsm8k_sft", _manifest(tmp_path / gate[1:4], gate), root=str(tmp_path / "r"))


def test_key_balance_targets():
    from ffdata.shortcuts import key_balance

    # 60 yes/no items, 32 Yes: 53.3% is more than 3 points off 50%
    items = [yes_no(i < 32, "yn") for i in range(60)]
    # 60 numeric MCQs whose key cycles through the four sorted positions: 25% each
    items += [mcq(["1", "2", "3", "4"], i % 4, pool="num") for i in range(60)]
    # 10 with the key the only decimal: ranks too few to judge, but the odd key fails the pool
    items += [mcq(["1", "2", "3.5", "4"], 2, pool="odd") for _ in range(10)]
    rows = {r[2]: r for r in key_balance(items, min_items=50)}
    assert rows["yn"][3:6] == (60, 0.5333, 0) and rows["yn"][-1] is False
    assert rows["num"][5:] == (60, [0.25, 0.25, 0.25, 0.25], 0, True)
    assert rows["odd"][5:] == (10, [0.0, 0.0, 1.0, 0.0], 10, False)
    balanced = [yes_no(i < 30, "yn") for i in range(60)]
    assert key_balance(balanced, min_items=50)[0][-1] is True
    assert key_balance(balanced, min_items=61)[0][-1] is None  # too few to judge
