"""`ffllm plan` against the card and against measured peaks (ENVIRONMENT.md, one H200), and
`ffllm plan --manifest` on the shipped run manifests."""

import json
import subprocess
import sys

import pytest
import yaml

from ffllm.plan import GIB, lora_params, max_micro, n_params, plan, plan_run, render_run
from ffllm.train.config import PRESETS, deep_merge, load_run, parse_run
from tests.train_fixtures import REPO

MANIFESTS = REPO / "manifests" / "train"
STAGE1 = MANIFESTS / "ff_stage1_pretrain.yaml"


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
    assert card.rows["grads"] == pytest.approx(2 * card.params / 8, rel=1e-6)
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


# --- run manifests (ffllm plan --manifest) -----------------------------------------------------


def ffllm_plan(*args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ffllm", "plan", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)


def stage1_with(**overrides):
    """The stage-1 manifest with some sections changed (merged key by key)."""
    return parse_run(deep_merge(yaml.safe_load(STAGE1.read_text()), overrides), "stage1 variant")


def test_stage1_manifest_is_the_cards_run_and_fits_8x24gb():
    run = load_run(STAGE1)
    assert (run.stage, run.model.preset, run.data.set, run.data.seq_len) == (
        "pretrain", "2b", "pretrain_mix", 1024
    )  # fmt: skip
    tokens = run.schedule.max_steps * run.batch.global_ * run.data.seq_len
    assert 0 < 90e9 - tokens < run.batch.global_ * run.data.seq_len  # ~90B: one pass, not more
    out = ffllm_plan("--manifest", STAGE1, "--gpus", 8, "--gpu-mem", 24, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["params"] == 2_018_641_920 and data["zero"] == 2 and data["precision"] == "bf16"
    assert (data["micro"], data["accumulation"], data["global_batch"]) == (4, 16, 512)
    assert data["compiled"] and not data["activation_checkpointing"]
    assert data["fits_as_written"] and data["needed_gib_as_written"] <= 24
    assert data["needs"] == {"batch": None, "memory_one_of": []}
    assert data["max_micro"]["no_ckpt"] >= data["micro"]
    text = ffllm_plan("--manifest", STAGE1).stdout  # 8 × 24 GiB are the defaults
    assert "as written: 22.70 of 24 GiB per GPU: fits" in text


def test_a_micro_batch_that_cannot_fit_gets_what_it_needs():
    # micro 16 without checkpointing: ~44 GiB of activations on a 24 GiB GPU
    rp = plan_run(stage1_with(batch={"micro": 16}), "m16")
    assert not rp.fits and rp.batch_need is None
    assert rp.memory_needs[0].startswith("model.activation_checkpointing: true (")
    # the largest smaller micro batch that fits and that 512 splits over (8 GPUs × 4 × 16)
    assert (
        rp.memory_needs[1].startswith("batch.micro: 4 (")
        and "accumulation 16" in rp.memory_needs[1]
    )
    assert plan_run(
        stage1_with(batch={"micro": 4}, model={"activation_checkpointing": True}), ""
    ).fits
    # eager (no torch.compile) keeps ~54·s·b·h per layer: micro 4 no longer fits either
    eager = plan_run(stage1_with(runtime={"compile": "off"}), "eager")
    assert not eager.fits and eager.memory_needs[1].startswith("batch.micro: 2 (")
    # ZeRO-0 (a manifest override) holds 16 bytes per parameter: no micro batch fits
    zero0 = plan_run(stage1_with(deepspeed={"zero_optimization": {"stage": 0}}), "zero0")
    assert zero0.plan.zero == 0 and len(zero0.memory_needs) == 1
    assert zero0.memory_needs[0].startswith("a GPU with 4") and "micro 1" in zero0.memory_needs[0]
    text = render_run(zero0)
    assert "DOES NOT FIT" in text and "to fit it needs:" in text


def test_plan_manifest_cli_says_what_it_needs(tmp_path):
    manifest = tmp_path / "big_micro.yaml"
    data = deep_merge(yaml.safe_load(STAGE1.read_text()), {"batch": {"micro": 16}})
    manifest.write_text(yaml.safe_dump(data))
    out = ffllm_plan("--manifest", manifest)
    assert out.returncode == 0, out.stderr
    assert "DOES NOT FIT" in out.stdout and "to fit it needs one of:" in out.stdout
    assert "  - model.activation_checkpointing: true" in out.stdout
    # the manifest's settings are not overridden from the command line
    bad = ffllm_plan("--manifest", manifest, "--micro", 2)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --micro: --manifest plans")


@pytest.mark.parametrize("path", sorted(MANIFESTS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_run_manifest_plans(path, tmp_path, monkeypatch):
    """Every shipped run manifest plans on the card's 8 × 24 GiB without an error, and the
    full-size ones (the 2b preset, or an init: a stage of the FF line) are said to fit or
    what they need."""
    # An init is read where it is (relative to the working directory, as `ffllm train` does):
    # from an empty folder, so a champion that `just pipeline tiny` left in the checkout's
    # artifacts/ (a tiny model) is not planned in place of the FF line's stage
    monkeypatch.chdir(tmp_path)
    run = load_run(path)
    rp = plan_run(run, str(path))
    assert rp.plan.micro == run.batch.micro and rp.plan.seq == run.data.seq_len
    text = render_run(rp)
    assert "as written: " in text
    assert rp.fits or rp.memory_needs or rp.batch_need
    if run.model.init is not None:
        assert f"note: model.init {run.model.init} is not here" in text  # the size is said
    if run.lora is not None:  # only the adapters are trained and hold optimizer state
        assert 0 < rp.plan.trainable < rp.plan.params / 50


def test_tiny_manifests_say_which_gpu_counts_their_batch_splits_over():
    rp = plan_run(load_run(MANIFESTS / "tiny_repair.yaml"), "tiny_repair")  # 16 = 8 × 2
    assert rp.plan.fits(False) and not rp.fits
    assert "run it on 1, 2 GPU(s)" in rp.batch_need
    assert plan_run(load_run(MANIFESTS / "tiny_repair.yaml"), "", gpus=2).fits
    assert rp.plan.precision == "fp32" and not rp.kwargs["compiled"]  # as the manifest says


def test_an_init_checkpoint_is_planned_at_its_own_size(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "vocab_size": 50257} | PRESETS["124m"])
    )
    run = stage1_with()
    run.model.preset, run.model.init = None, str(tmp_path)
    rp = plan_run(run, "")
    assert rp.plan.params == n_params(768, 12, 1024) and not rp.notes
    assert plan_run(run, "", model="2b").plan.params == 2_018_641_920  # --model wins, said so


def test_an_init_not_trained_yet_is_planned_at_its_source_runs_size(tmp_path, monkeypatch):
    """An export of another run (runs/<name>/hf/ckpt-N) has that run's size; an init that is
    no run's export (artifacts/champions/latest: a stage of the FF line) is the 2b preset."""
    monkeypatch.chdir(tmp_path)  # no artifacts/ here (see test_every_run_manifest_plans)
    base = yaml.safe_load((MANIFESTS / "tiny_repair.yaml").read_text())
    (tmp_path / "base.yaml").write_text(
        yaml.safe_dump(deep_merge(base, {"name": "base", "model": {"preset": "124m"}}))
    )
    later = deep_merge(base, {"name": "later", "model": {"preset": None}})
    later["model"]["init"] = "artifacts/runs/base/hf/ckpt-60"
    (tmp_path / "later.yaml").write_text(yaml.safe_dump(later))
    rp = plan_run(load_run(tmp_path / "later.yaml"), str(tmp_path / "later.yaml"))
    assert rp.plan.params == n_params(768, 12, 1024)
    assert rp.notes == ["model.init artifacts/runs/base/hf/ckpt-60 is not here: planned as run "
                        "base's model (124m)"]  # fmt: skip
    ff313 = plan_run(
        load_run(MANIFESTS / "ff313_repair.yaml"), str(MANIFESTS / "ff313_repair.yaml")
    )
    assert ff313.plan.params == 2_018_641_920 and "planned as the 2b preset" in ff313.notes[0]
    assert ff313.fits  # the card's stage 7 on 8 × 24 GiB: micro 4, accumulation 4


def test_lora_parameter_count_is_peft_s():
    from ffllm.train.config import LoraSpec
    from ffllm.train.model import build_model
    from ffllm.train.trainer import add_lora

    spec = LoraSpec(r=4, target_modules=["c_attn", "c_proj", "c_fc"])
    model = add_lora(build_model("tiny", None), spec)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    tiny = PRESETS["tiny"]
    assert lora_params(tiny["n_embd"], tiny["n_layer"], 4, spec.target_modules) == trained
