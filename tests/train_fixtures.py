"""Run manifests for the trainer tests, derived from the shipped manifests/train/tiny_repair.yaml.

The tests train on the real repair_blocks set (the session fixture `repair_blocks` in
conftest.py builds it with the real builder), so `just train tiny_repair` is what they run:
the same model, data, optimizer and batch, with a shorter schedule so a CPU run takes seconds.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ffllm.train.config import deep_merge

REPO = Path(__file__).resolve().parent.parent
TINY_REPAIR = REPO / "manifests" / "train" / "tiny_repair.yaml"

# 12 steps instead of 60; a checkpoint and an eval every 4 steps instead of 20.
CPU_TEST = {
    "schedule": {"max_steps": 12},
    "checkpoint": {"every": 4},
    "eval": {"every": 4},
}


def write_run(path: Path, base: Path = TINY_REPAIR, **overrides) -> Path:
    """tiny_repair.yaml with the CPU test schedule, then `overrides` (merged section by section)."""
    run = deep_merge(yaml.safe_load(base.read_text()), CPU_TEST if base == TINY_REPAIR else {})
    run = deep_merge(run, overrides)
    path.write_text(yaml.safe_dump(run, sort_keys=False))
    return path


def ffllm_train_command(
    manifest: Path, root: Path, runs: Path, env_extra: dict | None = None, nproc: int = 1
):
    """(argv, environment) of an `ffllm train` run (`--nproc N`: N local ranks, torchrun)."""
    rendezvous = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in rendezvous}
    # One thread: on a small shared CI box, two OpenMP threads make these tiny ops 4× slower.
    env["OMP_NUM_THREADS"] = "1"
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "ffllm", "train", str(manifest), "--root", str(root)]
    cmd += ["--runs-dir", str(runs)] + (["--nproc", str(nproc)] if nproc > 1 else [])
    return cmd, env


def ffllm_train(
    manifest: Path, root: Path, runs: Path, env_extra: dict | None = None, nproc: int = 1
):
    cmd, env = ffllm_train_command(manifest, root, runs, env_extra, nproc)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
