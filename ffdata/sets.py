"""Built sets on storage: writing shards + build record, and publishing, finding, verifying,
reading them.

A set is addressed as `<root>/<layout>/<fingerprint>/`. Its files live in a generation folder
`<layout>/<fingerprint>/g-<n>/` (zstd Parquet shards, `_dropped.parquet`, `_build.json`), and the
pointer `<layout>/<fingerprint>/_current.json` names the generation and the sha256 of its
`_build.json`. The pointer is written in one atomic step (a rename locally, one PUT on S3) after
every file of the generation is in place, so a reader or a rebuild sees the old set or the new
one, never part of one; older generations are removed only after the switch.
"""

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_bytes, sha256_file
from ffdata.records import DROPPED_SCHEMA, RECORD_SCHEMA
from ffdata.storage import LocalStorage, fault_point, open_storage
from ffdata.tokenizer import encode_batch

BUILD_RECORD = "_build.json"
DROPPED_FILE = "_dropped.parquet"
CURRENT = "_current.json"
LATEST = "latest"
GENERATION = re.compile(r"g-[0-9]+")


# Fixed writer options so the same rows always give the same bytes.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "write_statistics": True}
# Rows per Parquet row group of a shard. DuckDB reads a file's row groups on several threads
# (one group per shard was one thread per shard), and SetWriter writes each group as soon as
# its rows are in, during the build, rather than every shard at the end.
ROW_GROUP = 2048


def write_parquet(rows: list[dict], schema: pa.Schema, path: Path) -> None:
    write_table(pa.Table.from_pylist(rows, schema=schema), path)


def write_table(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, row_group_size=ROW_GROUP, **PARQUET_OPTIONS)


class _OpenShard:
    """A shard being written, one row group at a time."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = path
        self.writer = pq.ParquetWriter(path, schema, **PARQUET_OPTIONS)
        self.rows = 0
        self.tokens = 0


class SetWriter:
    """Writes each part's rows into `part-<part>-<n>.parquet` shards of `rows_per_shard` rows in
    a staging dir, in row groups of ROW_GROUP rows. A shard's bytes depend on its rows alone,
    not on how the builder handed them over (one by one, or in tables of any size)."""

    def __init__(self, staging: Path, rows_per_shard: int, schema: pa.Schema = RECORD_SCHEMA):
        self.staging = staging
        self.rows_per_shard = rows_per_shard
        self.schema = schema
        self.buffers: dict[str, list[dict]] = {}
        self.tables: dict[str, list[pa.Table]] = {}  # parts fed whole tables (add_table)
        self.open: dict[str, _OpenShard] = {}
        self.shard_counts: dict[str, int] = {}
        self.shards: list[dict] = []
        staging.mkdir(parents=True, exist_ok=True)

    def add(self, part: str, record: dict) -> None:
        if part in self.tables:  # a part is fed one way: its rows stay in order
            raise FFDataError(
                f"builder error: part {part!r}: rows added both as tables and one by one"
            )
        buf = self.buffers.setdefault(part, [])
        buf.append(record)
        if len(buf) >= self._group_rows(part):
            self._write_group(part, pa.Table.from_pylist(buf, schema=self.schema))
            buf.clear()

    def add_table(self, part: str, table: pa.Table) -> None:
        """Add many rows whose columns are already built (no per-row conversion): the same
        shards, byte for byte, as adding the rows one by one."""
        if self.buffers.get(part):
            raise FFDataError(
                f"builder error: part {part!r}: rows added both one by one and as tables"
            )
        tables = self.tables.setdefault(part, [])
        tables.append(table.cast(self.schema))
        while sum(t.num_rows for t in tables) >= (n := self._group_rows(part)):
            whole = pa.concat_tables(tables)
            self._write_group(part, whole.slice(0, n))
            tables[:] = [whole.slice(n)]

    def _group_rows(self, part: str) -> int:
        """Rows of the part's next row group: ROW_GROUP, or what its shard has room for."""
        shard = self.open.get(part)
        return min(ROW_GROUP, self.rows_per_shard - (shard.rows if shard else 0))

    def _write_group(self, part: str, table: pa.Table) -> None:
        # one contiguous chunk per group: the pages (so the bytes) would follow the chunking
        table = table.combine_chunks()
        shard = self.open.get(part)
        if shard is None:
            n = self.shard_counts.get(part, 0)
            shard = _OpenShard(self.staging / f"part-{part}-{n:05d}.parquet", self.schema)
            self.open[part] = shard
        shard.writer.write_table(table, row_group_size=ROW_GROUP)
        shard.rows += table.num_rows
        if "n_tokens" in self.schema.names:  # tokenized at build time: no second encode
            shard.tokens += pc.sum(table.column("n_tokens")).as_py() or 0
        elif "text" in self.schema.names:
            shard.tokens += sum(map(len, encode_batch(table.column("text").to_pylist())))
        if shard.rows >= self.rows_per_shard:
            self._close_shard(part)

    def _close_shard(self, part: str) -> None:
        shard = self.open.pop(part)
        shard.writer.close()
        entry = {
            "path": shard.path.name,
            "part": part,
            "rows": shard.rows,
            "bytes": shard.path.stat().st_size,
            "sha256": sha256_file(shard.path),  # hashed from the written file, not the buffer
        }
        if "n_tokens" in self.schema.names or "text" in self.schema.names:
            entry["tokens"] = shard.tokens
        self.shards.append(entry)
        self.shard_counts[part] = self.shard_counts.get(part, 0) + 1

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
        """Write every part's last rows; write the dropped rows (None: the builder wrote that
        file itself)."""
        for part in dict.fromkeys([*self.buffers, *self.tables, *self.open]):  # first-added
            rows = self.buffers.pop(part, None)
            tables = [t for t in self.tables.pop(part, []) if t.num_rows]
            if rows:
                self._write_group(part, pa.Table.from_pylist(rows, schema=self.schema))
            elif tables:
                self._write_group(part, pa.concat_tables(tables))
            if part in self.open:
                self._close_shard(part)
        if dropped is not None:
            write_parquet(dropped, DROPPED_SCHEMA, self.staging / DROPPED_FILE)
        elif not (self.staging / DROPPED_FILE).exists():
            raise FFDataError(f"builder error: {DROPPED_FILE} was not written")
        return self.shards


