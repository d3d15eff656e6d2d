"""Stage 1 pretraining mix: 8 sources through datatrove (quality filters, exact/URL/MinHash dedup,
decontamination) -> hash-based mix to token targets -> uint16 GPT-2 token shards + sidecars.

The datatrove work lives next to the set (`<root>/<layout>/_work/<fingerprint>/`, or
`options.work_dir` / $FFDATA_WORK_DIR for S3 roots and clusters) so a killed build resumes:
completed tasks are skipped. The set itself is published by ffdata.build as usual: one shard
entry per sidecar (`part-mix-<n>.parquet`, DuckDB-readable), with its token file as `payload`.
"""

import os
import shutil
from collections import Counter
from pathlib import Path

import duckdb

from ffdata.errors import FFDataError
from ffdata.pretrain.config import load_config
from ffdata.pretrain.format import check_shard
from ffdata.pretrain.pipeline import Pipeline
from ffdata.sets import DROPPED_FILE
from ffdata.storage import LocalStorage, default_cache_dir

VERSION = "2"  # 2: _dropped.parquet written by DuckDB (same rows)


def work_dir(ctx, cfg) -> Path:
    explicit = os.environ.get("FFDATA_WORK_DIR") or cfg.work_dir
    if explicit:
        return Path(explicit) / ctx.fingerprint
    if isinstance(ctx.storage, LocalStorage):
        return ctx.storage.path(f"{ctx.layout}/_work/{ctx.fingerprint}")
    return default_cache_dir() / "work" / ctx.layout / ctx.fingerprint


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same filesystem: no second copy of the tokens
    except OSError:
        shutil.copyfile(src, dst)


def build(ctx) -> None:
    cfg = load_config(ctx.manifest)
    cfg.decontam_source = ctx.evalset_source or "auto"
    work = work_dir(ctx, cfg)
    pipe = Pipeline(cfg, ctx.base_dir, work, quiet=ctx.quiet)
    summary = pipe.run_all()

    # Shards: link the finished files into staging and register them.
    sidecars = []
    for s in range(summary["shards"]):
        stem = f"part-mix-{s:05d}"
        for ext in (".bin", ".parquet"):
            _link(work / "out" / f"{stem}{ext}", ctx.staging / f"{stem}{ext}")
        stats = check_shard(ctx.staging / f"{stem}.bin", ctx.staging / f"{stem}.parquet")
        ctx.writer.add_file(f"{stem}.parquet", "mix", stats["documents"], payload=f"{stem}.bin",
                             tokens=stats["tokens"], format="uint16-le")  # fmt: skip
        sidecars.append(ctx.staging / f"{stem}.parquet")

    # Counts and accounting run in DuckDB over the files: at full scale there are far more
    # documents and dropped rows than a Python loop (or memory) should hold.
    con = duckdb.connect()
    con.execute("SET threads = 1")  # one writer thread: the same rows give the same file bytes
    composition = _composition(con, sidecars)
    dropped = _write_dropped(con, pipe, ctx.staging / DROPPED_FILE)

    # Accounting: every input row is kept (at least one copy) or dropped with its reason.
    inputs = pipe.input_counts()
    ctx.drops_written(dropped)
    for src in cfg.sources:
        kept = composition["distinct_docs_by_source"][src.name]
        if inputs[src.name] != kept + ctx.dropped_by_source[src.name]:
            raise FFDataError(
                f"source {src.name!r}: {inputs[src.name]} rows read but {kept} kept + "
                f"{ctx.dropped_by_source[src.name]} dropped: the accounting does not reconcile"
            )
        ctx.rows_read[src.name] += inputs[src.name]
        ctx.kept_by_source[src.name] += kept
    for r in pipe.reported_rows():
        ctx.contaminated_reported[r["reason"]] += 1

    ctx.counts["by_part"]["mix"] = sum(composition["rows_by_source"].values())
    ctx.counts["by_source"].update(composition["rows_by_source"])
    ctx.counts["by_block"].update(composition["rows_by_module"])
    for key in ("tokens_by_source", "tokens_by_module", "distinct_docs_by_source"):
        ctx.counts[key] = composition[key]
    ctx.set_targets(
        {
            "total_tokens": cfg.total_tokens,
            "tolerance": cfg.tolerance,
            "max_repeat": cfg.max_repeat,
            "shares": cfg.shares,
            "quality_weights": cfg.quality_weights,
            "sources": summary["sources"],
            "filters": sorted(cfg.filters),
            "dedup": {k: v for k, v in cfg.dedup.items() if k != "finder_workers"},
            "tokens_per_shard": cfg.tokens_per_shard,
            "tokenizer": "gpt2 (tiktoken, bundled BPE; EOT 50256 after each document)",
            "stages": {
                k: {"tasks": v["tasks"], "ran": v["ran"], "skipped": v["skipped"]}
                for k, v in pipe.ran.items()
            },  # fmt: skip
        }
    )
    if not cfg.keep_work:
        shutil.rmtree(work, ignore_errors=True)


