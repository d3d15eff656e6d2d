"""End-to-end runs of `ffllm train` on CPU (DeepSpeed ZeRO-2 over gloo, fp32, tiny GPT-2).

Real subprocesses on a real set: an uninterrupted run, a run SIGKILLed after step 5 and resumed
(per-step losses must be bitwise equal), the HF export loaded and generating, and a corrupted
shard that must stop the run before step 0.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ffllm.train.trainer import KILL_ENV
from tests.train_fixtures import build_fixture_set, write_run

REPO = Path(__file__).resolve().parent.parent
STEPS, KILL_AT = 8, 5  # checkpoints every 2: the killed run resumes from ckpt-4


def ffllm_train(manifest: Path, root: Path, env_extra: dict | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    # One thread: on a small shared CI box, two OpenMP threads make these tiny ops 4× slower.
    env["OMP_NUM_THREADS"] = "1"
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "ffllm", "train", str(manifest), "--root", str(root)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def deterministic(records: list[dict]) -> list[dict]:
    """Everything but the timings."""
    return [{k: v for k, v in r.items() if k not in ("tokens_per_s", "mfu")} for r in records]


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("train")
    root = base / "root"
    built = build_fixture_set(base / "project", root)
    return base, root, built


@pytest.fixture(scope="module")
def full_run(fixture_root):
    base, root, _ = fixture_root
    manifest = write_run(base / "full.yaml", schedule={"max_steps": STEPS})
    proc = ffllm_train(manifest, root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "runs" / "tiny_fixture", proc


def test_loss_falls_on_real_data(full_run):
    run_dir, proc = full_run
    metrics = read_metrics(run_dir)
    train = [m for m in metrics if "loss" in m]
    evals = [m for m in metrics if "eval_loss" in m]
    assert [m["step"] for m in train] == list(range(1, STEPS + 1))
    assert [m["step"] for m in evals] == [4, 8]
    first, last = train[0]["loss"], train[-1]["loss"]
    assert first > 10.0  # ln(50257) = 10.8: a fresh model
    assert last < first - 1.5, [m["loss"] for m in train]
    assert evals[-1]["eval_loss"] < first - 1.5
    for m in train:
        assert m["grad_norm"] > 0 and m["tokens"] > 0 and m["tokens_per_s"] > 0
        assert 0 < m["mfu"] < 1
    # lr: warmup 2 steps then cosine down to min_lr at the end of the schedule
    assert train[0]["lr"] == pytest.approx(1.5e-3) and train[1]["lr"] == pytest.approx(3e-3)
    assert train[-1]["lr"] > 3e-4 and all(
        a["lr"] >= b["lr"] for a, b in zip(train[1:], train[2:], strict=False)
    )
    resolved = json.loads((run_dir / "run.json").read_text())
    assert resolved["sets"]["train"] == resolved["sets"]["eval"]
    assert resolved["deepspeed"]["zero_optimization"]["stage"] == 2
    assert sorted(p.name for p in run_dir.glob("ckpt-*")) == [f"ckpt-{s}" for s in (2, 4, 6, 8)]
    assert sorted(p.name for p in (run_dir / "hf").iterdir()) == [f"ckpt-{s}" for s in (2, 4, 6, 8)]
    assert (run_dir / "latest").read_text().strip() == "ckpt-8"


def test_kill_and_resume_is_bitwise_exact(fixture_root, full_run):
    base, root, _ = fixture_root
    full_dir, _ = full_run
    runs = base / "resume_root"
    # The same set, a second run directory: same manifest name, so compare against full_run.
    shutil.copytree(root, runs, ignore=shutil.ignore_patterns("runs"))
    manifest = write_run(base / "resume.yaml", schedule={"max_steps": STEPS})

    killed = ffllm_train(manifest, runs, {KILL_ENV: str(KILL_AT)})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    run_dir = runs / "runs" / "tiny_fixture"
    assert (run_dir / "latest").read_text().strip() == "ckpt-4"
    assert max(m["step"] for m in read_metrics(run_dir)) == KILL_AT

    resumed = ffllm_train(manifest, runs)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed tiny_fixture at step 4" in resumed.stdout
    # Step 5 is redone (its line replaced), 6..8 are new: all equal to the uninterrupted run.
    assert deterministic(read_metrics(run_dir)) == deterministic(read_metrics(full_dir))
    final = f"hf/ckpt-{STEPS}/model.safetensors"
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(full_dir / final) == digest(run_dir / final)


def test_hf_export_loads_and_generates(fixture_root, full_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ffdata.records import render_prompt
    from ffllm.train.data import load_sft
    from ffllm.train.loss import IGNORE, shift_targets
    from ffllm.train.model import LMWithLoss

    _, _, built = fixture_root
    run_dir, _ = full_run
    export = run_dir / "hf" / f"ckpt-{STEPS}"
    model = AutoModelForCausalLM.from_pretrained(export)
    tok = AutoTokenizer.from_pretrained(export)
    model.eval()

    prompt = render_prompt("What is 12 plus 30?")
    ids = tok(prompt, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.eos_token_id)
    assert out.shape[1] > ids.shape[1]
    assert isinstance(tok.decode(out[0, ids.shape[1] :]), str)

    # The export is the trained model: its validation loss is the one the run logged at the end
    # (eval.max_batches 3 of micro 4: the first 12 validation examples).
    examples = load_sft(built.shard_paths("validation"), seq_len=64)
    batch = examples.batch(range(12))
    with torch.no_grad():
        loss = LMWithLoss(model)(batch.input_ids, batch.labels).item()
    n = int((shift_targets(batch.labels) != IGNORE).sum())
    logged = [m for m in read_metrics(run_dir) if m["step"] == STEPS and "eval_loss" in m][0]
    assert logged["eval_tokens"] == n
    assert loss == pytest.approx(logged["eval_loss"], abs=1e-4)


def test_corrupted_shard_stops_before_step_0(fixture_root, tmp_path):
    _, root, built = fixture_root
    bad_root = tmp_path / "root"
    shutil.copytree(root, bad_root, ignore=shutil.ignore_patterns("runs"))
    shard = bad_root / built.prefix / built.record["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))

    proc = ffllm_train(write_run(tmp_path / "run.yaml"), bad_root)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert str(shard) in proc.stderr and "sha256 mismatch" in proc.stderr
    assert "step 1" not in proc.stdout
    assert not (bad_root / "runs").exists()  # nothing was written, nothing started
