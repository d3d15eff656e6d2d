"""Two storage backends with one layout: a local folder and S3 (any endpoint).

Keys are '/'-separated paths relative to the root, e.g. `repair/<fingerprint>/_build.json`.
S3 settings (endpoint, region, credentials) come from the usual AWS environment and config
files, so MinIO, R2 and moto work the same way; credentials never appear in errors.
"""

import hashlib
import os
import shutil
from pathlib import Path, PurePosixPath

from ffdata.errors import FFDataError

DEFAULT_ROOT = "artifacts/"


def _check_key(key: str) -> str:
    parts = PurePosixPath(key).parts
    if key.startswith("/") or ".." in parts:
        raise FFDataError(f"{key}: path escapes the storage root")
    return key


class LocalStorage:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def describe(self, key: str) -> str:
        return str(self.path(key))

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise FFDataError(f"{self.describe(key)}: not found") from None

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write via a temp file and rename, so readers never see half a file."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)

    def list(self, prefix: str = "") -> list[str]:
        base = self.path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def publish_dir(self, local_dir: Path, prefix: str, last: str) -> None:
        """Move a finished folder into place; `last` (the build record) is written last."""
        final = self.path(prefix)
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        record = (local_dir / last).read_bytes()
        (local_dir / last).unlink()
        os.replace(local_dir, final)
        self.write_bytes(f"{prefix}/{last}", record)

    def fetch(self, key: str, cache_dir: Path | None = None) -> Path:
        """A local path for the object: on local storage, the file itself."""
        path = self.path(key)
        if not path.exists():
            raise FFDataError(f"{path}: not found")
        return path

    def staging_dir(self, prefix: str) -> Path:
        return self.path(f"{PurePosixPath(prefix).parent}/_staging/{PurePosixPath(prefix).name}")

    def lock_path(self, prefix: str) -> Path:
        """The file `build_set` locks while it builds `prefix` (beside its staging folder)."""
        return self.staging_dir(prefix).with_suffix(".lock")


class S3Storage:
    def __init__(self, uri: str):
        rest = uri[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise FFDataError(f"{uri}: no bucket in S3 URI")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        import boto3

        self.client = boto3.client("s3")

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _error(self, key: str, err: Exception) -> FFDataError:
        # botocore messages carry no secrets, but be strict: only the code and the object.
        code = getattr(err, "response", {}).get("Error", {}).get("Code", type(err).__name__)
        return FFDataError(f"{self.describe(key)}: S3 error {code}")

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(key, e) from None

    def read_bytes(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except (ClientError, BotoCoreError) as e:
            raise self._error(key, e) from None

    def write_bytes(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (ClientError, BotoCoreError) as e:
            raise self._error(key, e) from None

    def upload_file(self, local: Path, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(local), self.bucket, self._key(key))
        except (ClientError, BotoCoreError) as e:
            raise self._error(key, e) from None

    def list(self, prefix: str = "") -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix) if prefix else self.prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as e:
            raise self._error(prefix, e) from None
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> None:
        for key in self.list(prefix):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def publish_dir(self, local_dir: Path, prefix: str, last: str) -> None:
        """Upload every file, then the build record: the set is visible only once it lands."""
        self.delete_prefix(prefix)
        for path in sorted(local_dir.rglob("*")):
            if path.is_file() and path.name != last:
                self.upload_file(path, f"{prefix}/{path.relative_to(local_dir).as_posix()}")
        self.upload_file(local_dir / last, f"{prefix}/{last}")
        shutil.rmtree(local_dir, ignore_errors=True)

    def fetch(self, key: str, cache_dir: Path | None = None) -> Path:
        """Download into the local cache (re-used when already there) and return the path."""
        cache_dir = cache_dir or default_cache_dir()
        local = cache_dir / self.bucket / self._key(key)
        if not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(f".{local.name}.tmp")
            tmp.write_bytes(self.read_bytes(key))
            os.replace(tmp, local)
        return local

    def staging_dir(self, prefix: str) -> Path:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="ffdata-stage-"))

    def lock_path(self, prefix: str) -> Path:
        """The file `build_set` locks while it builds `prefix`: in the local cache, so it
        keeps apart builds on this machine (S3 itself has no lock)."""
        name = hashlib.sha256(f"{self.bucket}/{self._key(prefix)}".encode()).hexdigest()[:32]
        return default_cache_dir() / "locks" / f"{name}.lock"


def default_cache_dir() -> Path:
    return Path(os.environ.get("FFDATA_CACHE", Path.home() / ".cache" / "ffdata"))


def open_storage(uri: str | Path | None = None):
    uri = str(uri or os.environ.get("FFDATA_ROOT") or DEFAULT_ROOT)
    if uri.startswith("s3://"):
        return S3Storage(uri)
    if "://" in uri:
        raise FFDataError(
            f"{uri}: unsupported storage URI (use a local folder or s3://bucket/prefix)"
        )
    return LocalStorage(uri)
