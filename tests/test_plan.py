"""`ffllm plan` against the card and against measured peaks (ENVIRONMENT.md, one H200)."""

import json
import subprocess
import sys

import pytest

from ffllm.plan import GIB, max_micro, n_params, plan


def test_param_count_is_the_ff_config():
    assert n_params(2048, 38, 1024) == 2_018_641_920


def test_card_case_2b_on_8x24gb_zero2_fits():
    # The card trained the 2.02B model on 8 × 24 GB with ZeRO-2.
    kw = dict(model="2b", gpus=8, gpu_mem_gib=24, zero=2)
    card = plan(micro=4, **kw)
    assert card.fits(checkpointing=True)
    assert max_micro(True, **kw) >= 4
    # ZeRO-2 partitions gradients and optimizer states: 12N/8 bytes of fp32 state per GPU.
    assert card.rows["optimizer_fp32"] == pytest.approx(12 * card.params / 8, rel=1e-6)
    assert card.rows["grads_bf16"] == pytest.approx(2 * card.params / 8, rel=1e-6)
    # Without partitioning (ZeRO-0) 16 bytes/param alone is 30 GiB: it cannot fit at all.
    assert not plan(model="2b", gpus=8, gpu_mem_gib=24, zero=0, micro=1).fits(True)


@pytest.mark.parametrize(
    "compiled, measured_gib",
    [(False, 68), (True, 54)],  # DeepSpeed ZeRO-2 eager / + compile, micro 8, seq 1024
)
def test_matches_measured_h200_peaks(compiled, measured_gib):
    # The measured runs used DeepSpeed's default 5e8-element buckets and the HF loss.
    pl = plan(
        model="2b",
        gpus=1,
        gpu_mem_gib=141,
        zero=2,
        micro=8,
        compiled=compiled,
        loss="hf",
        reduce_bucket=5e8,
        allgather_bucket=5e8,
        overlap_comm=False,
    )
    assert pl.peak(checkpointing=False) / GIB == pytest.approx(measured_gib, rel=0.07)


def test_checkpointing_and_chunked_loss_shrink_activations():
    base = dict(model="2b", gpus=8, gpu_mem_gib=24, zero=2, micro=8)
    plain = plan(**base)
    assert plain.activations_ckpt < plain.activations / 5
    assert plan(**base, loss="chunked").activations < plan(**base, loss="hf").activations
    assert not plain.fits(False) and plain.fits(True)


def test_cli_prints_table_and_json():
    cmd = [sys.executable, "-m", "ffllm", "plan", "--model", "2b", "--gpus", "8"]
    cmd += ["--gpu-mem", "24", "--zero", "2", "--micro", "4"]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "2,018,641,920 params" in text and "verdict" in text and "fits" in text
    data = json.loads(
        subprocess.run(cmd + ["--json"], capture_output=True, text=True, check=True).stdout
    )
    assert data["fits"]["ckpt"] is True and data["max_micro"]["ckpt"] >= 4
    bad = subprocess.run(cmd[:4] + ["--model", "7b"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown model preset '7b'" in bad.stderr
