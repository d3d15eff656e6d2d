"""DeepSpeed's JIT-built ops: where they are cached, and building them without hanging.

On CPU, `deepspeed.init_distributed()` compiles a shared-memory comm op (~40 s, once per
environment). torch builds each op in `TORCH_EXTENSIONS_DIR/<op>/` and guards the build with a
plain `lock` file (torch.utils.file_baton.FileBaton). A process killed while compiling (Ctrl-C
during the first `ffllm train`) leaves that file behind, and every later run then waits on it
forever, without a word.

`prebuild_ops()` builds the op before DeepSpeed asks for it, holding an flock on
`TORCH_EXTENSIONS_DIR/.ffllm.lock`; the kernel releases an flock when its holder dies. ffllm
builds ops only under that flock, so a `lock` file seen while holding it was either left by a
dead process or belongs to a run that is only checking its finished build (well under a
second). One older than STALE_S is removed, with a warning. DeepSpeed's own call then finds
the op built.

The default folder is per environment (interpreter prefix, torch and DeepSpeed versions). Each
venv writes its own include paths into build.ninja, so two venvs sharing one folder would
rebuild the op in turn.
"""

import hashlib
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

from ffdata.locks import locked

STALE_S = 30.0
FLOCK_NAME = ".ffllm.lock"


def default_extensions_dir() -> Path:
    env = f"{sys.prefix}|{version('torch')}|{version('deepspeed')}"
    key = hashlib.sha256(env.encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "ffllm" / "torch_extensions" / key


def remove_stale_batons(ext_dir: Path, now: float | None = None) -> list[Path]:
    """Remove build `lock` files older than STALE_S (call only while holding the flock)."""
    now = time.time() if now is None else now
    removed = []
    for baton in sorted(ext_dir.glob("*/lock")):
        try:
            if now - baton.stat().st_mtime > STALE_S:
                baton.unlink()
                removed.append(baton)
        except FileNotFoundError:  # its holder finished meanwhile
            pass
    return removed


def prebuild_ops() -> None:
    """Build (or check) the op `deepspeed.init_distributed()` needs, under the flock."""
    from deepspeed.comm.torch import build_shm_op

    ext_dir = Path(os.environ.get("TORCH_EXTENSIONS_DIR") or default_extensions_dir())
    with locked(ext_dir / FLOCK_NAME):  # waits while another ffllm run is building
        for baton in remove_stale_batons(ext_dir):
            print(f"ffllm: removed {baton}, left by a build that was killed", file=sys.stderr)
        build_shm_op()
