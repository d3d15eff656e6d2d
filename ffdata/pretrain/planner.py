"""The mix plan out of core: the rules of ffdata.pretrain.mixer (same keys, same fill, same order,
the same plan files byte for byte) run in DuckDB over the tokenized sidecars, under a memory
limit: DuckDB spills its sorts to disk, and Python holds one batch or one plan shard at a time.
The in-memory planner held every document (~215 B each, ~19 GB at 90M documents).

Over `docs` (every sidecar row with its global row number `gid`, in sorted-file order: the row
order the in-memory planner indexed):
1. tokens and documents per source: how many full copies, what is left to fill;
2. a source with a remainder: its documents in select-key order (ties by gid, as a stable sort),
   streamed through the fill; the taken ones go to table `taken` with their rank;
3. every selected (document, copy) in order-key order (ties by source, copy, then gid or rank:
   the in-memory concatenation order), streamed and cut into plan shards;
4. what a source with no full copy did not take: `downsampled.parquet`, in gid order.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from ffdata.errors import FFDataError
from ffdata.pretrain.config import PretrainConfig
from ffdata.pretrain.mixer import PLAN_SUMMARY, source_budget

PLAN_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("source", pa.string()), ("module", pa.string()),
    ("source_row", pa.int64()), ("src_shard", pa.int32()), ("src_offset", pa.int64()),
    ("length", pa.int32()), ("copy", pa.int16()),
])  # fmt: skip
DOWN_SCHEMA = pa.schema(
    [("doc_id", pa.string()), ("source", pa.string()), ("source_row", pa.int64())]
)
ROW_GROUP = 1024 * 1024  # pyarrow's default row group: the in-memory planner's file layout
BATCH = 100_000  # rows fetched from DuckDB at a time
DEFAULT_MEMORY = "1GB"


def _key_udf(seed: int):
    """xxh64 of "seed|salt|source|doc_id|copy", as mixer._keys computes it, for DuckDB."""
    h = xxhash.xxh64_intdigest

    def ffkey(salt: pa.Array, source: pa.Array, doc_id: pa.Array, copy: pa.Array) -> pa.Array:
        rows = zip(salt.to_pylist(), source.to_pylist(), doc_id.to_pylist(), copy.to_pylist(),
                   strict=True)  # fmt: skip
        keys = (h(f"{seed}\x1f{a}\x1f{s}\x1f{d}\x1f{c}") for a, s, d, c in rows)
        return pa.array(np.fromiter(keys, np.uint64, len(doc_id)))

    return ffkey


def _quoted(s) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _connect(scratch: Path, memory_limit: str, seed: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(scratch / "plan.duckdb"))
    con.execute(f"SET memory_limit = {_quoted(memory_limit)}")
    con.execute(f"SET temp_directory = {_quoted(scratch / 'spill')}")
    con.execute(f"SET threads = {min(4, os.cpu_count() or 1)}")
    con.create_function("ffkey", _key_udf(seed), ["VARCHAR", "VARCHAR", "VARCHAR", "INTEGER"],
                        "UBIGINT", type="arrow", side_effects=False)  # fmt: skip
    return con


def _docs_view(con, sidecars: list[Path], names: list[str]) -> None:
    con.execute("CREATE TABLE srcs (source VARCHAR, src INTEGER)")
    con.executemany("INSERT INTO srcs VALUES (?, ?)", [(n, i) for i, n in enumerate(names)])
    if not sidecars:
        con.execute("""CREATE VIEW docs AS SELECT NULL::BIGINT AS gid, NULL::INTEGER AS src,
                       NULL::VARCHAR AS doc_id, NULL::VARCHAR AS source, NULL::VARCHAR AS module,
                       NULL::BIGINT AS source_row, NULL::INTEGER AS shard,
                       NULL::BIGINT AS "offset", NULL::INTEGER AS length WHERE false""")
        return
    base, rows = 0, []
    for p in sidecars:
        rows.append((str(p), base))
        base += pq.ParquetFile(p).metadata.num_rows
    con.execute("CREATE TABLE files (filename VARCHAR, base BIGINT)")
    con.executemany("INSERT INTO files VALUES (?, ?)", rows)
    paths = "[" + ", ".join(_quoted(p) for p, _ in rows) + "]"
    con.execute(f"""CREATE VIEW docs AS
        SELECT f.base + d.file_row_number AS gid, s.src, d.doc_id, d.source, d.module,
               d.source_row, d.shard, d."offset", d.length
        FROM read_parquet({paths}, filename = true, file_row_number = true) d
        JOIN files f USING (filename) JOIN srcs s USING (source)""")


def _batches(con, sql: str, params=None) -> Iterator[pa.RecordBatch]:
    reader = con.sql(sql, params=params).to_arrow_reader(BATCH)
    try:
        yield from reader
    finally:
        reader.close()


def _fill(batches: Iterator[pa.RecordBatch], need: int, slack: int) -> Iterator[np.ndarray]:
    """mixer._fill, streamed: over (gid, len) batches in select order, yields the taken gids.
    The longest prefix whose sum stays within need + slack, then later documents that still fit
    the gap, until the sum is within slack of need."""
    got, prefix = 0, True
    for b in batches:
        gids = b.column("gid").to_numpy()
        lens = b.column("len").to_numpy().astype(np.int64)
        start = 0
        if prefix:
            cum = got + np.cumsum(lens)
            n = int(np.searchsorted(cum, need + slack, side="right"))
            got = int(cum[n - 1]) if n else got
            yield gids[:n]
            if n == len(lens):
                continue
            prefix, start = False, n
        taken = []
        for g, n_tok in zip(gids[start:].tolist(), lens[start:].tolist(), strict=True):
            if got >= need - slack:
                yield np.array(taken, np.int64)
                return
            if got + n_tok <= need + slack:
                taken.append(g)
                got += n_tok
        yield np.array(taken, np.int64)


class _RowGroupWriter:
    """Writes rows arriving in per-source runs as pq.write_table writes one table made of one
    chunk per source: row groups of ROW_GROUP rows, chunks split where the sources change."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema = path, schema
        self.writer = None
        self.runs: list[list[pa.Table]] = []  # per source run: its pieces in this row group
        self.rows = 0

    def start_run(self) -> None:
        self.runs.append([])

    def add(self, table: pa.Table) -> None:
        while table.num_rows:
            take = min(table.num_rows, ROW_GROUP - self.rows)
            self.runs[-1].append(table.slice(0, take))
            self.rows += take
            table = table.slice(take)
            if self.rows == ROW_GROUP:
                self._flush()
                self.runs = [[]]

    def _flush(self) -> None:
        chunks = [pa.concat_tables(r).combine_chunks() for r in self.runs if r]
        if not chunks:
            return
        group = pa.concat_tables(chunks)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(group, row_group_size=ROW_GROUP)
        self.rows = 0

    def close(self) -> None:
        self._flush()
        if self.writer is None:  # no rows at all
            pq.write_table(self.schema.empty_table(), self.path)
        else:
            self.writer.close()


