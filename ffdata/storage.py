"""Two storage backends with one layout: a local folder and S3 (any endpoint).

Keys are '/'-separated paths relative to the root, e.g. `repair/<fingerprint>/_build.json`.
S3 settings (endpoint, region, credentials) come from the usual AWS environment and config
files, so MinIO, R2 and moto work the same way; credentials never appear in errors.
"""

import hashlib
import os
import shutil
import signal
import tempfile
from pathlib import Path, PurePosixPath

from ffdata.errors import FFDataError

DEFAULT_ROOT = "artifacts/"


def fault_point(name: str) -> None:
    """Test hook: `FFDATA_FAULT=<name>` kills this process here with SIGKILL, as a lost node
    would, so tests can stop a publish at each step."""
    if os.environ.get("FFDATA_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


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
        # A unique temp name per writer: two writers of one key (`latest`) never share one.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600 would hide the file from readers
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def check_root(self) -> None:
        """Nothing to check before a build: the folder is created when the set is published."""

    def list_sizes(self, prefix: str = "") -> dict[str, int]:
        """Every file under the folder `prefix` (not its name-siblings): key -> bytes."""
        base = self.path(prefix) if prefix else self.root
        if not base.is_dir():
            return {}
        sizes = {}
        for p in sorted(base.rglob("*")):
            try:
                if p.is_file():
                    sizes[p.relative_to(self.root).as_posix()] = p.stat().st_size
            except FileNotFoundError:  # removed while listing (an old generation, a staging file)
                continue
        return sizes

    def list(self, prefix: str = "") -> list[str]:
        return sorted(self.list_sizes(prefix))

    def delete_prefix(self, prefix: str) -> None:
        """Remove the folder `prefix`, file by file (fault point `delete` after each)."""
        for key in self.list(prefix):
            self.path(key).unlink(missing_ok=True)
            fault_point("delete")
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def put_dir(self, local_dir: Path, prefix: str) -> None:
        """Move a finished folder to `prefix` in one rename (`prefix` must not exist yet)."""
        final = self.path(prefix)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(local_dir, final)
        fault_point("put")

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
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(key, e) from None
        except BotoCoreError as e:  # endpoint unreachable, credentials missing, …
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

    def check_root(self) -> None:
        """Fail before a build, not after it, when the bucket is missing or out of reach."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            what = "does not exist" if code in ("404", "NoSuchBucket", "NotFound") else code
            raise FFDataError(f"s3://{self.bucket}: bucket {what} (S3 error {code})") from None
        except BotoCoreError as e:
            raise FFDataError(f"s3://{self.bucket}: S3 error {type(e).__name__}") from None

    def list_sizes(self, prefix: str = "") -> dict[str, int]:
        """Every object under the folder `prefix`: key -> bytes. The listing prefix ends in
        '/', so root `ff` never lists the objects of its name-sibling `ff2`."""
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix) if prefix else self.prefix
        full = f"{full.rstrip('/')}/" if full else ""
        strip = len(self.prefix) + 1 if self.prefix else 0
        sizes = {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:
                sizes.update((obj["Key"][strip:], obj["Size"]) for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as e:
            raise self._error(prefix, e) from None
        return dict(sorted(sizes.items()))

    def list(self, prefix: str = "") -> list[str]:
        return list(self.list_sizes(prefix))

    def delete_prefix(self, prefix: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for key in self.list(prefix):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
            except (ClientError, BotoCoreError) as e:
                raise self._error(key, e) from None
            fault_point("delete")

    def put_dir(self, local_dir: Path, prefix: str) -> None:
        """Upload a finished folder to `prefix` (fault point `put` after the first file), then
        remove the local copy. Nothing names `prefix` until the caller switches a pointer."""
        for path in sorted(local_dir.rglob("*")):
            if path.is_file():
                self.upload_file(path, f"{prefix}/{path.relative_to(local_dir).as_posix()}")
                fault_point("put")
        shutil.rmtree(local_dir, ignore_errors=True)

    def fetch(self, key: str, cache_dir: Path | None = None) -> Path:
        """Download into the local cache (re-used when already there) and return the path."""
        cache_dir = cache_dir or default_cache_dir()
        local = cache_dir / self.bucket / self._key(key)
        if not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(self.read_bytes(key))
            os.replace(tmp, local)
        return local

    def _local_name(self, prefix: str) -> str:
        return hashlib.sha256(f"{self.bucket}/{self._key(prefix)}".encode()).hexdigest()[:32]

    def staging_dir(self, prefix: str) -> Path:
        """One staging folder per set in the local cache: a build killed mid-way leaves it
        where the next build of the set finds it and starts it afresh (and none leak)."""
        return default_cache_dir() / "staging" / self._local_name(prefix)

    def lock_path(self, prefix: str) -> Path:
        """The file `build_set` locks while it builds `prefix`: in the local cache, so it
        keeps apart builds on this machine (S3 itself has no lock)."""
        return default_cache_dir() / "locks" / f"{self._local_name(prefix)}.lock"


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
