"""Built sets on storage: writing shards + build record, and finding, verifying, reading them.

A set is `<root>/<layout>/<fingerprint>/` holding zstd Parquet shards, `_dropped.parquet` and
`_build.json`. The build record is written last: a prefix without it is not a set.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_bytes, sha256_file
from ffdata.records import DROPPED_SCHEMA, RECORD_SCHEMA
from ffdata.storage import LocalStorage, open_storage
from ffdata.tokenizer import encode_batch

BUILD_RECORD = "_build.json"
DROPPED_FILE = "_dropped.parquet"
LATEST = "latest"


def write_parquet(rows: list[dict], schema: pa.Schema, path: Path) -> None:
    write_table(pa.Table.from_pylist(rows, schema=schema), path)


def write_table(table: pa.Table, path: Path) -> None:
    # Fixed writer options so the same rows always give the same bytes.
    pq.write_table(table, path, compression="zstd", compression_level=3, write_statistics=True)


class SetWriter:
    """Buffers records per part and writes `part-<part>-<n>.parquet` shards into a staging dir."""

    def __init__(self, staging: Path, rows_per_shard: int, schema: pa.Schema = RECORD_SCHEMA):
        self.staging = staging
        self.rows_per_shard = rows_per_shard
        self.schema = schema
        self.buffers: dict[str, list[dict]] = {}
        self.tables: dict[str, list[pa.Table]] = {}  # parts fed whole tables (add_table)
        self.shard_counts: dict[str, int] = {}
        self.shards: list[dict] = []
        staging.mkdir(parents=True, exist_ok=True)

    def add(self, part: str, record: dict) -> None:
        buf = self.buffers.setdefault(part, [])
        buf.append(record)
        if len(buf) >= self.rows_per_shard:
            self._flush(part)

    def add_table(self, part: str, table: pa.Table) -> None:
        """Add many rows whose columns are already built (no per-row conversion): the same
        shards, byte for byte, as adding the rows one by one."""
        if self.buffers.get(part):
            raise ValueError(f"part {part!r}: rows added both one by one and as tables")
        tables = self.tables.setdefault(part, [])
        tables.append(table.cast(self.schema))
        while sum(t.num_rows for t in tables) >= self.rows_per_shard:
            whole = pa.concat_tables(tables)
            self._write_shard(part, whole.slice(0, self.rows_per_shard).combine_chunks())
            tables[:] = [whole.slice(self.rows_per_shard)]

    def _flush(self, part: str) -> None:
        if self.tables.get(part):
            table = pa.concat_tables(self.tables.pop(part)).combine_chunks()
        elif self.buffers.get(part):
            table = pa.Table.from_pylist(self.buffers[part], schema=self.schema)
        else:
            return
        if table.num_rows:
            self._write_shard(part, table)
        self.buffers[part] = []

    def _write_shard(self, part: str, table: pa.Table) -> None:
        n = self.shard_counts.get(part, 0)
        name = f"part-{part}-{n:05d}.parquet"
        path = self.staging / name
        write_table(table, path)
        shard = {
            "path": name,
            "part": part,
            "rows": table.num_rows,
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),  # hashed from the written file, not the buffer
        }
        if "n_tokens" in self.schema.names:  # tokenized at build time: no second encode
            shard["tokens"] = pc.sum(table.column("n_tokens")).as_py() or 0
        elif "text" in self.schema.names:
            shard["tokens"] = sum(map(len, encode_batch(table.column("text").to_pylist())))
        self.shards.append(shard)
        self.shard_counts[part] = n + 1

    def add_file(
        self, name: str, part: str, rows: int, payload: str | None = None, **extra
    ) -> dict:
        """Register a shard a builder wrote itself into the staging dir (e.g. a pretraining
        sidecar). `payload` names a companion file (e.g. the uint16 token shard) that is hashed
        and verified with it; `rows`/`bytes`/`sha256` keep the build-record contract."""
        path = self.staging / name
        shard = {"path": name, "part": part, "rows": rows, "bytes": path.stat().st_size,
                 "sha256": sha256_file(path), **extra}  # fmt: skip
        if payload is not None:
            ppath = self.staging / payload
            shard["payload"] = {"path": payload, "bytes": ppath.stat().st_size,
                                "sha256": sha256_file(ppath)}  # fmt: skip
        self.shards.append(shard)
        return shard

    def close(self, dropped: list[dict] | None) -> list[dict]:
        """Flush every part; write the dropped rows (None: the builder wrote that file itself)."""
        for part in dict.fromkeys([*self.buffers, *self.tables]):  # first-added order
            self._flush(part)
        if dropped is not None:
            write_parquet(dropped, DROPPED_SCHEMA, self.staging / DROPPED_FILE)
        elif not (self.staging / DROPPED_FILE).exists():
            raise FFDataError(f"builder error: {DROPPED_FILE} was not written")
        return self.shards


@dataclass
class BuiltSet:
    storage: object
    prefix: str  # "<layout>/<fingerprint>"
    record: dict = field(repr=False)

    @property
    def name(self) -> str:
        return self.record["set"]

    @property
    def fingerprint(self) -> str:
        return self.record["fingerprint"]

    @property
    def layout(self) -> str:
        return self.prefix.rsplit("/", 1)[0]

    @property
    def uri(self) -> str:
        return self.storage.describe(self.prefix)

    def parts(self) -> list[str]:
        return sorted({s["part"] for s in self.record["shards"]})

    def shard_paths(self, part: str | None = None) -> list[Path]:
        """Local paths of the shards (S3 objects are cached locally, checked by sha256)."""
        out = []
        for shard in self.record["shards"]:
            if part is not None and shard["part"] != part:
                continue
            out.append(self._fetch_checked(shard["path"], shard["sha256"]))
        return out

    def dropped_path(self) -> Path | None:
        key = f"{self.prefix}/{DROPPED_FILE}"
        return self.storage.fetch(key) if self.storage.exists(key) else None

    def _fetch_checked(self, name: str, sha: str) -> Path:
        path = self.storage.fetch(f"{self.prefix}/{name}")
        if not isinstance(self.storage, LocalStorage) and sha256_file(path) != sha:
            path.unlink()  # a stale or damaged cache entry: fetch again
            path = self.storage.fetch(f"{self.prefix}/{name}")
        return path

    def verify(self) -> list[dict]:
        """Re-hash every shard against the build record; raise on the first mismatch."""
        checked = []
        for shard in self.record["shards"]:
            self._verify_file(shard)
            if "payload" in shard:  # companion file of the shard (pretraining token shards)
                self._verify_file(shard["payload"])
            checked.append(shard)
        return checked

    def payload_paths(self) -> list[Path]:
        """Local paths of the shards' payload files (the pretraining token shards), in order."""
        return [
            self._fetch_checked(s["payload"]["path"], s["payload"]["sha256"])
            for s in self.record["shards"]
            if "payload" in s
        ]

    def _verify_file(self, shard: dict) -> None:
        key = f"{self.prefix}/{shard['path']}"
        if not self.storage.exists(key):
            raise FFDataError(
                f"{self.storage.describe(key)}: shard listed in {BUILD_RECORD} is missing"
            )
        if isinstance(self.storage, LocalStorage):
            digest = sha256_file(self.storage.path(key))
        else:
            digest = sha256_bytes(self.storage.read_bytes(key))
        if digest != shard["sha256"]:
            raise FFDataError(
                f"{self.storage.describe(key)}: sha256 mismatch "
                f"(build record {shard['sha256'][:12]}…, file {digest[:12]}…)"
            )

    def read_table(self, part: str | None = None) -> pa.Table:
        paths = self.shard_paths(part)
        if not paths:
            raise FFDataError(f"set {self.name}: no shards for part {part!r}")
        return pa.concat_tables(pq.read_table(p) for p in paths)


