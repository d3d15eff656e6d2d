"""bench/train_mfu.py on CPU (tiny preset): it times `ffllm train` itself next to the
DeepSpeed-eager baseline on the same data, and prints one JSON object."""

import json
import os
import subprocess
import sys

import pytest

from ffllm.plan import n_params
from ffllm.train.config import PRESETS
from ffllm.train.model import flops_per_token
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
    # the clock covers exactly the timed steps (1 here) and MFU is 6N + 12·L·d·T per token
    tiny = PRESETS["tiny"]
    flops = flops_per_token(n_params(64, 2, tiny["n_positions"]), 2, 64, out["seq"])
    for r in (ours, base):
        assert r["steps_timed"] == 1 and r["mfu_vs_spec"] is None  # no H200 spec on a CPU
        tokens = r["tokens_per_s"] * r["step_s"] * r["steps_timed"]
        assert tokens == pytest.approx(out["global_batch"] * out["seq"], rel=1e-9)
        mfu = r["tokens_per_s"] * flops / (out["peak_tflops"]["measured"] * 1e12)
        assert r["mfu_vs_measured"] == pytest.approx(mfu, rel=1e-9)
    assert out["peak_tflops"]["measured"] > 0 and out["peak_tflops"]["spec"] is None  # CPU
