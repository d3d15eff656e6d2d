"""Shared fixtures: a real S3 endpoint (moto's server on loopback), the real repair_blocks
build, and small manifests."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GSM8K_SHA = "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a small shared box run far faster on one thread than on two (OpenMP
    threads wait on each other); opt in with `pytestmark = pytest.mark.usefixtures(...)`."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def repair_blocks(tmp_path_factory):
    """repair_blocks built once per session by its real builder from manifests/repair_blocks.yaml
    (~12 s). Shared by the builder and trainer tests: read it, never write under its root
    (copy the root first, or send runs elsewhere with --runs-dir)."""
    from ffdata.build import build_set

    root = tmp_path_factory.mktemp("repair_blocks")
    manifest = REPO / "manifests" / "repair_blocks.yaml"
    built, _ = build_set("repair_blocks", manifest, root=str(root), quiet=True)
    return built


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto_server as a real HTTP S3 endpoint on 127.0.0.1; env points boto3 at it."""
    port = free_port()
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "AKIAFFLLMTESTKEY0000",
        "AWS_SECRET_ACCESS_KEY": "ffllm-test-secret-do-not-print",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield {"url": url, **env}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint):
    import uuid

    import boto3

    name = f"ffllm-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def write_gsm8k_manifest(project: Path, seed: int = 0, rows: int = 300, decontam=(), **extra):
    """A project folder with GSM8K train and a gsm8k_sft manifest (decontamination optional)."""
    src = project / "data" / "sources" / "gsm8k"
    src.mkdir(parents=True, exist_ok=True)
    target = src / "train.jsonl"
    if not target.exists():
        shutil.copy(REPO / "data" / "sources" / "gsm8k" / "train.jsonl", target)
    (project / "manifests").mkdir(exist_ok=True)
    path = project / "manifests" / "gsm8k_sft.yaml"
    lines = [
        "name: gsm8k_sft",
        'version: "1"',
        f"seed: {seed}",
        "sources:",
        "  - name: gsm8k_train",
        "    loader: jsonl",
        f"    path: {extra.get('source_path', 'data/sources/gsm8k/train.jsonl')}",
        f"    sha256: {extra.get('sha256', GSM8K_SHA)}",
        "targets:",
        f"  rows: {rows}",
        "output:",
        "  path: sft/gsm8k",
        f"  rows_per_shard: {extra.get('rows_per_shard', 100)}",
        "decontamination:",
        f"  targets: [{', '.join(decontam)}]",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