def file_entry(folder: Path, name: str) -> dict:
    """How the build record lists a file: path, bytes, sha256 and, for Parquet, rows."""
    path = folder / name
    entry = {"path": name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    if name.endswith(".parquet"):
        entry["rows"] = pq.read_metadata(path).num_rows
    return entry


@dataclass
class BuiltSet:
    storage: object
    prefix: str  # "<layout>/<fingerprint>/g-<n>": the generation folder holding the files
    record: dict = field(repr=False)
    pointer: dict = field(default_factory=dict, repr=False)  # the `_current.json` it was read by
    record_sha256: str = field(default="", repr=False)  # of the `_build.json` bytes read

    @property
    def name(self) -> str:
        return self.record["set"]

    @property
    def fingerprint(self) -> str:
        return self.record["fingerprint"]

    @property
    def address(self) -> str:
        """`<layout>/<fingerprint>`: how users name this build."""
        return self.prefix.rsplit("/", 1)[0]

    @property
    def layout(self) -> str:
        return self.address.rsplit("/", 1)[0]

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

    def _dropped_entry(self) -> dict:
        entry = self.record.get("dropped", {}).get("file")
        if not entry:
            raise FFDataError(f"{self._describe(BUILD_RECORD)}: lists no {DROPPED_FILE}")
        return entry

    def dropped_path(self) -> Path | None:
        entry = self._dropped_entry()
        return self._fetch_checked(entry["path"], entry["sha256"])

    def _describe(self, name: str) -> str:
        return self.storage.describe(f"{self.prefix}/{name}")

    def _fetch_checked(self, name: str, sha: str) -> Path:
        path = self.storage.fetch(f"{self.prefix}/{name}")
        if not isinstance(self.storage, LocalStorage) and sha256_file(path) != sha:
            path.unlink()  # a stale or damaged cache entry: fetch again
            path = self.storage.fetch(f"{self.prefix}/{name}")
        return path

    def _entries(self) -> list[dict]:
        """Every file the record lists: shards, their payloads, the dropped rows."""
        out = []
        for shard in self.record["shards"]:
            out.append(shard)
            if "payload" in shard:  # companion file of the shard (pretraining token shards)
                out.append(shard["payload"])
        out.append(self._dropped_entry())
        return out

    def check_complete(self) -> None:
        """Cheap checks (one listing, no hashing): the record is the one the pointer names, and
        the generation folder holds exactly the files it lists, each with its size."""
        record_key = f"{self.prefix}/{BUILD_RECORD}"
        if self.record_sha256 != self.pointer.get("record_sha256"):
            raise FFDataError(
                f"{self.storage.describe(record_key)}: edited after publishing (sha256 "
                f"{self.record_sha256[:12]}…, {CURRENT} names "
                f"{str(self.pointer.get('record_sha256'))[:12]}…)"
            )
        if self.record.get("fingerprint") != self.address.rsplit("/", 1)[-1]:
            raise FFDataError(
                f"{self.storage.describe(record_key)}: fingerprint "
                f"{str(self.record.get('fingerprint'))[:12]}… is not the folder's"
            )
        # One listing of `<layout>/<fingerprint>/`: this generation's files, and anything else
        # that is neither the pointer nor a generation folder (a generation a killed build left
        # is not part of the set; the next publish removes it).
        found, stray = {}, []
        for key, size in self.storage.list_sizes(self.address).items():
            rest = key[len(self.address) + 1 :]
            if key.startswith(f"{self.prefix}/"):
                found[key] = size
            elif rest != CURRENT and not GENERATION.fullmatch(rest.split("/", 1)[0]):
                stray.append(rest)
        if stray:
            raise FFDataError(
                f"{self.storage.describe(self.address)}: {len(stray)} file(s) outside its "
                f"generation folders: " + ", ".join(sorted(stray))
            )
        found.pop(record_key, None)
        listed = {f"{self.prefix}/{e['path']}": e["bytes"] for e in self._entries()}
        missing = sorted(k.rsplit("/", 1)[-1] for k in listed.keys() - found.keys())
        if missing:
            raise FFDataError(
                f"{self.uri}: {len(missing)} file(s) listed in {BUILD_RECORD} missing: "
                + ", ".join(missing)
            )
        extra = sorted(k[len(self.prefix) + 1 :] for k in found.keys() - listed.keys())
        if extra:
            raise FFDataError(
                f"{self.uri}: {len(extra)} file(s) not listed in {BUILD_RECORD}: "
                + ", ".join(extra)
            )
        for key, size in listed.items():
            if found[key] != size:
                raise FFDataError(
                    f"{self.storage.describe(key)}: {found[key]} bytes, {BUILD_RECORD} says {size}"
                )

    def verify(self) -> list[dict]:
        """Check all the record states against the files, raising on the first difference: its
        own sha256 (kept in the pointer), exactly the listed files, each file's sha256, and row
        counts re-read from the Parquet footers. Returns the shards checked."""
        self.check_complete()
        for shard in self.record["shards"]:
            self._verify_file(shard)
            if "payload" in shard:
                self._verify_file(shard["payload"])
        dropped = self._dropped_entry()
        self._verify_file(dropped)
        rows = sum(s["rows"] for s in self.record["shards"])
        if self.record.get("rows") != rows:
            raise FFDataError(
                f"{self._describe(BUILD_RECORD)}: rows {self.record.get('rows')}, "
                f"its shards hold {rows}"
            )
        if self.record["dropped"].get("total") != dropped["rows"]:
            raise FFDataError(
                f"{self._describe(BUILD_RECORD)}: dropped total "
                f"{self.record['dropped'].get('total')}, {DROPPED_FILE} holds {dropped['rows']}"
            )
        return list(self.record["shards"])

    def payload_paths(self) -> list[Path]:
        """Local paths of the shards' payload files (the pretraining token shards), in order."""
        return [
            self._fetch_checked(s["payload"]["path"], s["payload"]["sha256"])
            for s in self.record["shards"]
            if "payload" in s
        ]

    def _verify_file(self, entry: dict, local: Path | None = None) -> None:
        """Check one listed file (`local`: its fetched copy, read instead of the storage)."""
        key = f"{self.prefix}/{entry['path']}"
        if local is not None or isinstance(self.storage, LocalStorage):
            source = local or self.storage.path(key)
            digest = sha256_file(source)
        else:
            data = self.storage.read_bytes(key)
            digest, source = sha256_bytes(data), pa.BufferReader(data)
        if digest != entry["sha256"]:
            raise FFDataError(
                f"{self.storage.describe(key)}: sha256 mismatch "
                f"(build record {entry['sha256'][:12]}…, file {digest[:12]}…)"
            )
        if entry["path"].endswith(".parquet"):
            rows = pq.read_metadata(source).num_rows  # the footer, not the record, says how many
            if rows != entry.get("rows"):
                raise FFDataError(
                    f"{self.storage.describe(key)}: {rows} rows in its Parquet footer, "
                    f"{BUILD_RECORD} says {entry.get('rows')}"
                )

    def to_polars(self, part: str | None = None, *, dropped: bool = False):
        """The set's rows (all parts, or one) or its dropped rows as a polars LazyFrame over
        the Parquet files, each checked first against the build record (the record is the
        published one, the files are those it lists, each file's sha256 and footer row count):
        a damaged set fails here, not halfway through a query. Lazy, so a select or filter
        reads only the columns and row groups it needs; `.collect()` gives a DataFrame with
        the rows `ffdata sql` shows for `<set>` / `<set>__dropped`, in the same order."""
        import polars as pl

        self.check_complete()
        if dropped:
            entries = [self._dropped_entry()]
        else:
            entries = [s for s in self.record["shards"] if part is None or s["part"] == part]
            entries = [s for s in entries if s["path"].endswith(".parquet")]
            if not entries:
                raise FFDataError(f"set {self.name}: no Parquet shards for part {part!r}")
        paths = [self._fetch_checked(e["path"], e["sha256"]) for e in entries]
        for entry, path in zip(entries, paths, strict=True):
            self._verify_file(entry, path)
        return pl.scan_parquet(paths)

    def read_table(self, part: str | None = None) -> pa.Table:
        paths = self.shard_paths(part)
        if not paths:
            raise FFDataError(f"set {self.name}: no shards for part {part!r}")
        return pa.concat_tables(pq.read_table(p) for p in paths)


def generations(storage, address: str) -> list[str]:
    """The generation folders under `<layout>/<fingerprint>`, published or left by a kill."""
    names = {key[len(address) + 1 :].split("/", 1)[0] for key in storage.list(address)}
    return sorted((n for n in names if GENERATION.fullmatch(n)), key=lambda n: int(n[2:]))


def publish_set(storage, staging: Path, layout: str, fp: str, record: dict) -> BuiltSet:
    """Publish a finished staging folder as the set `<layout>/<fp>`, in steps that each leave
    a whole set visible (the old one until step 3, then the new one):
    1. the shards and `_dropped.parquet` go to a new generation folder `g-<n>`;
    2. its `_build.json` is written last;
    3. `_current.json` (generation + record sha256) switches readers over in one atomic write;
    4. `<layout>/latest` names the fingerprint; 5. the other generations are removed."""
    address = f"{layout}/{fp}"
    old = generations(storage, address)
    gen = f"g-{int(old[-1][2:]) + 1 if old else 1}"
    prefix = f"{address}/{gen}"
    record["dropped"]["file"] = file_entry(staging, DROPPED_FILE)
    raw = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    storage.put_dir(staging, prefix)
    storage.write_bytes(f"{prefix}/{BUILD_RECORD}", raw)
    fault_point("switch")
    pointer = {"generation": gen, "record_sha256": sha256_bytes(raw)}
    storage.write_bytes(
        f"{address}/{CURRENT}", (json.dumps(pointer, sort_keys=True) + "\n").encode()
    )
    fault_point("latest")
    storage.write_bytes(f"{layout}/{LATEST}", fp.encode())
    for g in old:  # the previous set and any generation a killed build left
        storage.delete_prefix(f"{address}/{g}")
    return BuiltSet(storage, prefix, record, pointer, pointer["record_sha256"])


def _read_pointer(storage, key: str) -> tuple[dict, str]:
    try:
        pointer = json.loads(storage.read_bytes(key))
        gen, digest = pointer["generation"], pointer["record_sha256"]
        if not (isinstance(gen, str) and GENERATION.fullmatch(gen) and isinstance(digest, str)):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise FFDataError(f"{storage.describe(key)}: unreadable set pointer") from None
    return pointer, gen


def load_set(storage, address: str) -> BuiltSet | None:
    """The set published at `<layout>/<fingerprint>`, None if there is none; FFDataError naming
    the file when its pointer or build record cannot be read."""
    key = f"{address}/{CURRENT}"
    if not storage.exists(key):
        return None
    for attempt in (1, 2):
        pointer, gen = _read_pointer(storage, key)
        record_key = f"{address}/{gen}/{BUILD_RECORD}"
        try:
            raw = storage.read_bytes(record_key)
            break
        except FFDataError:
            # A publish may have switched the pointer and removed this generation since it
            # was read: read the pointer once more.
            if attempt == 2 or _read_pointer(storage, key)[1] == gen:
                raise
    try:
        record = json.loads(raw)
        if not isinstance(record, dict) or not all(
            k in record for k in ("set", "fingerprint", "shards")
        ):
            raise ValueError
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FFDataError(
            f"{storage.describe(record_key)}: unreadable build record (empty, truncated or "
            "not a build record)"
        ) from None
    return BuiltSet(storage, f"{address}/{gen}", record, pointer, sha256_bytes(raw))


def find_complete(storage, layout: str, fp: str) -> BuiltSet | None:
    """The published set `<layout>/<fp>` when it is whole (`check_complete`); None when there is
    none, or when it is damaged (said on stderr: the caller builds it again)."""
    try:
        built = load_set(storage, f"{layout}/{fp}")
        if built is None:
            return None
        built.check_complete()
    except FFDataError as e:
        print(f"warning: {e}; building it again", file=sys.stderr)
        return None
    storage.write_bytes(f"{layout}/{LATEST}", fp.encode())
    return built


def scan_sets(storage) -> tuple[list["BuiltSet"], list[str]]:
    """Every published set under the root, and one line per set whose pointer or record cannot
    be read (that set is left out; the others are not affected)."""
    sets, problems = [], []
    for key in storage.list(""):
        parts = key.split("/")
        if len(parts) < 3 or "_staging" in parts:
            continue
        if parts[-1] == BUILD_RECORD and not GENERATION.fullmatch(parts[-2]):
            # a set published before generations (<layout>/<fp>/_build.json)
            problems.append(
                f"{storage.describe(key)}: set in the layout before generations "
                "(no _current.json); build it again to use it"
            )
            continue
        if parts[-1] != CURRENT:
            continue
        try:
            built = load_set(storage, key.rsplit("/", 1)[0])
        except FFDataError as e:
            problems.append(str(e))
            continue
        if built is not None:
            sets.append(built)
    sets.sort(key=lambda s: (s.name, s.record.get("built_at", ""), s.fingerprint))
    return sets, problems


def list_sets(root=None) -> list[BuiltSet]:
    storage = root if hasattr(root, "list") else open_storage(root)
    sets, problems = scan_sets(storage)
    for problem in problems:
        print(f"warning: {problem}; set skipped", file=sys.stderr)
    return sets


def latest_fingerprint(storage, layout: str) -> str | None:
    key = f"{layout}/{LATEST}"
    if not storage.exists(key):
        return None
    return storage.read_bytes(key).decode("utf-8", "replace").strip() or None


def open_set(root, ref: str) -> BuiltSet:
    """`name` (its latest build), `name@<fingerprint prefix>`, or `<layout>/<fingerprint>`."""
    storage = root if hasattr(root, "list") else open_storage(root)
    name, _, fp = ref.partition("@")
    candidates, problems = scan_sets(storage)
    by_address = [s for s in candidates if ref.strip("/") in (s.address, s.prefix)]
    if by_address:
        return by_address[0]
    # A set whose pointer or record cannot be read is not a candidate: say so on a miss.
    unreadable = f"; unreadable: {' | '.join(problems)}" if problems else ""
    named = [s for s in candidates if s.name == name]
    if not named:
        known = sorted({s.name for s in candidates})
        raise FFDataError(
            f"no built set {name!r} under {storage.uri} (built sets: {known or 'none'})"
            + unreadable
        )
    if fp:
        hits = [s for s in named if s.fingerprint.startswith(fp)]
        if len(hits) != 1:
            raise FFDataError(
                f"{ref}: {len(hits)} builds of {name!r} match that fingerprint prefix"
                + (unreadable if not hits else "")
            )
        return hits[0]
    latest = latest_fingerprint(storage, named[0].layout)
    for s in named:
        if s.fingerprint == latest:
            return s
    return named[-1]


def glob_escape(path: str | Path) -> str:
    """The path as a DuckDB glob that matches only itself: DuckDB globs `*`, `?` and `[` in
    file names (a root `a*` would also read `ab/`), so each is bracketed."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in Path(path).as_posix())


def duckdb_path(path: str | Path) -> str:
    """A path as a DuckDB SQL string literal that DuckDB reads as that one file."""
    return "'" + glob_escape(path).replace("'", "''") + "'"


def duckdb_paths(paths) -> str:
    """`duckdb_path` for a list: a DuckDB list literal for read_parquet([...])."""
    return "[" + ", ".join(duckdb_path(p) for p in paths) + "]"
