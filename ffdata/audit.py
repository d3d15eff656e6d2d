"""SQL over every built set: DuckDB views, the saved audits in audits/*.sql, `ffdata sql`.

`connect(root)` opens an in-memory DuckDB with
- `<set>` over the shards of each set's latest build, `<set>__dropped` over its dropped rows;
- `sets`: one row per build (name, fingerprint, rows, tokens, built_at, path, latest);
- `build_counts`, `build_targets`, `build_reasons`: the build records' counts, numeric
  targets and drop/report reasons in long form, one row per (set, key);
- `all_records`: every SFT-like set's records (set_name, id, block, source, instruction,
  response) in one view, for questions across sets;
- `evalsets`: every evaluation item (ffdata.evalsets), with the MMLU domain.
Only prefixes with a `_build.json` are sets. S3 sets are read through the storage layer's local
cache (DuckDB's httpfs cannot be installed offline).

`run_audit(db, name)` focuses on one set (temp views `shards`, `dropped`, `build`, `targets`,
`counts`, `reasons`; variables `set_name`, `set_dir`) and runs the generic audits, then
audits/<name>.sql if there is one. An audit file is plain SQL; every statement that returns rows
is shown under the comment lines just above it. A first-line `-- requires: col, col` skips the
file for sets whose shards lack those columns. A result column named `ok` holding false marks
the audit failed.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from ffdata.errors import FFDataError
from ffdata.sets import (
    BUILD_RECORD,
    duckdb_path,
    duckdb_paths,
    glob_escape,
    latest_fingerprint,
    list_sets,
)
from ffdata.storage import open_storage

PROJECT_DIR = Path(__file__).resolve().parent.parent
AUDIT_DIR = PROJECT_DIR / "audits"
GENERIC_AUDITS = (
    "reconciliation",
    "composition",
    "contamination",
    "lengths",
    "mcq_balance",
    "duplicates",
)
COUNT_KINDS = ("by_part", "by_block", "by_source", "by_format", "by_block_category")
RECORD_COLUMNS = ("id", "block", "source", "instruction", "response")


def view_name(set_name: str) -> str:
    return re.sub(r"\W", "_", set_name)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _flatten(obj, prefix: str = "") -> list[tuple[str, float]]:
    """Numeric leaves of a nested dict: {"a": {"b": 3}} -> [("a.b", 3.0)]."""
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [(prefix, float(obj))]
    if isinstance(obj, dict):
        return [
            kv for k in sorted(obj) for kv in _flatten(obj[k], f"{prefix}.{k}" if prefix else k)
        ]
    return []


@dataclass
class Result:
    title: str
    columns: list[str]
    rows: list[tuple]
    source: str = ""  # audit file or "sql"
    note: str = ""  # why it was skipped

    @property
    def failed(self) -> bool:
        return "ok" in self.columns and any(r[self.columns.index("ok")] is False for r in self.rows)


@dataclass
class AuditDB:
    con: duckdb.DuckDBPyConnection
    root: str
    sets: dict = field(default_factory=dict)  # view name -> BuiltSet (latest build)

    def views(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows]

    def _error(self, e: Exception, where: str = "") -> FFDataError:
        message = " ".join(str(e).split())
        where = f"{where}: " if where and where != "sql" else ""
        return FFDataError(
            f"{where}SQL error: {message} | available views: {', '.join(self.views())}"
        )

    def query(self, sql: str) -> Result:
        try:
            for stmt in self.con.extract_statements(sql):
                check_read_only(stmt)
            cur = self.con.execute(sql)
            columns = [d[0] for d in cur.description or []]
            return Result("", columns, cur.fetchall(), "sql")
        except duckdb.Error as e:
            raise self._error(e) from None

    def run_script(self, sql: str, source: str = "sql") -> list[Result]:
        """Run every statement; keep the results of those that return rows (SELECT, WITH…)."""
        try:
            statements = self.con.extract_statements(sql)
        except duckdb.Error as e:
            raise self._error(e, source) from None
        results = []
        for stmt in statements:
            check_read_only(stmt, source)
            try:
                cur = self.con.execute(stmt)
            except duckdb.Error as e:
                raise self._error(e, source) from None
            if stmt.type == duckdb.StatementType.SELECT:
                columns = [d[0] for d in cur.description or []]
                results.append(Result(_title(stmt.query), columns, cur.fetchall(), source))
        return results

    def columns(self, view: str) -> list[str]:
        return [d[0] for d in self.con.execute(f"SELECT * FROM {_quote(view)} LIMIT 0").description]

    def focus(self, set_name: str) -> None:
        """Temp views shards/dropped/build/targets/counts/reasons for one set's latest build."""
        view = view_name(set_name)
        if view not in self.sets:
            known = sorted(s.name for s in self.sets.values())
            raise FFDataError(f"no built set {set_name!r} under {self.root} (built sets: {known})")
        built = self.sets[view]
        record_path = built.storage.fetch(f"{built.prefix}/{BUILD_RECORD}")
        self.con.execute(f"SET VARIABLE set_name = {_literal(built.name)}")
        self.con.execute(f"SET VARIABLE set_dir = {_literal(record_path.parent.as_posix())}")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW shards AS {self._shards_with_part(view)}")
        # rows per part, block and pool, for the composition audit and the report's charts
        cols = self.columns("shards")
        part = "part" if "part" in cols else "NULL::VARCHAR"
        block = "block" if "block" in cols else "NULL::VARCHAR"
        pool = ("CASE WHEN json_valid(meta) THEN json_extract_string(meta, '$.pool') END"
                if "meta" in cols else "NULL::VARCHAR")  # fmt: skip
        self.con.execute(
            "CREATE OR REPLACE TEMP VIEW composition AS SELECT "
            f"{part} AS part, {block} AS block, {pool} AS pool, count(*) AS n FROM shards "
            "GROUP BY ALL"
        )
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW dropped AS SELECT * FROM {_quote(view + '__dropped')}"
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP VIEW build AS SELECT * FROM "
            f"read_json({duckdb_path(record_path)})"
        )
        for name in ("targets", "counts", "reasons"):
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * EXCLUDE (set_name) "
                f"FROM build_{name} WHERE set_name = {_literal(built.name)}"
            )

    def _shards_with_part(self, view: str) -> str:
        """The set's rows with a `part` column (its shard part: validation is its own part),
        unless the rows carry a column of that name themselves."""
        built = self.sets[view]
        if "part" in self.columns(view) or not built.parts():
            return f"SELECT * FROM {_quote(view)}"
        selects = []
        for part in built.parts():
            files = [p.as_posix() for p in built.shard_paths(part) if p.suffix == ".parquet"]
            if files:
                listed = duckdb_paths(files)
                selects.append(f"SELECT *, {_literal(part)} AS part "
                               f"FROM read_parquet({listed}, union_by_name = true)")  # fmt: skip
        return " UNION ALL BY NAME ".join(selects) or f"SELECT * FROM {_quote(view)}"

    def shard_files(self, set_name: str) -> list[tuple[str, Path]]:
        """(part, local Parquet path) of every shard of a set's latest build."""
        built = self.sets[view_name(set_name)]
        return [(part, p) for part in built.parts() for p in built.shard_paths(part)
                if p.suffix == ".parquet"]  # fmt: skip


