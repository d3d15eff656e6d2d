"""bench/train_mfu.py on CPU (tiny preset): it times `ffllm train` itself next to the
DeepSpeed-eager baseline on the same data, and prints one JSON object."""

import json
import os
import subprocess
import sys

from tests.train_fixtures import REPO


def test_train_mfu_bench_times_ffllm_train_on_the_baselines_data():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")
    cmd = [sys.executable, "bench/train_mfu.py", "--tiny", "--device", "cpu", "--steps", "1"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)  # stdout holds the JSON alone
    ours, base = out["variants"]["ffllm_train"], out["variants"]["deepspeed_eager"]
    # the trainer's own loop ran: warm-up, timed and the one extra step its clock needs
    assert ours["logged_steps"] == [1, 2, 3]
    assert ours["deepspeed_config"]["gradient_allreduce_op"] == "sum"  # the generated config
    assert "gradient_allreduce_op" not in base["deepspeed_config"]  # the stock one
    # same seeded weights, same blocks in the same order: the same first-step loss
    assert out["first_loss_rel_diff"] < 1e-5
    assert ours["first_loss"] > 10.0  # ln(50257) = 10.8: a fresh model
    for r in (ours, base):
        assert r["tokens_per_s"] > 0 and 0 < r["mfu_vs_measured"] and r["mfu_vs_spec"] is None
    assert out["peak_tflops"]["measured"] > 0 and out["peak_tflops"]["spec"] is None  # CPU
