"""Publishing never shows a partial set: a `--force` rebuild killed at each step of publishing
(FFDATA_FAULT=<step> makes the process SIGKILL itself there) leaves a whole set that readers
and the next build see, locally and on S3 (moto's real HTTP server). Before, a rebuild killed
while the old set was being removed left a set with missing shards that the next build called
"already built", and on S3 a kill mid-upload left `latest` pointing at nothing."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from ffdata.sets import list_sets, open_set
from ffdata.storage import open_storage
from tests.conftest import write_gsm8k_manifest

FFDATA = str(Path(sys.executable).parent / "ffdata")
# put: the new generation's first file is in place; switch: its record too, pointer not yet
# switched; latest: switched, `latest` not yet written; delete: the old generation half removed
STEPS = ["put", "switch", "latest", "delete"]


def ffdata(*args, **env):
    return subprocess.run(
        [FFDATA, *args], capture_output=True, text=True, env={**os.environ, **env}
    )


def build(manifest, root, *extra, **env):
    return ffdata("build", "gsm8k_sft", "--manifest", str(manifest), "--root", root, *extra, **env)


def assert_whole(root: str, manifest: Path, rows: int) -> None:
    """Readers and a plain rebuild see one whole set."""
    built = open_set(root, "gsm8k_sft")
    built.verify()
    assert built.record["rows"] == rows
    assert [s.fingerprint for s in list_sets(root)] == [built.fingerprint]
    out = ffdata("verify", "gsm8k_sft", "--root", root)
    assert out.returncode == 0, out.stderr
    again = build(manifest, root)
    assert again.returncode == 0, again.stderr
    assert "already built" in again.stdout


def generation_count(root: str) -> int:
    keys = open_storage(root).list("sft/gsm8k")
    return len({k.split("/")[3] for k in keys if k.count("/") >= 4 and "/g-" in k})


def kill_force_rebuild_at(step: str, root: str, manifest: Path, **env) -> None:
    first = build(manifest, root, **env)
    assert first.returncode == 0, first.stderr
    killed = build(manifest, root, "--force", FFDATA_FAULT=step, **env)
    assert killed.returncode == -signal.SIGKILL, f"not killed at {step}: {killed.stderr[-500:]}"


@pytest.mark.parametrize("step", STEPS)
def test_local_force_rebuild_killed_at_each_publish_step(tmp_path, step):
    root = str(tmp_path / "root")
    m = write_gsm8k_manifest(tmp_path / "p", rows=120, rows_per_shard=40)
    kill_force_rebuild_at(step, root, m)
    assert_whole(root, m, 120)
    done = build(m, root, "--force")
    assert done.returncode == 0, done.stderr
    assert_whole(root, m, 120)
    assert generation_count(root) == 1  # the replaced set and the killed attempt are gone


@pytest.mark.parametrize("step", STEPS)
def test_s3_force_rebuild_killed_at_each_publish_step(tmp_path, s3_bucket, monkeypatch, step):
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("FFDATA_CACHE", str(cache))
    monkeypatch.setenv("TMPDIR", str(tmp))
    root = f"s3://{s3_bucket}/ff"
    m = write_gsm8k_manifest(tmp_path / "p", rows=120, rows_per_shard=40)
    kill_force_rebuild_at(step, root, m)
    latest = boto3.client("s3").get_object(Bucket=s3_bucket, Key="ff/sft/gsm8k/latest")
    assert open_set(root, "gsm8k_sft").fingerprint == latest["Body"].read().decode()
    assert_whole(root, m, 120)
    done = build(m, root, "--force")
    assert done.returncode == 0, done.stderr
    assert_whole(root, m, 120)
    assert generation_count(root) == 1
    # the killed build's staging folder was reused and removed, none leaked into TMPDIR
    assert not list(tmp.glob("ffdata-stage-*"))
    assert not any((cache / "staging").iterdir())


def test_a_damaged_set_is_built_again_not_called_already_built(tmp_path):
    root = str(tmp_path / "root")
    m = write_gsm8k_manifest(tmp_path / "p", rows=120, rows_per_shard=40)
    first = build(m, root)
    assert first.returncode == 0, first.stderr
    built = open_set(root, "gsm8k_sft")
    (Path(root) / built.prefix / "part-train-00001.parquet").unlink()
    again = build(m, root)
    assert again.returncode == 0, again.stderr
    assert "already built" not in again.stdout
    assert "part-train-00001.parquet" in again.stderr and "building it again" in again.stderr
    open_set(root, "gsm8k_sft").verify()


def test_two_writers_of_latest_never_show_a_reader_an_empty_file(tmp_path):
    """Both writers used one fixed temp name: a reader saw an empty `latest` and a writer
    crashed when the other had renamed its temp file away. Unique temp names + rename."""
    root = tmp_path / "root"
    script = (
        "import sys\nfrom ffdata.storage import open_storage\n"
        "s = open_storage(sys.argv[1])\n"
        "for _ in range(3000):\n    s.write_bytes('sft/gsm8k/latest', sys.argv[2].encode())\n"
    )
    values = ("a" * 64, "b" * 64)
    storage = open_storage(str(root))
    storage.write_bytes("sft/gsm8k/latest", values[0].encode())
    writers = [
        subprocess.Popen([sys.executable, "-c", script, str(root), v], stderr=subprocess.PIPE)
        for v in values
    ]
    seen = set()
    latest = root / "sft" / "gsm8k" / "latest"
    while any(w.poll() is None for w in writers):
        seen.add(latest.read_text())
    errors = [w.stderr.read().decode() for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    assert seen <= set(values), sorted(seen - set(values))[:3]
    assert sorted(p.name for p in latest.parent.iterdir()) == ["latest"]  # no temp left
