"""Training on more than one rank: `ffllm train MANIFEST --nproc 2` on CPU (torchrun, gloo,
DeepSpeed ZeRO-2), against the same run on one rank, and killed and resumed.

Kept small for a 2-core CI box: a tiny GPT-2 on a 64-row GSM8K SFT set built by the real
builder, 4 steps of 8 sequences (micro 4: one rank accumulates 2 micro batches, two ranks take
one each), a checkpoint every 2 steps. Dropout is 0: each rank draws its own dropout masks, so
with dropout one rank and two ranks would train on different masks, not differently summed
gradients of the same ones.
"""

import json
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ffdata.build import build_set
from ffllm.train.trainer import KILL_ENV
from tests.conftest import write_gsm8k_manifest
from tests.train_fixtures import (
    REPO,
    ffllm_train,
    ffllm_train_command,
    read_metrics,
    write_run,
)

STEPS, KILL_AT = 4, 3  # checkpoints at 2 and 4: the killed run resumes from ckpt-2
RUN = "tiny_ranks"
MANIFESTS = REPO / "manifests" / "train"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deterministic(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("tokens_per_s", "mfu")} for r in records]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(manifest, root): a 64-row gsm8k_sft set and a tiny run over it."""
    base = tmp_path_factory.mktemp("ranks")
    recipe = write_gsm8k_manifest(base / "project", rows=64, rows_per_shard=64)
    build_set("gsm8k_sft", recipe, root=str(base / "root"), quiet=True)
    manifest = write_run(
        base / "run.yaml",
        name=RUN,
        model={"dropout": 0.0},
        data={"set": "gsm8k_sft", "train_parts": ["train"], "eval_part": None},
        schedule={"max_steps": STEPS},
        checkpoint={"every": 2},
        batch={"micro": 4, "global": 8},
    )
    return manifest, base / "root"


@pytest.fixture(scope="module")
def runs(setup, tmp_path_factory):
    """The same run on one rank and on two: {nproc: run directory}."""
    manifest, root = setup
    out = {}
    for nproc in (1, 2):
        runs_dir = tmp_path_factory.mktemp(f"nproc{nproc}")
        proc = ffllm_train(manifest, root, runs_dir, nproc=nproc)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.count(f"run: {runs_dir / RUN}") == 1  # printed by rank 0 only
        out[nproc] = runs_dir / RUN
    return out


def optimizer_shards(ckpt: Path) -> list[dict]:
    return [
        torch.load(p, map_location="cpu", weights_only=False)["optimizer_state_dict"]
        for p in sorted(ckpt.glob("zero_pp_rank_*_mp_rank_00_optim_states.pt"))
    ]


def test_two_ranks_log_the_losses_of_one_rank(runs):
    one, two = (read_metrics(runs[n]) for n in (1, 2))
    assert [m["step"] for m in one] == [m["step"] for m in two] == list(range(1, STEPS + 1))
    for a, b in zip(one, two, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-3), (a, b)
        assert b["tokens"] == a["tokens"]  # the same sequences, split over the ranks
        assert b["lr"] == a["lr"]
    assert one[-1]["loss"] < one[0]["loss"]  # it trains
    worlds = [json.loads((runs[n] / "run.json").read_text())["world_size"] for n in (1, 2)]
    assert worlds == [1, 2]


def test_zero2_splits_the_optimizer_state_in_halves_across_two_ranks(runs):
    """ZeRO-2 partitions the fp32 master weights and Adam's moments: each of the two ranks'
    checkpoint shards holds one half of every parameter group, rank 0 the first, and the two
    halves put together are the one-rank run's state (trained on the same batches)."""
    (whole,) = optimizer_shards(runs[1] / f"ckpt-{STEPS}")
    halves = optimizer_shards(runs[2] / f"ckpt-{STEPS}")
    assert len(halves) == 2 and whole["partition_count"] == [1, 1]
    assert [h["partition_count"] for h in halves] == [[2, 2], [2, 2]]  # both groups split in 2
    for g, flat in enumerate(whole["single_partition_of_fp32_groups"]):
        parts = [h["single_partition_of_fp32_groups"][g] for h in halves]
        assert parts[0].numel() == parts[1].numel() == -(-flat.numel() // 2)
        n = flat.numel()  # the last half may carry alignment padding
        torch.testing.assert_close(torch.cat(parts)[:n], flat, rtol=0, atol=1e-5)
        for key in ("exp_avg", "exp_avg_sq"):
            moments = [h["base_optimizer_state"]["state"][g][key] for h in halves]
            assert moments[0].numel() == parts[0].numel()
            want = whole["base_optimizer_state"]["state"][g][key]
            torch.testing.assert_close(torch.cat(moments)[:n], want, rtol=1e-3, atol=1e-8)


def test_two_rank_run_killed_and_resumed_logs_the_same_losses(setup, runs, tmp_path):
    """Killed under torchrun (--nproc 2), resumed through the multi-node path: the DeepSpeed
    launcher on a one-host hostfile, that host's ranks started without ssh (--node-rank 0, as
    under srun). Both launchers give each rank the same RANK/WORLD_SIZE, so the resumed run must
    continue the killed one exactly."""
    manifest, root = setup
    runs_dir = tmp_path / "runs"
    killed = ffllm_train(manifest, root, runs_dir, {KILL_ENV: str(KILL_AT)}, nproc=2)
    assert killed.returncode != 0
    assert f"Signal {signal.SIGKILL}" in killed.stderr or "SIGKILL" in killed.stderr
    run_dir = runs_dir / RUN
    assert (run_dir / "latest").read_text().strip() == "ckpt-2"
    assert max(m["step"] for m in read_metrics(run_dir)) == KILL_AT

    hostfile = tmp_path / "hostfile"
    hostfile.write_text("localhost slots=2\n")
    cmd, env = ffllm_train_command(manifest, root, runs_dir, nproc=2)
    cmd += ["--hostfile", str(hostfile), "--node-rank", "0", "--master-port", str(free_port())]
    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # DeepSpeed's runner logs the per-host launch it ran (to stdout or stderr, by its logger)
    assert "-m deepspeed.launcher.launch --world_info=" in resumed.stdout + resumed.stderr
    assert f"resumed {RUN} at step 2" in resumed.stdout
    # step 3 is redone (its line replaced), step 4 is new: both as in the uninterrupted run
    assert deterministic(read_metrics(run_dir)) == deterministic(read_metrics(runs[2]))


# --- launch lines (generated and parsed by the launchers' own argument parsers, not run) -------


def launch_line(capsys, *args) -> list[str]:
    from ffllm.cli import app

    with pytest.raises(SystemExit) as exit_info:
        app(["train", *map(str, args), "--dry-run"], prog_name="ffllm")
    assert exit_info.value.code in (0, None)
    # the command is the last line: without DS_ACCELERATOR set, DeepSpeed's import logs its
    # accelerator choice to stdout first
    return shlex.split(capsys.readouterr().out.strip().splitlines()[-1])


def test_local_launch_line_is_torchrun(capsys, monkeypatch):
    from torch.distributed.run import parse_args

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    manifest = MANIFESTS / "tiny_repair.yaml"
    cmd = launch_line(capsys, manifest, "--nproc", 2, "--root", "R", "--runs-dir", "D")
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    args = parse_args(cmd[3:])
    assert args.standalone and args.nnodes == "1" and args.nproc_per_node == "2"
    assert args.module and args.training_script == "ffllm"
    assert args.training_script_args == ["train", str(manifest), "--root", "R", "--runs-dir", "D"]


def test_multinode_launch_line_is_the_deepspeed_launcher(capsys, monkeypatch, tmp_path):
    from deepspeed.launcher.runner import parse_args

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("# the card's stage 7 on two 8-GPU nodes\nnode-a slots=8\nnode-b slots=8\n")
    manifest = MANIFESTS / "ff313_repair.yaml"  # 128 = micro 4 × 16 ranks × accumulation 2
    cmd = launch_line(capsys, manifest, "--nproc", 8, "--hostfile", hostfile, "--root", "s3://b/ff")
    assert Path(cmd[0]).name == "deepspeed"
    args = parse_args(cmd[1:])
    assert (args.hostfile, args.num_nodes, args.num_gpus) == (str(hostfile), 2, 8)
    assert (args.master_addr, args.master_port) == ("node-a", 29500)
    assert args.module and args.no_local_rank and args.user_script == "ffllm"
    assert args.user_args == ["train", str(manifest), "--root", "s3://b/ff"]
    assert not args.no_ssh  # the launcher reaches node-b over ssh (pdsh)

    # without ssh (Slurm: the same command on every node, each starting its own 8 ranks)
    cmd = launch_line(capsys, manifest, "--nproc", 8, "--hostfile", hostfile, "--node-rank", 1)
    args = parse_args(cmd[1:])
    assert args.no_ssh and args.node_rank == 1 and args.num_nodes == 2
    assert args.user_args == ["train", str(manifest)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--nproc", "3"], "batch.global 16 is not a multiple of micro 8 × 3 GPU(s)"),
        (["--nproc", "9", "--hostfile", "{hosts}"], "--nproc 9 is more than the slots of"),
        (["--hostfile", "{bad}"], "line 2: expected 'HOST slots=N', found 'node-b 8'"),
        (["--hostfile", "{hosts}", "--node-rank", "2"], "--node-rank 2 with 2 host(s)"),
        (["--nproc", "2", "--node-rank", "0"], "--node-rank needs --hostfile"),
    ],
)
def test_launch_errors_are_one_line(capsys, monkeypatch, tmp_path, args, message):
    from ffllm.cli import app

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "hosts").write_text("node-a slots=8\nnode-b slots=8\n")
    (tmp_path / "bad").write_text("node-a slots=8\nnode-b 8\n")
    args = [a.format(hosts=tmp_path / "hosts", bad=tmp_path / "bad") for a in args]
    with pytest.raises(SystemExit) as exit_info:
        app(["train", str(MANIFESTS / "tiny_repair.yaml"), *args], prog_name="ffllm")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert message in err


def test_a_rank_does_not_start_ranks(capsys, monkeypatch):
    from ffllm.cli import app

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as exit_info:
        app(["train", str(MANIFESTS / "tiny_repair.yaml"), "--nproc", "2"], prog_name="ffllm")
    assert exit_info.value.code == 2
    assert "this process already is rank 1 of 2" in capsys.readouterr().err
