"""dpo_v1 / dpo_v2 on schema-true fixtures: pair schema, template, drop reasons."""

import pyarrow.parquet as pq

from ffdata.build import build_set
from ffdata.records import render_prompt


def test_dpo_v2_drops_ties_duplicates_and_contamination(tmp_path):
    built, _ = build_set("dpo_v2", root=str(tmp_path), quiet=True)
    rows = built.read_table().to_pylist()
    reasons = {d["reason"] for d in pq.read_table(built.dropped_path()).to_pylist()}
    assert reasons == {
        "not_preferred",
        "identical_pair",
        "empty_turn",
        "duplicate",
        "contaminated:arc",
    }
    assert len(rows) == 6 and built.record["reconciliation"]["input"] == 11
    for r in rows:
        assert r["prompt"] == render_prompt(r["instruction"])
        assert r["score_chosen"] > r["score_rejected"]
        assert r["prompt_tokens"] + max(r["chosen_tokens"], r["rejected_tokens"]) <= 1024
    canada = [r for r in rows if "Canada" in r["instruction"]]
    assert len(canada) == 1 and canada[0]["chosen"] == "Ottawa is the capital of Canada."


def test_dpo_v1_reads_both_pair_layouts(tmp_path):
    built, _ = build_set("dpo_v1", root=str(tmp_path), quiet=True)
    rows = built.read_table().to_pylist()
    assert built.record["counts"]["by_source"] == {"alpaca_preference": 6, "wizardlm_preference": 5}
    ocean = next(r for r in rows if r["instruction"].startswith("Name the largest ocean"))
    assert ocean["chosen"].startswith("The Pacific")  # preference 2 picks output_2
    passive = next(r for r in rows if r["instruction"].startswith("Rewrite"))
    assert passive["instruction"].endswith("\n\nThe chef cooked the meal.")  # Alpaca input joined
    assert all(r["score_chosen"] is None for r in rows)
