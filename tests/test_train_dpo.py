"""Stage 3 DPO end to end on CPU: `ffllm train` with manifests/train/tiny_dpo.yaml runs TRL's
DPOTrainer under DeepSpeed ZeRO-2 (gloo, fp32) on dpo_v2 built by its real builder.

Every step of tiny_dpo is a full pass over the set's few pairs (up to 6: micro 3 × accumulation
2), so the logged loss and reward margin are over the same pairs at every step and their trend
is not sampling noise.
"""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from ffdata.errors import FFDataError
from ffllm.train.config import load_run
from ffllm.train.dpo import resume_point
from tests.train_fixtures import REPO, ffllm_train, read_metrics, write_run

TINY_DPO = REPO / "manifests" / "train" / "tiny_dpo.yaml"
STEPS, EVERY = 4, 2


@pytest.fixture(scope="module")
def dpo_v2(tmp_path_factory):
    from ffdata.build import build_set

    root = tmp_path_factory.mktemp("dpo_root")
    built, _ = build_set("dpo_v2", root=str(root), quiet=True)
    return built


@pytest.fixture(scope="module")
def init_model(tmp_path_factory):
    """A fresh tiny-preset GPT-2 with the project's tokenizer: the policy's start and reference."""
    from transformers import GPT2LMHeadModel

    from ffdata.tokenizer import save_hf_tokenizer
    from ffllm.train.model import preset_config

    path = tmp_path_factory.mktemp("init")
    torch.manual_seed(0)
    GPT2LMHeadModel(preset_config("tiny")).save_pretrained(path)
    save_hf_tokenizer(path)
    return path