def _title(query: str) -> str:
    """The comment lines just above a statement (the last comment block before its SQL)."""
    block: list[str] = []
    for line in query.strip("\n").splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            block.append(stripped[2:].strip())
        elif not stripped:
            block = []
        else:
            break
    return " ".join(block)


def _catalog_tables(all_builds, latest) -> dict[str, pa.Table]:
    sets_rows, counts, targets, reasons = [], [], [], []
    for s in all_builds:
        rec = s.record
        sets_rows.append(
            {
                "name": s.name,
                "fingerprint": s.fingerprint,
                "rows": rec.get("rows"),
                "tokens": rec.get("tokens"),
                "built_at": rec.get("built_at"),
                "path": s.uri,
                "layout": s.layout,
                "latest": latest.get(s.name) is s,
                "input_rows": (rec.get("reconciliation") or {}).get("input"),
                "dropped": (rec.get("dropped") or {}).get("total"),
            }
        )
    for s in latest.values():
        rec = s.record
        for kind in COUNT_KINDS:
            for key, n in sorted((rec.get("counts") or {}).get(kind, {}).items()):
                counts.append({"set_name": s.name, "kind": kind, "key": key, "n": n})
        for key, value in _flatten(rec.get("targets") or {}):
            leaf = key.rsplit(".", 1)[-1]
            targets.append({"set_name": s.name, "key": key, "leaf": leaf, "target": value})
        for reason, n in sorted((rec.get("dropped") or {}).get("by_reason", {}).items()):
            reasons.append({"set_name": s.name, "reason": reason, "n": n, "action": "dropped"})
        for reason, n in sorted((rec.get("contamination_reported") or {}).items()):
            reasons.append({"set_name": s.name, "reason": reason, "n": n, "action": "reported"})
    schemas = {
        "sets": pa.schema(
            [
                ("name", pa.string()),
                ("fingerprint", pa.string()),
                ("rows", pa.int64()),
                ("tokens", pa.int64()),
                ("built_at", pa.string()),
                ("path", pa.string()),
                ("layout", pa.string()),
                ("latest", pa.bool_()),
                ("input_rows", pa.int64()),
                ("dropped", pa.int64()),
            ]
        ),
        "build_counts": pa.schema(
            [
                ("set_name", pa.string()),
                ("kind", pa.string()),
                ("key", pa.string()),
                ("n", pa.int64()),
            ]
        ),
        "build_targets": pa.schema(
            [
                ("set_name", pa.string()),
                ("key", pa.string()),
                ("leaf", pa.string()),
                ("target", pa.float64()),
            ]
        ),
        "build_reasons": pa.schema(
            [
                ("set_name", pa.string()),
                ("reason", pa.string()),
                ("n", pa.int64()),
                ("action", pa.string()),
            ]
        ),
    }
    data = {"sets": sets_rows, "build_counts": counts, "build_targets": targets}
    data["build_reasons"] = reasons
    return {k: pa.Table.from_pylist(data[k], schema=schemas[k]) for k in schemas}


