"""dpo_v1 / dpo_v2 on schema-true fixtures: pair schema, template, drop reasons."""

from pathlib import Path

import pyarrow.parquet as pq

from ffdata.adapters import pair_adapter
from ffdata.build import build_set
from ffdata.records import render_prompt

REPO = Path(__file__).resolve().parent.parent


def test_dpo_v2_drops_ties_duplicates_and_contamination(tmp_path):
    built, _ = build_set("dpo_v2", root=str(tmp_path), quiet=True)
    rows = built.read_table().to_pylist()
    dropped = pq.read_table(built.dropped_path()).to_pylist()
    reasons = {d["reason"] for d in dropped}
    assert reasons == {
        "not_preferred",
        "identical_pair",
        "empty_turn",
        "duplicate",
        "contaminated:arc",
        "contaminated:factbench",  # "What is the capital of Canada?" is the card bench's geo-03
    }
    bench = [d for d in dropped if d["reason"] == "contaminated:factbench"]
    assert [d["detail"].split(":")[0] for d in bench] == ["factbench/geo-03"]
    assert len(rows) == 5 and built.record["reconciliation"]["input"] == 11
    for r in rows:
        assert r["prompt"] == render_prompt(r["instruction"])
        assert r["score_chosen"] > r["score_rejected"]
        assert r["prompt_tokens"] + max(r["chosen_tokens"], r["rejected_tokens"]) <= 1024
    assert not [r for r in rows if "Canada" in r["instruction"]]


def test_dpo_v1_reads_both_pair_layouts(tmp_path):
    built, _ = build_set("dpo_v1", root=str(tmp_path), quiet=True)
    rows = built.read_table().to_pylist()
    assert built.record["counts"]["by_source"] == {"alpaca_preference": 6, "wizardlm_preference": 5}
    ocean = next(r for r in rows if r["instruction"].startswith("Name the largest ocean"))
    assert ocean["chosen"].startswith("The Pacific")  # preference 2 picks output_2
    passive = next(r for r in rows if r["instruction"].startswith("Rewrite"))
    assert passive["instruction"].endswith("\n\nThe chef cooked the meal.")  # Alpaca input joined
    assert all(r["score_chosen"] is None for r in rows)


def test_full_dpo_v1_reads_alpaca_farms_json_file_not_its_loading_script(tmp_path):
    """tatsu-lab/alpaca_farm is a loading script plus JSON files; datasets >= 4 refuses the
    script, so the full recipe names the file. The hub URL carries the pinned commit, and the
    same code path reads a local copy (a JSON array, as the hub file is) through the adapter."""
    import json

    import huggingface_hub
    import pytest

    from ffdata.manifest import load_manifest
    from ffdata.sources import hub_file_urls, input_hash, read_hf

    full = load_manifest(REPO / "manifests" / "full" / "dpo_v1.yaml")
    spec = next(s for s in full.sources if s.name == "alpaca_preference")
    (url,) = hub_file_urls(spec)
    assert url == f"hf://datasets/tatsu-lab/alpaca_farm@{spec.revision}/alpaca_gpt4_preference.json"
    assert "alpaca_gpt4_preference.json" in input_hash(spec, REPO)
    parse = getattr(huggingface_hub, "parse_hf_uri", None)
    if parse is None:
        pytest.skip("huggingface_hub too old to parse hf:// URIs offline")
    uri = parse(url)
    assert (uri.type, uri.id, uri.revision, uri.path_in_repo) == (
        "dataset", "tatsu-lab/alpaca_farm", spec.revision, "alpaca_gpt4_preference.json"
    )  # fmt: skip

    fixture = REPO / "data" / "sources" / "dpo" / "alpaca_farm_preference.jsonl"
    rows = [json.loads(line) for line in fixture.read_text().splitlines()]
    mirror = tmp_path / "alpaca_gpt4_preference.json"
    mirror.write_text(json.dumps(rows))
    local = spec.model_copy(update={"options": {"load_kwargs": {"data_files": str(mirror)}}})
    read = list(read_hf(local))
    assert [r for _, r in read] == rows and [i for i, _ in read] == list(range(len(rows)))
    pair = pair_adapter("alpaca_farm")(read[2][1], "row 2")
    assert pair.chosen.startswith("The Pacific")  # preference 2 picks output_2