@pytest.fixture(scope="module")
def dpo_run(dpo_v2, init_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("dpo_run")
    manifest = write_run(
        base / "tiny_dpo.yaml",
        TINY_DPO,
        model={"init": str(init_model)},
        schedule={"max_steps": STEPS},
        checkpoint={"every": EVERY},
    )
    proc = ffllm_train(manifest, Path(dpo_v2.storage.root), base / "runs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return base / "runs" / "tiny_dpo"


def test_dpo_loss_falls_and_reward_margin_grows_on_dpo_v2(dpo_run):
    train = [m for m in read_metrics(dpo_run) if "loss" in m]
    assert [m["step"] for m in train] == list(range(1, STEPS + 1))
    # Step 1 scores the policy before any update: it is the reference, so every reward is 0
    # and the sigmoid DPO loss is -log sigmoid(0) = log 2.
    assert train[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert train[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)
    early, late = train[:2], train[-2:]

    def mean(rows, key):
        return sum(m[key] for m in rows) / len(rows)

    assert mean(late, "loss") < mean(early, "loss") - 0.1, [m["loss"] for m in train]
    assert mean(late, "rewards/margins") > mean(early, "rewards/margins") + 0.3
    for m in late:  # chosen answers gained likelihood against the reference, rejected ones lost
        assert m["rewards/chosen"] > 0 > m["rewards/rejected"]
        assert m["rewards/margins"] == pytest.approx(m["rewards/chosen"] - m["rewards/rejected"])
        assert m["lr"] > 0 and m["grad_norm"] > 0


def test_dpo_runs_under_deepspeed_zero2_and_exports_checkpoints(dpo_run, dpo_v2):
    from ffllm.sweep import find_checkpoints

    record = json.loads((dpo_run / "run.json").read_text())
    assert record["deepspeed"]["zero_optimization"]["stage"] == 2
    assert record["deepspeed"]["gradient_allreduce_op"] == "mean"  # TRL's loss: a per-rank mean
    assert record["examples"]["train"] == len(dpo_v2.read_table())
    assert record["steps"]["schedule"] == STEPS and record["params"] > 0
    for step in (EVERY, STEPS):
        # the ZeRO optimizer shard is DeepSpeed's: no DeepSpeed, no such file
        shard = dpo_run / f"checkpoint-{step}" / f"global_step{step}"
        assert (shard / "zero_pp_rank_0_mp_rank_00_optim_states.pt").is_file()
    assert [p.name for p in find_checkpoints(dpo_run)] == [f"ckpt-{EVERY}", f"ckpt-{STEPS}"]


def sequence_logps(model, pairs, key: str) -> torch.Tensor:
    """Summed log-probability of each pair's `key` answer + EOT after its prompt."""
    from ffdata.tokenizer import EOT_ID, encode

    out = []
    for pair in pairs:
        prompt, answer = encode(pair["prompt"]), encode(pair[key]) + [EOT_ID]
        ids = torch.tensor([prompt + answer])
        with torch.no_grad():
            logps = model(ids).logits[0, :-1].log_softmax(-1)
        targets = ids[0, 1:]
        picked = logps.gather(1, targets[:, None])[:, 0]
        out.append(picked[len(prompt) - 1 :].sum())
    return torch.stack(out)


def test_exported_checkpoint_prefers_chosen_over_rejected_against_the_init(
    dpo_run, dpo_v2, init_model
):
    """The HF export is the trained policy: its implicit DPO reward margin against the init
    (the reference) is positive, computed here outside TRL from the exported weights."""
    from transformers import AutoModelForCausalLM

    pairs = dpo_v2.read_table().to_pylist()
    policy = AutoModelForCausalLM.from_pretrained(dpo_run / "hf" / f"ckpt-{STEPS}")
    reference = AutoModelForCausalLM.from_pretrained(init_model)
    chosen = sequence_logps(policy, pairs, "chosen") - sequence_logps(reference, pairs, "chosen")
    rejected = sequence_logps(policy, pairs, "rejected") - sequence_logps(
        reference, pairs, "rejected"
    )
    margins = 0.1 * (chosen - rejected)  # tiny_dpo's beta
    assert (margins > 0).all(), margins
    logged = [m for m in read_metrics(dpo_run) if "loss" in m]
    # the last logged margin was measured before the last update; the export is after it
    assert margins.mean().item() > logged[-2]["rewards/margins"]


def test_a_dpo_run_resumes_from_its_newest_checkpoint_exactly(dpo_run, dpo_v2, tmp_path):
    """The run as a crash after its step-2 checkpoint leaves it (the later checkpoint gone, its
    metrics lines still there) resumes at step 2 and logs the uninterrupted run's lines bit for
    bit; the same run directory with a changed manifest is refused."""
    root, runs = Path(dpo_v2.storage.root), tmp_path / "runs"
    crashed = runs / "tiny_dpo"
    shutil.copytree(dpo_run, crashed)
    shutil.rmtree(crashed / f"checkpoint-{STEPS}")
    shutil.rmtree(crashed / "hf" / f"ckpt-{STEPS}")
    manifest = dpo_run.parent.parent / "tiny_dpo.yaml"  # the dpo_run fixture's
    record = json.loads((crashed / "run.json").read_text())
    changed = {**record, "run": {**record["run"], "dpo": {**record["run"]["dpo"], "beta": 0.2}}}
    with pytest.raises(FFDataError, match="made with a different 'run'"):
        resume_point(crashed, changed)

    proc = ffllm_train(manifest, root, runs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming from {crashed / f'checkpoint-{EVERY}'}" in proc.stdout

    def logged(run_dir):  # TRL's num_tokens counts from process start: not restored on resume
        return [{k: v for k, v in m.items() if k != "num_tokens"} for m in read_metrics(run_dir)]

    assert logged(crashed) == logged(dpo_run)
    assert (crashed / "hf" / f"ckpt-{STEPS}" / "model.safetensors").is_file()


def test_two_cpu_ranks_give_the_one_rank_gradient(dpo_v2, init_model, tmp_path):
    """`--nproc 2` (torchrun, gloo, accelerate's DeepSpeed): the ranks' gradients average, as
    TRL's loss is a mean over each rank's pairs, so micro 2 on each of 2 ranks gives what micro
    2 × accumulation 2 gives on one: the same pairs, loss and gradient norm (summed gradients,
    the other stages' setting, would double it)."""
    logged = {}
    for nproc in (1, 2):
        manifest = write_run(
            tmp_path / f"ranks{nproc}.yaml",
            TINY_DPO,
            model={"init": str(init_model)},
            schedule={"max_steps": 1},
            batch={"micro": 2, "global": 4},
            checkpoint={"export_hf": False},
        )
        runs = tmp_path / f"runs{nproc}"
        proc = ffllm_train(manifest, Path(dpo_v2.storage.root), runs, nproc=nproc)
        assert proc.returncode == 0, proc.stderr[-3000:]
        (logged[nproc],) = read_metrics(runs / "tiny_dpo")
    assert logged[2]["num_tokens"] == logged[1]["num_tokens"]  # the same 4 pairs
    assert logged[2]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert logged[2]["grad_norm"] == pytest.approx(logged[1]["grad_norm"], rel=1e-5)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"dpo": {"beta": 0.1, "gamma": 1}}, "dpo.gamma: unknown key"),
        ({"dpo": {"beta": 0}}, "dpo.beta: Input should be greater than 0"),
        ({"dpo": {"loss_type": "dpo"}}, "dpo.loss_type: Input should be 'sigmoid'"),
        ({"stage": "sft"}, "'dpo' needs stage 'dpo', not 'sft'"),
        ({"model": {"init": None, "preset": "tiny"}}, "stage 'dpo' does not take model.preset"),
        ({"schedule": {"early_stop_step": 4}}, "does not take schedule.early_stop_step"),
        ({"data": {"replay": {"parts": ["train"], "share": 0.5}}}, "does not take data.replay"),
        ({"deepspeed": {"gradient_allreduce_op": "sum"}}, "gradient_allreduce_op must stay 'mean'"),
    ],
)
def test_a_bad_dpo_spec_is_a_named_error(tmp_path, override, message):
    from ffllm.train.config import deepspeed_config

    path = write_run(tmp_path / "bad.yaml", TINY_DPO, **override)
    with pytest.raises(FFDataError, match=r"bad\.yaml|gradient_allreduce_op") as err:
        deepspeed_config(load_run(path), 1, bf16=False)
    assert message in str(err.value)
