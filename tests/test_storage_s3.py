"""S3 round trip against moto's real HTTP server on 127.0.0.1 (no in-process mocks)."""

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.sets import list_sets, open_set
from ffdata.storage import open_storage
from tests.conftest import write_gsm8k_manifest

FFDATA = str(Path(sys.executable).parent / "ffdata")


def run(*args):
    return subprocess.run([FFDATA, *args], capture_output=True, text=True, env=os.environ.copy())


def test_s3_build_ls_verify_read_back(tmp_path, s3_bucket, monkeypatch):
    monkeypatch.setenv("FFDATA_CACHE", str(tmp_path / "cache"))
    root = f"s3://{s3_bucket}/ff"
    m = write_gsm8k_manifest(tmp_path / "p", rows=200)
    out = run("build", "gsm8k_sft", "--manifest", str(m), "--root", root)
    assert out.returncode == 0, out.stderr
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert "ff/sft/gsm8k/latest" in keys
    assert sum(k.endswith("/_build.json") for k in keys) == 1
    assert sum(k.endswith("/_current.json") for k in keys) == 1

    listing = run("ls", "--root", root)
    assert listing.returncode == 0 and "gsm8k_sft" in listing.stdout
    assert run("verify", "gsm8k_sft", "--root", root).returncode == 0

    remote = open_set(root, "gsm8k_sft")
    local, _ = build_set("gsm8k_sft", m, str(tmp_path / "local"), quiet=True)
    assert remote.fingerprint == local.fingerprint
    assert [s["sha256"] for s in remote.record["shards"]] == [
        s["sha256"] for s in local.record["shards"]
    ]
    table = remote.read_table("train")
    assert table.num_rows == 200
    assert table.to_pylist() == local.read_table("train").to_pylist()


def test_s3_flipped_byte_and_partial_set(tmp_path, s3_bucket, monkeypatch):
    monkeypatch.setenv("FFDATA_CACHE", str(tmp_path / "cache"))
    root = f"s3://{s3_bucket}"
    m = write_gsm8k_manifest(tmp_path / "p", rows=120)
    built, _ = build_set("gsm8k_sft", m, root, quiet=True)
    s3 = boto3.client("s3")
    key = f"{built.prefix}/part-train-00000.parquet"
    body = bytearray(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    body[100] ^= 0xFF
    s3.put_object(Bucket=s3_bucket, Key=key, Body=bytes(body))
    out = run("verify", "gsm8k_sft", "--root", root)
    assert out.returncode == 2 and "sha256 mismatch" in out.stderr

    # Shards without a build record (a killed S3 build) are not a set.
    s3.put_object(Bucket=s3_bucket, Key="repair/deadbeef/part-A-00000.parquet", Body=b"x")
    assert [s.name for s in list_sets(root)] == ["gsm8k_sft"]


def test_s3_errors_never_show_credentials(tmp_path, s3_endpoint):
    storage = open_storage("s3://no-such-bucket-ffllm/x")
    with pytest.raises(FFDataError) as e:
        storage.read_bytes("a/b")
    assert "no-such-bucket-ffllm/x/a/b" in str(e.value)
    out = run("ls", "--root", "s3://no-such-bucket-ffllm")
    assert out.returncode == 2
    for secret in (s3_endpoint["AWS_SECRET_ACCESS_KEY"], s3_endpoint["AWS_ACCESS_KEY_ID"]):
        assert secret not in out.stderr + out.stdout + str(e.value)


def test_s3_root_beside_a_name_sibling_sees_only_its_own_sets(tmp_path, s3_bucket, monkeypatch):
    """Root `ff` listed the objects of `ff2` too (a listing prefix without its trailing '/'),
    so ls, verify, sql and train failed on `ff`."""
    monkeypatch.setenv("FFDATA_CACHE", str(tmp_path / "cache"))
    ff, ff2 = f"s3://{s3_bucket}/ff", f"s3://{s3_bucket}/ff2"
    build_set("gsm8k_sft", write_gsm8k_manifest(tmp_path / "p1", rows=60), ff, quiet=True)
    m2 = write_gsm8k_manifest(tmp_path / "p2", seed=5, rows=70)
    build_set("gsm8k_sft", m2, ff2, quiet=True)
    assert [s.record["rows"] for s in list_sets(ff)] == [60]
    assert [s.record["rows"] for s in list_sets(ff2)] == [70]
    assert run("ls", "--root", ff).returncode == 0
    assert run("verify", "gsm8k_sft", "--root", ff).returncode == 0
    sql = run("sql", "SELECT count(*) AS n FROM gsm8k_sft", "--format", "csv", "--root", ff)
    assert sql.returncode == 0 and sql.stdout.split() == ["n", "60"], sql.stderr
    assert open_set(ff, "gsm8k_sft").read_table("train").num_rows == 60


def test_s3_missing_bucket_fails_before_the_build(tmp_path, s3_endpoint, monkeypatch):
    """A build into a missing bucket ran to the end, then failed on upload (leaving its
    staging folder in TMPDIR). Now the bucket is checked first."""
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("FFDATA_CACHE", str(cache))
    monkeypatch.setenv("TMPDIR", str(tmp))
    m = write_gsm8k_manifest(tmp_path / "p", rows=60)
    out = run("build", "gsm8k_sft", "--manifest", str(m), "--root", "s3://ffllm-no-such-bkt/ff")
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: s3://ffllm-no-such-bkt: bucket does not exist (S3 error 404)"], (
        out.stderr
    )
    assert not (cache / "staging").exists() and not list(tmp.glob("ffdata-stage-*"))


def test_an_unreachable_endpoint_is_one_line_from_the_library_too(monkeypatch):
    """`exists` let botocore's EndpointConnectionError through (only ClientError was caught):
    a caller of ffdata.sets saw a botocore exception instead of an FFDataError."""
    from ffdata.storage import S3Storage

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    storage = S3Storage("s3://b/root")
    with pytest.raises(FFDataError, match=r"s3://b/root/a/_current.json: S3 error Endpoint"):
        storage.exists("a/_current.json")
    with pytest.raises(FFDataError, match=r"s3://b/root/: S3 error EndpointConnectionError"):
        open_set(storage, "gsm8k_sft")
