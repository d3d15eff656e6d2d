"""sft_shards_v2 end to end on the offline manifest: drop reasons, masks, reconciliation,
byte-identical rebuilds."""

import json
import shutil

import pyarrow.parquet as pq
import pytest

from ffdata.build import build_set
from ffdata.records import render_alpaca, render_prompt
from ffdata.tokenizer import EOT_ID, decode, encode


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    built, fresh = build_set("sft_shards_v2", root=str(root), quiet=True)
    assert fresh
    return built


def test_every_drop_reason_fires_with_the_right_row(built):
    dropped = pq.read_table(built.dropped_path()).to_pylist()
    got = {(d["source"], d["reason"]) for d in dropped}
    expected = {
        ("openhermes", "refusal"),
        ("openhermes", "empty_turn"),
        ("openhermes", "duplicate"),
        ("openhermes", "near_duplicate"),
        ("openhermes", "unknown_role:tool"),
        ("openhermes", "too_long"),
        ("ultrachat", "contaminated:gsm8k"),  # the pasted GSM8K test question
        ("ultrachat", "no_response"),
        ("wildchat", "non_english"),
        ("wildchat", "toxic"),
        ("wildchat", "refusal"),
        ("gsm8k_train", "over_quota"),
    }
    assert expected <= got, expected - got
    rec = built.record
    assert rec["reconciliation"]["ok"]
    assert rec["reconciliation"]["input"] - rec["counts"]["by_part"]["aug"] == sum(
        rec["reconciliation"]["rows_read"].values()
    )
    assert rec["counts"]["by_source"]["gsm8k_train"] == 3000  # the manifest's cap


def test_rows_carry_ids_masks_and_scrubbed_pii(built):
    rows = built.read_table().to_pylist()
    assert {r["block"] for r in rows} == {"core", "augmentation"}
    for r in rows[:400] + rows[-200:]:
        prompt = encode(render_prompt(r["instruction"], r["system"]))
        assert r["input_ids"][: len(prompt)] == prompt
        assert r["input_ids"] == encode(
            render_alpaca(r["instruction"], r["response"], r["system"])
        ) + [EOT_ID]
        assert sum(r["loss_mask"]) == r["n_loss_tokens"] == len(r["input_ids"]) - len(prompt)
        trained = [t for t, m in zip(r["input_ids"], r["loss_mask"], strict=True) if m]
        assert decode(trained) == r["response"] + "<|endoftext|>"
        assert r["n_tokens"] <= 1024
    text = "\n".join(r["text"] for r in rows)
    assert "jane.doe@example.com" not in text and "<EMAIL>" in text
    scrubbed = [json.loads(r["meta"]).get("pii_scrubbed") for r in rows]
    assert {"email": 2, "phone": 1} in scrubbed
    multi = [
        r for r in rows if r["source"] == "ultrachat" and r["instruction"].startswith("User: ")
    ]
    assert multi and multi[0]["instruction"].count("User: ") >= 2
    aug = [r for r in rows if r["block"] == "augmentation"]
    variants = {json.loads(r["meta"])["variant"] for r in aug}
    assert variants == {"final_answer_only", "system_prompt"}
    for r in aug:
        meta = json.loads(r["meta"])
        assert meta["parent_id"] and meta["parent_source"]
        if meta["variant"] == "final_answer_only":
            assert r["format"] == "numeric" and r["response"].lstrip("-").replace(".", "").isdigit()
    assert built.record["tokens"] == sum(r["n_tokens"] for r in rows)


def test_rebuild_is_byte_identical(built, tmp_path):
    again, fresh = build_set("sft_shards_v2", root=str(tmp_path), quiet=True)
    assert fresh and again.fingerprint == built.fingerprint
    assert [s["sha256"] for s in again.record["shards"]] == [
        s["sha256"] for s in built.record["shards"]
    ]


def test_manifest_targets_stay_in_the_record_and_the_audit_compares_them(built, tmp_path):
    import yaml

    from ffdata.audit import connect, run_audit

    from .conftest import REPO

    manifest = yaml.safe_load((REPO / "manifests" / "sft_shards_v2.yaml").read_text())
    for src in manifest["sources"]:  # a project of its own: source paths stay inside it
        (tmp_path / src["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / src["path"], tmp_path / src["path"])
    manifest["targets"]["by_block"] = {"core": 5000, "augmentation": 400}
    (tmp_path / "manifests").mkdir()
    shutil.copy(REPO / "manifests" / "errata.csv", tmp_path / "manifests" / "errata.csv")
    path = tmp_path / "manifests" / "sft_shards_v2.yaml"
    path.write_text(yaml.safe_dump(manifest))
    s, _ = build_set("sft_shards_v2", path, root=str(tmp_path / "root"), quiet=True)
    assert s.record["targets"]["by_block"] == {"core": 5000, "augmentation": 400}
    by_block = s.record["counts"]["by_block"]
    results = run_audit(connect(str(tmp_path / "root"), evalsets=False), "sft_shards_v2")
    comp = next(r for r in results if r.title.startswith("Targets vs actual"))
    rows = {r[0]: dict(zip(comp.columns, r, strict=True)) for r in comp.rows}
    assert rows["by_block.core"]["actual"] == by_block["core"]
    assert rows["by_block.core"]["deviation"] == by_block["core"] - 5000
    assert rows["by_block.augmentation"]["actual"] == by_block["augmentation"]