def _quoted(path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _files(paths) -> str:
    return "[" + ", ".join(_quoted(p) for p in paths) + "]"


def _composition(con, sidecars: list[Path]) -> dict[str, Counter]:
    """Rows and tokens (length + EOT) by source and by module, distinct documents by source."""
    out = {k: Counter() for k in ("rows_by_source", "rows_by_module", "tokens_by_source",
                                  "tokens_by_module", "distinct_docs_by_source")}  # fmt: skip
    if not sidecars:
        return out
    rows = con.execute(
        f"""SELECT source, module, count(*), sum(length + 1), count(DISTINCT doc_id)
            FROM read_parquet({_files(sidecars)}) GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    for source, module, n, tokens, distinct in rows:
        out["rows_by_source"][source] += n
        out["rows_by_module"][module] += n
        out["tokens_by_source"][source] += int(tokens)
        out["tokens_by_module"][module] += int(tokens)
        out["distinct_docs_by_source"][source] += distinct  # a document has one module
    return out


def _write_dropped(con, pipe, path: Path) -> dict[tuple[str, str], int]:
    """Every dropped row (filters, dedup, decontamination, malformed, and the mixer's
    downsampling) into the set's `_dropped.parquet`, sorted so the file does not depend on which
    task dropped what first; returns the row counts by (source, reason)."""
    parts = []
    files = pipe.dropped_files()
    if files:
        parts.append(f"""SELECT source, source_row, reason, coalesce(detail, '') AS detail, doc_id
                         FROM read_parquet({_files(files)})""")
    down = pipe.work / "plan" / "downsampled.parquet"
    if down.exists():
        parts.append(f"""SELECT source, source_row, 'downsampled' AS reason, '' AS detail, doc_id
                         FROM read_parquet({_files([down])})""")
    if not parts:
        parts.append("""SELECT NULL::VARCHAR AS source, NULL::BIGINT AS source_row,
                        NULL::VARCHAR AS reason, NULL::VARCHAR AS detail,
                        NULL::VARCHAR AS doc_id WHERE false""")
    # The detail names the document; for contamination it follows the "<eval item>: <n-gram>"
    # shape every builder uses.
    con.execute(
        f"""COPY (
              SELECT source, source_row::BIGINT AS source_row, reason,
                     CASE WHEN starts_with(reason, 'contaminated:')
                            THEN detail || ' (doc ' || doc_id || ')'
                          WHEN detail <> '' THEN doc_id || ': ' || detail
                          ELSE doc_id END AS detail
              FROM ({" UNION ALL ".join(parts)})
              ORDER BY source, source_row, reason, doc_id
            ) TO {_quoted(path)} (FORMAT parquet, COMPRESSION zstd)"""
    )
    counts = con.execute(
        f"SELECT source, reason, count(*) FROM read_parquet({_quoted(path)}) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return {(source, reason): n for source, reason, n in counts}
