"""End-to-end runs of `ffllm train` on CPU (DeepSpeed ZeRO-2 over gloo, fp32, tiny GPT-2).

Real subprocesses on the real repair_blocks set (built by its builder, conftest.py) with
manifests/train/tiny_repair.yaml: an uninterrupted run, a run SIGKILLed after step 5 and
resumed (per-step losses must be bitwise equal), the HF export loaded and generating, and a
corrupted shard that must stop the run before step 0.
"""

import hashlib
import json
import shutil
import signal
from pathlib import Path

import pytest
import torch

from ffllm.eval.common import weights_sha256
from ffllm.train.trainer import KILL_ENV
from tests.train_fixtures import REPO, ffllm_train, ffllm_train_command, read_metrics, write_run

STEPS, KILL_AT = 12, 5  # checkpoints every 4: the killed run resumes from ckpt-4
RUN = "tiny_repair"


def deterministic(records: list[dict]) -> list[dict]:
    """Everything but the timings."""
    return [{k: v for k, v in r.items() if k not in ("tokens_per_s", "mfu")} for r in records]


def set_root(built) -> Path:
    return Path(built.storage.root)


@pytest.fixture(scope="module")
def full_run(repair_blocks, tmp_path_factory):
    base = tmp_path_factory.mktemp("train")
    proc = ffllm_train(write_run(base / "run.yaml"), set_root(repair_blocks), base / "runs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return base / "runs" / RUN, proc


def test_loss_falls_on_real_repair_blocks(repair_blocks, full_run):
    run_dir, proc = full_run
    metrics = read_metrics(run_dir)
    train = [m for m in metrics if "loss" in m]
    evals = [m for m in metrics if "eval_loss" in m]
    assert [m["step"] for m in train] == list(range(1, STEPS + 1))
    assert [m["step"] for m in evals] == [4, 8, 12]
    first, last = train[0]["loss"], train[-1]["loss"]
    assert first > 10.0  # ln(50257) = 10.8: a fresh model
    assert last < first - 1.5, [m["loss"] for m in train]
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"] - 1.0, evals
    assert evals[-1]["eval_loss"] < first - 1.5
    for m in train:
        assert m["grad_norm"] > 0 and m["tokens"] > 0 and m["tokens_per_s"] > 0
        assert 0 < m["mfu"] < 1
    # tiny_repair.yaml: lr 3e-3, warmup 5 steps, then cosine towards min_lr 3e-4
    assert [m["lr"] for m in train[:5]] == pytest.approx([6e-4, 1.2e-3, 1.8e-3, 2.4e-3, 3e-3])
    assert train[-1]["lr"] > 3e-4 and all(
        a["lr"] >= b["lr"] for a, b in zip(train[4:], train[5:], strict=False)
    )
    resolved = json.loads((run_dir / "run.json").read_text())
    assert resolved["sets"] == {
        "train": repair_blocks.fingerprint,
        "eval": repair_blocks.fingerprint,
    }
    by_part = repair_blocks.record["counts"]["by_part"]
    assert resolved["examples"] == {
        "train": by_part["A"] + by_part["B"] + by_part["D"],
        "eval": by_part["validation"],
    }
    assert resolved["run"]["data"]["train_parts"] == ["A", "B", "D"]
    assert resolved["deepspeed"]["zero_optimization"]["stage"] == 2
    steps = [4, 8, 12]
    assert sorted(p.name for p in run_dir.glob("ckpt-*")) == sorted(f"ckpt-{s}" for s in steps)
    assert sorted(p.name for p in (run_dir / "hf").iterdir()) == sorted(f"ckpt-{s}" for s in steps)
    assert (run_dir / "latest").read_text().strip() == f"ckpt-{STEPS}"


def test_kill_and_resume_is_bitwise_exact(repair_blocks, full_run, tmp_path):
    full_dir, _ = full_run
    manifest = write_run(tmp_path / "run.yaml")
    runs = tmp_path / "runs"  # the same set and manifest, a second run directory

    killed = ffllm_train(manifest, set_root(repair_blocks), runs, {KILL_ENV: str(KILL_AT)})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    run_dir = runs / RUN
    assert (run_dir / "latest").read_text().strip() == "ckpt-4"
    assert max(m["step"] for m in read_metrics(run_dir)) == KILL_AT

    resumed = ffllm_train(manifest, set_root(repair_blocks), runs)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed {RUN} at step 4" in resumed.stdout
    # Step 5 is redone (its line replaced), 6..12 are new: all equal to the uninterrupted run.
    assert deterministic(read_metrics(run_dir)) == deterministic(read_metrics(full_dir))
    final = f"hf/ckpt-{STEPS}/model.safetensors"
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(full_dir / final) == digest(run_dir / final)


def test_hf_export_loads_and_generates(repair_blocks, full_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ffdata.records import render_prompt
    from ffllm.train.data import load_sft
    from ffllm.train.loss import IGNORE, shift_targets
    from ffllm.train.model import LMWithLoss

    run_dir, _ = full_run
    export = run_dir / "hf" / f"ckpt-{STEPS}"
    model = AutoModelForCausalLM.from_pretrained(export)
    tok = AutoTokenizer.from_pretrained(export)
    model.eval()

    prompt = render_prompt("Who wrote the play Hamlet?")
    ids = tok(prompt, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.eos_token_id)
    assert out.shape[1] > ids.shape[1]
    assert isinstance(tok.decode(out[0, ids.shape[1] :]), str)

    # The export is the trained model: its validation loss is the one the run logged at the end
    # (tiny_repair.yaml: eval.max_batches 10 of micro 8, the first 80 validation examples).
    run = json.loads((run_dir / "run.json").read_text())["run"]
    n_eval = run["eval"]["max_batches"] * run["batch"]["micro"]
    examples = load_sft(repair_blocks.shard_paths("validation"), seq_len=run["data"]["seq_len"])
    batch = examples.batch(range(n_eval))
    with torch.no_grad():
        loss = LMWithLoss(model)(batch.input_ids, batch.labels).item()
    n = int((shift_targets(batch.labels) != IGNORE).sum())
    logged = [m for m in read_metrics(run_dir) if m["step"] == STEPS and "eval_loss" in m][0]
    assert logged["eval_tokens"] == n
    assert loss == pytest.approx(logged["eval_loss"], abs=1e-4)


def test_corrupted_shard_stops_before_step_0(repair_blocks, tmp_path, capsys):
    """The real CLI, in this process: verification comes before DeepSpeed is even imported."""
    from ffllm.cli import app

    bad_root = tmp_path / "root"
    shutil.copytree(set_root(repair_blocks), bad_root)
    shard = bad_root / repair_blocks.prefix / repair_blocks.record["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))

    manifest = write_run(tmp_path / "run.yaml")
    with pytest.raises(SystemExit) as exit_info:
        app(["train", str(manifest), "--root", str(bad_root)], prog_name="ffllm")
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1
    assert str(shard) in err and "sha256 mismatch" in err
    assert "step 1" not in out
    assert not (bad_root / "runs").exists()  # nothing was written, nothing started


def test_logit_distillation_run(repair_blocks, full_run, tmp_path):
    """Stage distill with a teacher (the full run's export): the logged loss of step 1 is the
    distillation loss of a fresh student on the first batch of the data order."""
    from ffllm.train.data import epoch_order, load_sft, micro_batches, step_indices
    from ffllm.train.distill import DistillLM
    from ffllm.train.loss import labelled_count
    from ffllm.train.model import build_model

    teacher_dir = full_run[0] / "hf" / f"ckpt-{STEPS}"
    spec = {"teacher": str(teacher_dir), "alpha": 0.5, "temperature": 2.0}
    manifest = write_run(
        tmp_path / "run.yaml",
        name="tiny_distill",
        stage="distill",
        model={"dropout": 0.0},  # no dropout: step 1 is reproducible in this process
        data={"train_parts": ["D"], "eval_part": None},  # fewer rows to tokenize: a faster start
        distill=spec,
        schedule={"max_steps": 2},
    )
    proc = ffllm_train(manifest, set_root(repair_blocks), tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "tiny_distill"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["run"]["distill"] == spec
    assert record["teacher_weights_sha256"] == weights_sha256(teacher_dir)
    logged = read_metrics(run_dir)[0]
    assert logged["step"] == 1

    run = json.loads((run_dir / "run.json").read_text())["run"]
    examples = load_sft(repair_blocks.shard_paths("D"), seq_len=run["data"]["seq_len"])
    idx = step_indices(epoch_order(len(examples), run["seed"], 0), 0, run["batch"]["global"])
    torch.manual_seed(run["seed"])
    student = build_model("tiny", None, dropout=0.0)
    module = DistillLM(student, build_model(None, str(teacher_dir)), 0.5, 2.0)
    batches = [examples.batch(m) for m in micro_batches(idx, 0, 1, run["batch"]["micro"])]
    step_tokens = torch.tensor(sum(int(labelled_count(b.labels)) for b in batches))
    with torch.no_grad():  # each micro batch's sum over the step's labelled tokens
        losses = [module(b.input_ids, b.labels, step_tokens) for b in batches]
    assert logged["loss"] == pytest.approx(sum(losses).item(), abs=1e-5)


def test_a_second_start_of_a_running_run_stops_with_an_error(repair_blocks, tmp_path):
    """Both would resume from the same checkpoint and write the same files."""
    import os
    import subprocess
    import time

    long = {"schedule": {"max_steps": 10_000}, "checkpoint": {"every": 10_000}}
    manifest = write_run(tmp_path / "run.yaml", eval={"every": 10_000}, **long)
    runs = tmp_path / "runs"
    cmd, env = ffllm_train_command(manifest, set_root(repair_blocks), runs)
    first = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (runs / RUN / "metrics.jsonl").exists():  # the first is training
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        second = ffllm_train(manifest, set_root(repair_blocks), runs)
        assert first.poll() is None  # untouched by the second
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert second.returncode == 2, second.stderr[-3000:]
    assert f"run '{RUN}' is already training in another process" in second.stderr
    assert "resumed" not in second.stdout
