"""Publishing a champion: a real (tiny) trainer run → eval → merge → champions/latest/ with a
card whose tables come from the config, the saved results, run.json and the set's _build.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from transformers import AutoModelForCausalLM

from ffdata.errors import FFDataError
from ffllm.card import build_card, count_params, training_stages
from ffllm.eval.factbench import evaluate_factbench
from ffllm.eval.mmlu import evaluate_mmlu
from ffllm.merge import merge_checkpoints
from ffllm.publish import publish
from tests.train_fixtures import SET_NAME, build_fixture_set, write_run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`ffllm train` for 2 steps (checkpoint every step) on the trainer's fixture set."""
    base = tmp_path_factory.mktemp("pub")
    root = base / "root"
    built = build_fixture_set(base / "project", root)
    manifest = write_run(
        base / "run.yaml",
        name="pub_tiny",
        data={"set": SET_NAME, "seq_len": 256},
        schedule={"max_steps": 2},
        batch={"micro": 2, "global": 2},
        checkpoint={"every": 1},
        eval={},
    )
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.run(
        [sys.executable, "-m", "ffllm", "train", str(manifest), "--root", str(root)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = root / "runs" / "pub_tiny"
    evaluate_mmlu(run / "hf" / "ckpt-2", shots=0, limit=1, quick=True, batch_size=32)
    evaluate_factbench(run / "hf" / "ckpt-2", batch_size=32)
    return root, run, built


def test_card_from_data(trained):
    root, run, built = trained
    ckpt = run / "hf" / "ckpt-2"
    stages = training_stages(ckpt, root)
    assert [s["name"] for s in stages] == ["pub_tiny"]
    train_set = stages[0]["sets"]["train"]
    assert train_set["fingerprint"] == built.fingerprint
    assert train_set["rows"] == built.record["rows"]
    card = build_card(ckpt, root)
    config = json.loads((ckpt / "config.json").read_text())
    assert f"| Parameters | {count_params(ckpt):,} |" in card
    assert f"| Layers / hidden / heads | {config['n_layer']} / {config['n_embd']} / " in card
    assert "MMLU 0-shot, lm-eval 0.4.13 (57 dev items, limit 1/subject)" in card
    assert "| STEM | 19 |" in card  # macro-domain breakdown
    assert "factbench v1 (116 prompts, greedy, Alpaca template)" in card
    assert f"| 1 | repair | pub_tiny | ckpt-2 | {SET_NAME} | `{built.fingerprint[:16]}` |" in card
    assert f"{built.record['rows']:,} |" in card
    assert "| pub_tiny | preset tiny | 0.003 (0.0003) | 2 | 2 / 2 | 2 (2) | 256 |" in card
    assert "## Limitations" in card and "Anchor-entity over-attribution" in card
    assert f"{SET_NAME}: not decontaminated (no targets in its manifest)" in card
    assert build_card(ckpt, root) == card  # same inputs, same bytes


def test_publish_local_then_merge(trained):
    root, run, _ = trained
    ckpt = run / "hf" / "ckpt-2"
    res = publish(ckpt, root)
    out = root / "champions" / "latest"
    assert (out / "README.md").read_text() == res["card"]
    rec = json.loads((out / "champion.json").read_text())
    assert rec["source"] == str(ckpt) and rec["stages"][0]["sets"]["train"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "eval/factbench.json"):
        assert (out / name).exists(), name
        assert name in rec["files"]
    AutoModelForCausalLM.from_pretrained(out)

    # a merge of the run's two checkpoints replaces the champion; the card shows the merge
    merged = merge_checkpoints(run / "hf" / "ckpt-2", run / "hf" / "ckpt-1", 0.1, root / "merged")
    with pytest.raises(FFDataError, match="no MMLU result"):
        publish(merged, root)
    evaluate_mmlu(merged, shots=0, limit=1, quick=True, batch_size=32)
    res = publish(merged, root, name="pub_tiny-slerp")
    assert "# pub_tiny-slerp" in res["card"]
    assert "| 2 | merge | SLERP t=0.1 |" in res["card"]
    assert "| 1 | repair | pub_tiny | ckpt-2 |" in res["card"]
    assert not (out / "eval" / "factbench.json").exists()  # the old champion's files are gone
    assert json.loads((out / "merge.json").read_text())["t"] == 0.1


def test_publish_to_s3(trained, s3_bucket):
    root, run, _ = trained
    ckpt = run / "hf" / "ckpt-2"
    res = publish(ckpt, f"s3://{s3_bucket}/models")
    assert res["uri"] == f"s3://{s3_bucket}/models/champions/latest"
    keys = sorted(
        o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]
    )
    assert "models/champions/latest/champion.json" in keys
    assert "models/champions/latest/model.safetensors" in keys
    body = (
        boto3.client("s3")
        .get_object(Bucket=s3_bucket, Key="models/champions/latest/README.md")["Body"]
        .read()
    )
    assert body.decode() == res["card"]
    # the sets live on the local root, not in this bucket: the card says so instead of guessing
    assert "build record not found" in res["card"]