def plan_mix(cfg: PretrainConfig, tokens_dir: Path, plan_dir: Path,
             memory_limit: str | None = None) -> dict:  # fmt: skip
    """Read the tokenized sidecars, choose the mix, write one plan file per final shard.
    `memory_limit` (DuckDB's, e.g. "1GB"; $FFDATA_PLAN_MEMORY) bounds the planner's memory."""
    memory_limit = memory_limit or os.environ.get("FFDATA_PLAN_MEMORY", DEFAULT_MEMORY)
    sidecars = sorted(Path(tokens_dir).glob("*.parquet"))
    plan_dir = Path(plan_dir)
    plan_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="plan-scratch-", dir=plan_dir.parent))
    try:
        con = _connect(scratch, memory_limit, cfg.seed)
        try:
            return _plan(con, cfg, sidecars, plan_dir)
        finally:
            con.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _plan(con, cfg: PretrainConfig, sidecars: list[Path], plan_dir: Path) -> dict:
    names = [s.name for s in cfg.sources]
    _docs_view(con, sidecars, names)
    stats = {src: (int(n), int(tok)) for src, n, tok in con.execute(
        "SELECT src, count(*), sum(length + 1)::BIGINT FROM docs GROUP BY src").fetchall()}  # fmt: skip
    con.execute("CREATE TABLE taken (gid BIGINT, src INTEGER, copy INTEGER, pos BIGINT)")
    con.execute("CREATE TABLE copies (src INTEGER, copy INTEGER)")
    writer = con.cursor()  # inserts while `con` streams a result
    summary = {"total_tokens_target": cfg.total_tokens, "tolerance": cfg.tolerance,
               "max_repeat": cfg.max_repeat, "seed": cfg.seed, "sources": {}}  # fmt: skip
    downsampled = []
    for i, src in enumerate(cfg.sources):
        n_docs, available = stats.get(i, (0, 0))
        target = src.target_tokens
        info, slack, full = source_budget(cfg, src, available, n_docs)
        if full:
            writer.executemany("INSERT INTO copies VALUES (?, ?)", [(i, c) for c in range(full)])
        need = target - full * available
        taken_docs = taken_tokens = 0
        if need > slack:
            ordered = _batches(con, """SELECT gid, length + 1 AS len FROM docs WHERE src = ?
                                       ORDER BY ffkey('select', source, doc_id, ?::INTEGER), gid""",
                               [i, full])  # fmt: skip
            try:
                for gids in _fill(ordered, need, slack):
                    if len(gids):
                        part = pa.table({"gid": gids, "src": np.full(len(gids), i, np.int32),
                                         "copy": np.full(len(gids), full, np.int32),
                                         "pos": np.arange(taken_docs, taken_docs + len(gids))})  # fmt: skip
                        writer.from_arrow(part).insert_into("taken")
                        taken_docs += len(gids)
            finally:
                ordered.close()  # the fill stops early: end the query before the next one
            taken_tokens = writer.execute(
                "SELECT coalesce(sum(d.length + 1), 0)::BIGINT FROM taken t JOIN docs d "
                "USING (gid) WHERE t.src = ?", [i]).fetchall()[0][0]  # fmt: skip
        if full == 0 and n_docs:  # a share or weight of 0 downsamples the source to nothing
            downsampled.append(i)
        got = full * available + taken_tokens
        if abs(got - target) > slack:
            raise FFDataError(
                f"source {src.name!r}: cannot land within ±{cfg.tolerance:.1%} of its target "
                f"{target:,} tokens (got {got:,}): its documents are too long for so small a target"
            )
        distinct = n_docs if full else taken_docs
        info.update(selected_tokens=got, selected_docs=full * n_docs + taken_docs,
                    distinct_docs=distinct,
                    deviation=round((got - target) / target, 6) if target else 0.0,
                    repeat_factor=round(got / available, 4) if available else 0.0,
                    downsampled_docs=n_docs - distinct)  # fmt: skip
        summary["sources"][src.name] = info

    n_shards, tokens, docs = _write_plan(con, cfg.tokens_per_shard, plan_dir)
    _write_downsampled(con, downsampled, plan_dir / "downsampled.parquet")
    summary["shards"] = n_shards
    summary["selected_tokens"] = tokens
    summary["selected_docs"] = docs
    # Written last: a plan folder without it is an interrupted plan and is redone.
    (plan_dir / PLAN_SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def _write_plan(con, tokens_per_shard: int, plan_dir: Path) -> tuple[int, int, int]:
    """Every selected (document, copy) in final order, cut into shards at tokens_per_shard
    without splitting a document; one plan file per shard. Two steps, so that no sort carries
    the wide columns and a hash join at once (DuckDB ran out of memory on that at 10M rows):
    the narrow (gid, copy) pairs are sorted into table `ord` (a table keeps its insertion
    order: its rowid is the rank), then joined back to the documents and read in rowid order."""
    con.execute("""
        CREATE TABLE ord AS
        WITH pairs AS (
            SELECT ffkey('order', d.source, d.doc_id, c.copy) AS key, d.src, c.copy,
                   d.gid AS pos, d.gid
            FROM docs d JOIN copies c USING (src)
            UNION ALL
            SELECT ffkey('order', d.source, d.doc_id, t.copy), t.src, t.copy, t.pos, t.gid
            FROM taken t JOIN docs d USING (gid, src))
        SELECT gid, copy FROM pairs ORDER BY key, src, copy, pos""")
    ordered = _batches(
        con,
        """
        SELECT d.doc_id, d.source, d.module, d.source_row, d.shard AS src_shard,
               d."offset" AS src_offset, d.length, o.copy::SMALLINT AS copy
        FROM ord o JOIN docs d USING (gid) ORDER BY o.rowid""",
    )
    start = docs = 0  # token offset of the next document in the whole mix
    shard, parts = 0, []
    for b in ordered:
        lens = b.column("length").to_numpy().astype(np.int64) + 1
        starts = start + np.concatenate([[0], np.cumsum(lens)[:-1]])
        shard_of = starts // tokens_per_shard
        cuts = np.searchsorted(shard_of, np.arange(shard, int(shard_of[-1]) + 2), side="left")
        for s, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True), start=shard):
            if s > shard:  # the batch reaches a new shard: the previous one is complete
                _write_shard(parts, plan_dir / f"shard-{shard:05d}.parquet")
                shard, parts = s, []
            if hi > lo:
                parts.append(b.slice(int(lo), int(hi - lo)))
        start += int(lens.sum())
        docs += len(b)
    if parts:
        _write_shard(parts, plan_dir / f"shard-{shard:05d}.parquet")
    return (shard + 1 if docs else 0), start, docs


def _write_shard(parts: list[pa.RecordBatch], path: Path) -> None:
    """One single-chunk table per shard, as the in-memory planner's `take` made it; a shard
    number no document starts in (one document longer than a shard) gets an empty file."""
    if parts:
        plan = pa.Table.from_batches(parts).combine_chunks().cast(PLAN_SCHEMA)
    else:
        plan = pa.table([pa.array([], f.type) for f in PLAN_SCHEMA], schema=PLAN_SCHEMA)
    pq.write_table(plan, path, compression="zstd")


def _write_downsampled(con, sources: list[int], path: Path) -> None:
    out = _RowGroupWriter(path, DOWN_SCHEMA)
    for i in sources:
        out.start_run()
        for b in _batches(con, """SELECT doc_id, source, source_row FROM docs d
                                  WHERE src = ? AND NOT EXISTS
                                      (SELECT 1 FROM taken t WHERE t.gid = d.gid)
                                  ORDER BY gid""", [i]):  # fmt: skip
            out.add(pa.Table.from_batches([b]).cast(DOWN_SCHEMA))
    out.close()
