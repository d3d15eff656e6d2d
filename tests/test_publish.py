"""Publishing a champion: a real (tiny) trainer run → eval → merge → champions/latest/ with a
card whose tables come from the config, the saved results, run.json and the set's _build.json."""

import json
import os
import shutil
import signal
import subprocess
import sys

import boto3
import pytest
from transformers import AutoModelForCausalLM

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_file
from ffllm.card import build_card, count_params, training_stages
from ffllm.eval.common import pct
from ffllm.eval.factbench import evaluate_factbench
from ffllm.eval.mmlu import evaluate_mmlu
from ffllm.merge import merge_checkpoints
from ffllm.publish import current_champion, publish
from tests.train_fixtures import ffllm_train, write_run

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def trained(repair_blocks, tmp_path_factory):
    """`ffllm train` (tiny_repair.yaml) for 2 steps, a checkpoint every step, on repair_blocks in
    a copy of its root (publishing writes champions/ there)."""
    base = tmp_path_factory.mktemp("pub")
    root = base / "root"
    shutil.copytree(repair_blocks.storage.root, root)
    manifest = write_run(
        base / "run.yaml",
        name="pub_tiny",
        schedule={"max_steps": 2},
        batch={"micro": 2, "global": 2},
        checkpoint={"every": 1},
    )
    proc = ffllm_train(manifest, root, root / "runs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = root / "runs" / "pub_tiny"
    evaluate_mmlu(run / "hf" / "ckpt-2", shots=0, limit=1, quick=True, batch_size=32)
    evaluate_factbench(run / "hf" / "ckpt-2", batch_size=32)
    return root, run, repair_blocks


def test_card_from_data(trained):
    root, run, built = trained
    ckpt = run / "hf" / "ckpt-2"
    stages = training_stages(ckpt, root)
    assert [s["name"] for s in stages] == ["pub_tiny"]
    train_set = stages[0]["sets"]["train"]
    assert train_set["fingerprint"] == built.fingerprint
    by_part = built.record["counts"]["by_part"]
    # the parts the run trained on (A, B, D), not the whole build (validation, E, F too)
    assert train_set["parts"] == ["A", "B", "D"]
    assert train_set["rows"] == by_part["A"] + by_part["B"] + by_part["D"] < built.record["rows"]
    comp = train_set["composition"]
    assert comp["unit"] == "rows" and comp["by_block"] == {b: by_part[b] for b in "ABD"}
    assert sum(comp["by_source"].values()) == train_set["rows"]
    assert stages[0]["sets"]["eval"]["rows"] == by_part["validation"]
    card = build_card(ckpt, root)
    config = json.loads((ckpt / "config.json").read_text())
    assert f"| Parameters | {count_params(ckpt):,} |" in card
    assert f"| Layers / hidden / heads | {config['n_layer']} / {config['n_embd']} / " in card
    from ffllm.eval.mmlu import lm_eval_version

    assert lm_eval_version() == "0.4.11"  # constraints.txt pins the card's version
    assert "MMLU 0-shot, lm-eval 0.4.11 (57 dev items, limit 1/subject)" in card
    assert "| STEM | 19 |" in card  # macro-domain breakdown
    assert "factbench v2, card bench (106 prompts, greedy, Alpaca template)" in card
    assert "| format compliance | 25 |" in card and "| **total** | **106** |" in card
    assert (
        f"| 1 | repair | pub_tiny | ckpt-2 | repair_blocks (A, B, D) | `{built.fingerprint[:16]}` "
        f"| {train_set['rows']:,} |" in card
    )
    assert f"A {by_part['A']:,}, B {by_part['B']:,}, D {by_part['D']:,} |" in card
    assert f"- stage 1 data: `repair_blocks@{built.fingerprint}`, parts A, B, D" in card
    assert f"part validation, {by_part['validation']:,} rows" in card
    row = "| pub_tiny | preset tiny | 0.003 (0.0003) | 5 | 2 / 2 | 2 (2) | 256 | 0.1 | 1 | fp32 |"
    assert row in card and "| from scratch |" in card
    assert "## Limitations" in card and "Anchor-entity over-attribution" in card
    dropped = sum(
        n for r, n in built.record["dropped"]["by_reason"].items() if r.startswith("contaminated")
    )
    assert (
        "repair_blocks: against mmlu, arc, gsm8k, hellaswag, truthfulqa, factbench, "
        f"factbench_extended ({dropped:,} rows" in card
    )
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
    # the merged model's MMLU beside its A side's, on the same items, the difference computed
    [m] = [json.loads(p.read_text()) for p in (merged / "eval").glob("mmlu-*.json")]
    [a] = [
        r
        for r in map(json.loads, (p.read_text() for p in (ckpt / "eval").glob("mmlu-*.json")))
        if (r["split"], r["items"], r["shots"]) == (m["split"], m["items"], m["shots"])
    ]
    diff = 100 * (m["acc"] - a["acc"])
    assert f"merged {pct(m['acc'])}, A {pct(a['acc'])}: {diff:+.2f}pp" in res["card"]


def _whole(folder) -> dict:
    """champion.json of `folder`, after checking every file it lists against its sha256."""
    rec = json.loads((folder / "champion.json").read_text())
    for name, digest in rec["files"].items():
        assert sha256_file(folder / name) == digest, name
    return rec


def test_champion_switch_is_atomic(trained, tmp_path):
    """A publish killed half way through its copy, or with the new copy whole but not yet
    switched, leaves the old champion current and whole; the next publish completes."""
    root, run, _ = trained
    root = shutil.copytree(root, tmp_path / "root", ignore=shutil.ignore_patterns("champions"))
    ckpt = run / "hf" / "ckpt-2"
    publish(ckpt, root, name="first")
    latest = root / "champions" / "latest"
    script = "import sys; from ffllm.publish import publish as p; p(*sys.argv[1:], name='second')"
    for fault in ("champion-put", "champion-switch"):
        env = {**os.environ, "FFDATA_FAULT": fault}
        proc = subprocess.run([sys.executable, "-c", script, str(ckpt), str(root)], env=env)
        assert proc.returncode == -signal.SIGKILL, fault
        assert "# first\n" in (latest / "README.md").read_text(), fault
        _whole(latest)
        assert current_champion(root)[0] == "champions/g-1"
    res = publish(ckpt, root, name="second")
    assert (latest / "README.md").read_text() == res["card"] and "# second" in res["card"]
    assert _whole(latest)["files"]["README.md"] == sha256_file(latest / "README.md")
    # the old champion and both killed publishes' folders are gone; latest names the new one
    names = sorted(p.name for p in (root / "champions").iterdir())
    assert names == ["_current.json", "g-4", "latest"]
    assert os.readlink(latest) == "g-4" and current_champion(root)[0] == "champions/g-4"


def test_publish_to_s3(trained, s3_bucket):
    root, run, _ = trained
    ckpt = run / "hf" / "ckpt-2"
    res = publish(ckpt, f"s3://{s3_bucket}/models")
    assert res["uri"] == f"s3://{s3_bucket}/models/champions/g-1"  # named by _current.json
    keys = sorted(
        o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]
    )
    assert "models/champions/_current.json" in keys
    assert "models/champions/g-1/champion.json" in keys
    assert "models/champions/g-1/model.safetensors" in keys
    body = (
        boto3.client("s3")
        .get_object(Bucket=s3_bucket, Key="models/champions/g-1/README.md")["Body"]
        .read()
    )
    assert body.decode() == res["card"]
    # the sets live on the local root, not in this bucket: the card says so instead of guessing
    assert "build record not found" in res["card"]


def test_config_table_names_the_distillation_teacher_by_its_weights():
    from ffllm.card import _config_table

    stage = {
        "kind": "train",
        "run": {
            "name": "student",
            "model": {"preset": "tiny"},
            "optim": {"lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 5, "weight_decay": 0.1},
            "batch": {"global": 16, "micro": 8},
            "data": {"seq_len": 256},
            "runtime": {"precision": "fp32"},
            "seed": 0,
            "distill": {"teacher": "/runs/t/hf/ckpt-4", "alpha": 0.5, "temperature": 2.0},
        },
        "steps": {"schedule": 10, "stop": 10},
        "deepspeed_zero": 2,
        "teacher_weights_sha256": "ab" * 32,
    }
    row = _config_table([stage])[-1]
    assert (
        "logit distillation from `ckpt-4` (α=0.5, T=2, teacher weights `abababababababab`)" in row
    )