def _create_table(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register("_arrow_in", table)
    con.execute(f"CREATE TABLE {_quote(name)} AS SELECT * FROM _arrow_in")
    con.unregister("_arrow_in")


def _gpt2_tokens(texts: pa.Array) -> pa.Array:
    """SQL function gpt2_tokens(text): GPT-2 token count with the bundled tokenizer."""
    from ffdata.tokenizer import encode_batch

    values = texts.to_pylist()
    counts = encode_batch([t or "" for t in values])
    return pa.array(
        [None if t is None else len(c) for t, c in zip(values, counts, strict=True)], pa.int64()
    )


def connect(root: str | None = None, evalsets: bool = True) -> AuditDB:
    """DuckDB with a view per built set and the catalog views (see the module doc)."""
    storage = open_storage(root)
    con = duckdb.connect()
    # no progress bars: audits print tables, and the bar's redraws fill logs and pipes
    con.execute("SET enable_progress_bar = false")
    db = AuditDB(con, storage.uri)
    all_builds = list_sets(storage)
    by_name: dict[str, list] = {}
    for s in all_builds:  # sorted by (name, built_at)
        by_name.setdefault(s.name, []).append(s)
    latest = {}
    for name, builds in by_name.items():  # the `latest` pointer's build, else the newest
        pointer = latest_fingerprint(storage, builds[-1].layout)
        latest[name] = next((s for s in builds if s.fingerprint == pointer), builds[-1])
    con.create_function(
        "gpt2_tokens",
        _gpt2_tokens,
        [duckdb.sqltype("VARCHAR")],
        duckdb.sqltype("BIGINT"),
        type="arrow",
    )
    for name, table in _catalog_tables(all_builds, latest).items():
        _create_table(con, name, table)

    record_views = []
    for built in sorted(latest.values(), key=lambda s: s.name):
        view = view_name(built.name)
        shards = [p.as_posix() for p in built.shard_paths() if p.suffix == ".parquet"]
        files = duckdb_paths(shards)
        if shards:
            sql = f"SELECT * FROM read_parquet({files}, union_by_name = true)"
        else:
            sql = "SELECT NULL::VARCHAR AS id WHERE false"
        con.execute(f"CREATE VIEW {_quote(view)} AS {sql}")
        dropped = built.dropped_path()
        sql = (
            f"SELECT * FROM read_parquet({duckdb_path(dropped)})"
            if dropped
            else "SELECT NULL::VARCHAR AS source, NULL::BIGINT AS source_row, "
            "NULL::VARCHAR AS reason, NULL::VARCHAR AS detail WHERE false"
        )
        con.execute(f"CREATE VIEW {_quote(view + '__dropped')} AS {sql}")
        db.sets[view] = built
        cols = db.columns(view)
        if all(c in cols for c in RECORD_COLUMNS):
            picked = ", ".join(_quote(c) for c in RECORD_COLUMNS)
            record_views.append(
                f"SELECT {_literal(built.name)} AS set_name, {picked} FROM {_quote(view)}"
            )
    empty = "SELECT NULL::VARCHAR AS set_name, " + ", ".join(
        f"NULL::VARCHAR AS {c}" for c in RECORD_COLUMNS
    )
    con.execute(
        "CREATE VIEW all_records AS "
        + (" UNION ALL ".join(record_views) if record_views else f"{empty} WHERE false")
    )
    if evalsets:
        from ffdata.evalsets import evalsets_table

        _create_table(con, "evalsets", evalsets_table())
    _lock_down(con, latest.values())
    return db


# What `ffdata sql` and the audits may run: queries, and objects in the in-memory database.
# COPY/EXPORT (write files), ATTACH/DETACH (open database files), LOAD/INSTALL (extensions),
# PREPARE/EXECUTE (would run any of those later), PRAGMA (IMPORT DATABASE) are refused.
READ_ONLY_STATEMENTS = {
    getattr(duckdb.StatementType, name)
    for name in (
        "SELECT", "EXPLAIN", "CREATE", "CREATE_FUNC", "DROP", "ALTER", "INSERT", "UPDATE",
        "DELETE", "SET", "VARIABLE_SET", "CALL", "TRANSACTION", "ANALYZE",
    )
}  # fmt: skip


def check_read_only(stmt, source: str = "sql") -> None:
    if stmt.type not in READ_ONLY_STATEMENTS:
        word = (stmt.query.split() or [stmt.type.name])[0].upper()
        raise FFDataError(
            f"{source}: refused {word}: SQL here is read-only over the built sets "
            "(no COPY, EXPORT, ATTACH, INSTALL, LOAD, PRAGMA)"
        )


def _lock_down(con, built_sets) -> None:
    """After the views exist: DuckDB may read the sets' own folders and nothing else, and no
    query can change that (a SET of any option fails once the configuration is locked). The
    folders are readable only: the statement check above refuses every statement that writes."""
    folders = set()
    for built in built_sets:
        paths = [*built.shard_paths(), built.dropped_path()]
        paths.append(built.storage.fetch(f"{built.prefix}/{BUILD_RECORD}"))
        for p in filter(None, paths):  # as the views name them, and with links resolved
            for q in (p, Path(p).resolve()):
                folder = f"{Path(q).parent.as_posix().rstrip('/')}/"
                folders.update((folder, glob_escape(folder)))  # views name escaped paths
    if folders:
        listed = ", ".join(_literal(f) for f in sorted(folders))
        con.execute(f"SET allowed_directories = [{listed}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _header_list(sql: str, key: str) -> list[str]:
    """Names from a `-- key: a, b` line of the SQL file's leading comment block."""
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        if line.startswith(f"-- {key}:"):
            return [x.strip() for x in line.split(":", 1)[1].split(",") if x.strip()]
    return []


def audit_files(name: str, audit_dir: Path = AUDIT_DIR) -> list[Path]:
    """The generic audits, then audits/<name>.sql. A set's own file can say
    `-- replaces: composition` when a generic audit does not fit it (pretrain_mix's targets are
    token shares, not row counts)."""
    own = audit_dir / f"{name}.sql"
    if not own.exists() or name in GENERIC_AUDITS:
        return [audit_dir / f"{g}.sql" for g in GENERIC_AUDITS]
    replaced = set(_header_list(own.read_text(encoding="utf-8"), "replaces"))
    if unknown := sorted(replaced - set(GENERIC_AUDITS)):
        raise FFDataError(f"{own}: '-- replaces:' names no generic audit {unknown}")
    return [audit_dir / f"{g}.sql" for g in GENERIC_AUDITS if g not in replaced] + [own]


def run_audit(db: AuditDB, name: str, audit_dir: Path = AUDIT_DIR) -> list[Result]:
    """The generic audits for set `name`, then audits/<name>.sql if it exists."""
    db.focus(name)
    columns = set(db.columns("shards"))
    results = []
    for path in audit_files(name, audit_dir):
        if not path.exists():
            raise FFDataError(f"{path}: saved audit missing")
        sql = path.read_text(encoding="utf-8")
        missing = [c for c in _header_list(sql.lstrip(), "requires") if c not in columns]
        if missing:
            note = f"skipped: the shards have no {', '.join(missing)} column"
            results.append(Result(path.stem, [], [], path.name, note))
            continue
        results.extend(db.run_script(sql, path.name))
    return results + shortcut_results(db, name)


def shortcut_results(db: AuditDB, name: str) -> list[Result]:
    """The answer-blind baseline panel (ffdata.shortcuts) of a set with MCQ or yes/no items:
    the best baseline per pool, then every baseline on every pool. Judged against the
    manifest's `shortcuts` key, or the defaults where it has none (then only shown: the build
    gates on the key alone)."""
    from ffdata import shortcuts as sc

    built = db.sets[view_name(name)]
    manifest = built.record.get("manifest") or {}
    spec = manifest.get("shortcuts") or {}
    max_gain = spec.get("max_gain", sc.DEFAULT_MAX_GAIN)
    min_items = spec.get("min_items", sc.DEFAULT_MIN_ITEMS)
    items, unread = sc.items_from_files(db.shard_files(name))
    if not items:
        return []
    anchors = sc.anchors_for(built.record.get("targets"), manifest, PROJECT_DIR)
    rows = sc.panel(items, anchors, max_gain, min_items)
    judged = (f"ok: gain <= {max_gain} on pools of >= {min_items} items"
              + ("" if spec else ", defaults: the manifest has no shortcuts key"))  # fmt: skip
    if unread:
        judged += f"; {unread} MCQ/yes-no rows could not be read"
    best: dict[tuple, sc.Row] = {}  # per pool: the largest gain among judged rows, if any
    for r in rows:
        key = (r.part, r.block, r.pool)
        rank = (r.ok is not None, r.gain)
        if key not in best or rank > (best[key].ok is not None, best[key].gain):
            best[key] = r
    cols = list(sc.COLUMNS)
    return [
        Result(f"Answer-blind baselines: the best one per pool ({judged})", cols,
               [r.values() for r in best.values()], "shortcuts"),
        Result(f"Answer-blind baselines: every baseline on every pool ({judged})", cols,
               [r.values() for r in rows], "shortcuts"),
        Result(f"Key balance per pool (ok: Yes share 50% ± 3 points, each sorted rank within 3 "
               f"points of 1/n, no key the only option of its format; pools of >= {min_items} "
               "items)", list(sc.BALANCE_COLUMNS), sc.key_balance(items, min_items),
               "shortcuts"),
    ]  # fmt: skip


def result_json(results: list[Result]) -> str:
    out = [
        {
            "audit": r.source,
            "title": r.title,
            "note": r.note,
            "rows": [dict(zip(r.columns, row, strict=True)) for row in r.rows],
        }
        for r in results
    ]
    return json.dumps(out, indent=1, default=str)


def result_csv(result: Result) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows(result.rows)
    return buf.getvalue()


def result_table(result: Result):
    """A rich Table of a result (for the terminal)."""
    from rich.table import Table

    table = Table(title=result.title or None, title_justify="left")
    for c in result.columns:
        table.add_column(c, overflow="fold")
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


# --- overlap across sets ------------------------------------------------------------------------
ROW_LOADERS = ("jsonl", "parquet", "csv", "hf")  # sources whose rows are dataset rows
OVERLAP_COLUMNS = ("instruction", "source", "source_row")


def overlap(db: AuditDB, names: list[str] | None = None, audit_dir: Path = AUDIT_DIR):
    """The overlap matrix of audits/overlap.sql over `names` (default: every built set with
    instruction, source and source_row columns): per pair of (set, part), the normalized
    questions they share and the dataset rows (source file or hub split, row) they share."""
    if names:
        missing = [n for n in names if view_name(n) not in db.sets]
        if missing:
            known = sorted(s.name for s in db.sets.values())
            raise FFDataError(f"no built set {missing[0]!r} under {db.root} (built sets: {known})")
        chosen = [db.sets[view_name(n)] for n in dict.fromkeys(names)]
        lacking = [s.name for s in chosen if not set(OVERLAP_COLUMNS) <= set(db.columns(
            view_name(s.name)))]  # fmt: skip
        if lacking:
            raise FFDataError(
                f"set {lacking[0]!r} has no {', '.join(OVERLAP_COLUMNS)} columns to compare"
            )
    else:
        chosen = [s for v, s in sorted(db.sets.items())
                  if set(OVERLAP_COLUMNS) <= set(db.columns(v))]  # fmt: skip
    selects, ids = [], []
    for built in chosen:
        inputs = built.record.get("inputs") or {}
        for spec in (built.record.get("manifest") or {}).get("sources", []):
            if spec.get("loader") in ROW_LOADERS and isinstance(inputs.get(spec["name"]), str):
                ids.append((built.name, spec["name"], inputs[spec["name"]]))
        for part, path in db.shard_files(built.name):
            selects.append(
                f"SELECT {_literal(built.name)} AS set_name, {_literal(part)} AS part, "
                f"instruction, source, source_row FROM read_parquet({duckdb_path(path)})"
            )
    if not selects:
        raise FFDataError(f"no built set under {db.root} has {', '.join(OVERLAP_COLUMNS)} columns")
    db.con.execute("CREATE OR REPLACE TEMP VIEW overlap_rows AS " + " UNION ALL ".join(selects))
    db.con.execute(
        "CREATE OR REPLACE TEMP TABLE overlap_sources (set_name VARCHAR, source VARCHAR, "
        "source_id VARCHAR)"
    )
    if ids:
        db.con.executemany("INSERT INTO overlap_sources VALUES (?, ?, ?)", ids)
    path = audit_dir / "overlap.sql"
    return db.run_script(path.read_text(encoding="utf-8"), path.name)
