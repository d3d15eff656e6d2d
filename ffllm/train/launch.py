"""Starting more than one rank: `ffllm train MANIFEST --nproc N [--hostfile FILE]`.

One machine: torchrun (`python -m torch.distributed.run --standalone`) starts N local ranks,
each running `python -m ffllm train MANIFEST …` with RANK, LOCAL_RANK, WORLD_SIZE and the
rendezvous address set; DeepSpeed then takes gloo on CPU and NCCL on GPUs.

Several machines: the DeepSpeed launcher reads a hostfile (`host slots=N` per line), reaches
every host over ssh (pdsh) and starts N ranks on each, the first host being the rendezvous
master. Without ssh between hosts (Slurm), `--node-rank R` starts only host R's ranks and the
same command runs on every host (DeepSpeed's --no_ssh). Every host needs the same checkout,
environment and paths (and the sets under the same root, or an s3:// root). `--dry-run` prints
the command instead of running it.

The manifest is checked here before anything starts, including that its global batch splits
over the ranks (batch.global = micro × ranks × accumulation).
"""

import shutil
import subprocess
import sys
from pathlib import Path

from ffdata.errors import FFDataError
from ffllm.train.config import RunManifest

DEFAULT_MASTER_PORT = 29500


def train_args(manifest: str, root: str | None, runs_dir: str | None) -> list[str]:
    """The `ffllm train` arguments every rank gets (never --nproc: a rank starts no ranks)."""
    args = ["-m", "ffllm", "train", manifest]
    if root is not None:
        args += ["--root", root]
    if runs_dir is not None:
        args += ["--runs-dir", runs_dir]
    return args


def local_command(args: list[str], nproc: int) -> list[str]:
    """torchrun on this machine; --standalone picks a free rendezvous port itself."""
    return [
        sys.executable, "-m", "torch.distributed.run",
        "--standalone", "--nnodes", "1", "--nproc_per_node", str(nproc),
        *args,
    ]  # fmt: skip


def read_hostfile(path: str | Path) -> list[tuple[str, int]]:
    """(host, slots) per line of a DeepSpeed hostfile; `#` starts a comment."""
    path = Path(path)
    if not path.is_file():
        raise FFDataError(f"{path}: hostfile not found")
    hosts = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].startswith("slots=") or not parts[1][6:].isdigit():
            raise FFDataError(f"{path}: line {number}: expected 'HOST slots=N', found {line!r}")
        hosts.append((parts[0], int(parts[1][6:])))
    if not hosts:
        raise FFDataError(f"{path}: no hosts")
    if len({h for h, _ in hosts}) != len(hosts):
        raise FFDataError(f"{path}: a host is listed twice")
    return hosts


def multinode_command(
    args: list[str],
    nproc: int,
    hostfile: str | Path,
    master_port: int = DEFAULT_MASTER_PORT,
    node_rank: int | None = None,
) -> list[str]:
    """The DeepSpeed launcher over every host of the hostfile, `nproc` ranks on each.

    With `node_rank` it starts only that host's ranks, without ssh (DeepSpeed's --no_ssh): the
    same command runs on every host (e.g. under srun, with $SLURM_NODEID)."""
    hosts = read_hostfile(hostfile)
    short = [h for h, slots in hosts if slots < nproc]
    if short:
        raise FFDataError(f"{hostfile}: --nproc {nproc} is more than the slots of {short}")
    if node_rank is not None and not 0 <= node_rank < len(hosts):
        raise FFDataError(f"{hostfile}: --node-rank {node_rank} with {len(hosts)} host(s)")
    own = [] if node_rank is None else ["--no_ssh", "--node_rank", str(node_rank)]
    launcher = shutil.which("deepspeed") or str(Path(sys.executable).parent / "deepspeed")
    return [
        launcher, "--hostfile", str(hostfile), "--num_nodes", str(len(hosts)),
        "--num_gpus", str(nproc), "--master_addr", hosts[0][0], "--master_port", str(master_port),
        *own, "--no_local_rank", "--module", *args[1:],  # the launcher adds `python -u -m`
    ]  # fmt: skip


def world_size(nproc: int, hostfile: str | Path | None) -> int:
    return nproc * (len(read_hostfile(hostfile)) if hostfile else 1)


def check_batch(run: RunManifest, world: int) -> None:
    """The global batch must split over the ranks: one clear error before anything starts."""
    run.batch.accumulation(world)


def launch(command: list[str]) -> int:
    """Run the launcher in the foreground; its exit status is the run's."""
    return subprocess.run(command).returncode