def _is_set_record(key: str) -> bool:
    parts = key.split("/")
    return parts[-1] == BUILD_RECORD and "_staging" not in parts and len(parts) >= 3


def list_sets(root=None) -> list[BuiltSet]:
    storage = root if hasattr(root, "list") else open_storage(root)
    sets = []
    for key in storage.list(""):
        if _is_set_record(key):
            record = json.loads(storage.read_bytes(key))
            sets.append(BuiltSet(storage, key.rsplit("/", 1)[0], record))
    return sorted(sets, key=lambda s: (s.name, s.record.get("built_at", ""), s.fingerprint))


def latest_fingerprint(storage, layout: str) -> str | None:
    key = f"{layout}/{LATEST}"
    return storage.read_bytes(key).decode().strip() if storage.exists(key) else None


def open_set(root, ref: str) -> BuiltSet:
    """`name` (its latest build), `name@<fingerprint prefix>`, or `<layout>/<fingerprint>`."""
    storage = root if hasattr(root, "list") else open_storage(root)
    name, _, fp = ref.partition("@")
    candidates = list_sets(storage)
    by_prefix = [s for s in candidates if s.prefix == ref.strip("/")]
    if by_prefix:
        return by_prefix[0]
    named = [s for s in candidates if s.name == name]
    if not named:
        known = sorted({s.name for s in candidates})
        raise FFDataError(
            f"no built set {name!r} under {storage.uri} (built sets: {known or 'none'})"
        )
    if fp:
        hits = [s for s in named if s.fingerprint.startswith(fp)]
        if len(hits) != 1:
            raise FFDataError(
                f"{ref}: {len(hits)} builds of {name!r} match that fingerprint prefix"
            )
        return hits[0]
    latest = latest_fingerprint(storage, named[0].layout)
    for s in named:
        if s.fingerprint == latest:
            return s
    return named[-1]
