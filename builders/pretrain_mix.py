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

import pyarrow.parquet as pq

from ffdata.errors import FFDataError
from ffdata.pretrain.config import load_config
from ffdata.pretrain.format import check_shard
from ffdata.pretrain.pipeline import Pipeline
from ffdata.storage import LocalStorage, default_cache_dir

VERSION = "1"


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
    work = work_dir(ctx, cfg)
    pipe = Pipeline(cfg, ctx.base_dir, work, quiet=ctx.quiet)
    summary = pipe.run_all()

    # Shards: link the finished files into staging and register them.
    tokens_by_source: Counter = Counter()
    tokens_by_module: Counter = Counter()
    rows_by_source: Counter = Counter()
    rows_by_module: Counter = Counter()
    distinct: dict[str, set] = {}
    for s in range(summary["shards"]):
        stem = f"part-mix-{s:05d}"
        for ext in (".bin", ".parquet"):
            _link(work / "out" / f"{stem}{ext}", ctx.staging / f"{stem}{ext}")
        stats = check_shard(ctx.staging / f"{stem}.bin", ctx.staging / f"{stem}.parquet")
        ctx.writer.add_file(f"{stem}.parquet", "mix", stats["documents"], payload=f"{stem}.bin",
                             tokens=stats["tokens"], format="uint16-le")  # fmt: skip
        side = pq.read_table(ctx.staging / f"{stem}.parquet",
                             columns=["doc_id", "source", "module", "length"]).to_pydict()  # fmt: skip
        for doc_id, src, mod, n in zip(
            side["doc_id"], side["source"], side["module"], side["length"], strict=True
        ):
            tokens_by_source[src] += n + 1
            tokens_by_module[mod] += n + 1
            rows_by_source[src] += 1
            rows_by_module[mod] += 1
            distinct.setdefault(src, set()).add(doc_id)

    # Accounting: every input row is kept (at least one copy) or dropped with its reason.
    inputs = pipe.input_counts()
    dropped = pipe.dropped_rows()
    dropped_by_source = Counter(r["source"] for r in dropped)
    for src in cfg.sources:
        kept = len(distinct.get(src.name, ()))
        if inputs[src.name] != kept + dropped_by_source[src.name]:
            raise FFDataError(
                f"source {src.name!r}: {inputs[src.name]} rows read but {kept} kept + "
                f"{dropped_by_source[src.name]} dropped: the accounting does not reconcile"
            )
        ctx.rows_read[src.name] += inputs[src.name]
        ctx.kept_by_source[src.name] += kept
    for r in dropped:
        if r["reason"].startswith("contaminated:"):  # "<eval item>: <n-gram>", as every builder
            detail = f"{r['detail']} (doc {r['doc_id']})"
        else:
            detail = f"{r['doc_id']}: {r['detail']}" if r["detail"] else r["doc_id"]
        ctx.drop(r["source"], r["source_row"], r["reason"], detail)
    for r in pipe.reported_rows():
        ctx.contaminated_reported[r["reason"]] += 1

    ctx.counts["by_part"]["mix"] = sum(rows_by_source.values())
    ctx.counts["by_source"].update(rows_by_source)
    ctx.counts["by_block"].update(rows_by_module)
    ctx.counts["tokens_by_source"] = tokens_by_source
    ctx.counts["tokens_by_module"] = tokens_by_module
    ctx.counts["distinct_docs_by_source"] = Counter({k: len(v) for k, v in distinct.items()})
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
