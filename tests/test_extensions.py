"""DeepSpeed's JIT op build: a lock left by a killed compile must not hang the next run."""

import os
import subprocess
import sys
import textwrap
import time

from ffllm.train.extensions import STALE_S, default_extensions_dir, remove_stale_batons


def test_only_batons_older_than_a_build_check_are_stale(tmp_path):
    now = time.time()
    old, fresh = tmp_path / "op_a" / "lock", tmp_path / "op_b" / "lock"
    for baton, age in ((old, STALE_S + 60), (fresh, 1.0)):
        baton.parent.mkdir()
        baton.touch()
        os.utime(baton, (now - age, now - age))
    assert remove_stale_batons(tmp_path, now) == [old]
    assert not old.exists() and fresh.exists()


def test_a_build_lock_left_by_a_killed_compile_does_not_hang_init_distributed():
    """The exact sequence of `ffllm train`: environment, prebuild, DeepSpeed's init. Before,
    torch's FileBaton waited forever on the leftover `lock` file."""
    ext_dir = default_extensions_dir()  # the suite's own cache: the op is built once
    baton = ext_dir / "deepspeed_shm_comm" / "lock"
    baton.parent.mkdir(parents=True, exist_ok=True)
    baton.touch()
    past = time.time() - 600
    os.utime(baton, (past, past))
    script = textwrap.dedent(
        """
        from ffllm.train.trainer import prepare_environment
        from ffllm.train.extensions import prebuild_ops
        prepare_environment()
        prebuild_ops()
        import deepspeed
        deepspeed.init_distributed()
        print("initialized")
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_EXTENSIONS_DIR", "RANK")}
    env["DS_ACCELERATOR"] = "cpu"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "initialized" in out.stdout
    assert f"removed {baton}" in out.stderr
    assert not baton.exists()
