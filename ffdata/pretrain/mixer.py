"""The mix: which documents, how many times, in what order, in which final shard.

Selection is a pure function of (seed, source, doc_id, copy): each document gets a 64-bit
xxhash key, so neither the number of tasks nor the worker that tokenized it changes the result.
For each source with target T and A tokens left after filtering and dedup:
- r = T / A; `floor(r)` full copies of every document (upsampling), then
- the remainder filled from the documents in key order (salted by the copy number), taking a
  document when it still fits, until the source is within the tolerance of T (downsampling).
- r above `max_repeat` is an error that says what to change.
The final order sorts every selected (document, copy) by a second key, which spreads repeats
through the whole set; shards are cut at `tokens_per_shard` without splitting a document.

A build plans with ffdata.pretrain.planner.plan_mix: these rules out of core, in DuckDB under
a memory limit. `plan_mix_in_memory` here is the reference it must equal byte for byte (tests,
bench/pretrain_plan.py); it holds every document in memory (~215 B each).
"""

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from datatrove.pipeline.base import PipelineStep

from ffdata.errors import FFDataError
from ffdata.pretrain.config import PretrainConfig
from ffdata.pretrain.format import TokenShardWriter, read_tokens

PLAN_SUMMARY = "_summary.json"


KEY_CHUNK = 1 << 20  # doc ids turned into Python strings this many at a time, not all at once


def _keys(seed: int, salt: str, source: str, doc_ids: pa.ChunkedArray, rows: np.ndarray,
          copies) -> np.ndarray:  # fmt: skip
    """xxh64 of "seed|salt|source|doc_id|copy" for the documents at `rows` of `doc_ids`;
    `copies`: one int for all, or one per row."""
    prefix = f"{seed}\x1f{salt}\x1f{source}\x1f"
    h = xxhash.xxh64_intdigest
    out = np.empty(len(rows), np.uint64)
    for start in range(0, len(rows), KEY_CHUNK):
        ids = doc_ids.take(pa.array(rows[start : start + KEY_CHUNK])).to_pylist()
        if isinstance(copies, int):
            suffix = f"\x1f{copies}"
            keys = (h(prefix + d + suffix) for d in ids)
        else:
            cs = copies[start : start + KEY_CHUNK].tolist()
            keys = (h(f"{prefix}{d}\x1f{c}") for d, c in zip(ids, cs, strict=True))
        out[start : start + len(ids)] = np.fromiter(keys, np.uint64, len(ids))
    return out


def _fill(lengths: np.ndarray, order: np.ndarray, need: int, slack: int) -> np.ndarray:
    """Indices (in `order`) whose lengths sum to within `slack` of `need`, never above need+slack:
    the longest prefix that fits, then later documents that still fit the gap."""
    if need <= 0:
        return np.zeros(0, np.int64)
    cum = np.cumsum(lengths[order])
    n = int(np.searchsorted(cum, need + slack, side="right"))
    taken = list(order[:n])
    got = int(cum[n - 1]) if n else 0
    for i in order[n:]:
        if got >= need - slack:
            break
        if got + lengths[i] <= need + slack:
            taken.append(i)
            got += int(lengths[i])
    return np.array(taken, np.int64)


def source_budget(cfg: PretrainConfig, src, available: int, n_docs: int):
    """A source's plan summary, its token slack and how many whole copies of it the target
    takes; errors when it has nothing left or needs more repeats than max_repeat. Shared by the
    in-memory and the out-of-core planner, so both plan and fail alike."""
    target = src.target_tokens
    slack = int(cfg.tolerance * target)
    info = {"group": src.group, "module": src.module, "quality": src.quality,
            "weight": src.weight, "share": round(src.share, 6), "target_tokens": target,
            "available_tokens": available, "available_docs": n_docs}  # fmt: skip
    if target > 0 and available == 0:
        raise FFDataError(
            f"source {src.name!r}: no documents left after filtering and dedup, "
            f"but its target is {target:,} tokens"
        )
    ratio = target / available if available else 0.0
    if ratio > cfg.max_repeat * (1 + cfg.tolerance):
        raise FFDataError(
            f"source {src.name!r}: needs {ratio:.2f}x its {available:,} available tokens to reach "
            f"its target of {target:,} ({src.share:.1%} of {cfg.total_tokens:,}), above "
            f"targets.max_repeat {cfg.max_repeat:g}: lower its share, raise max_repeat or add data"
        )
    full = math.floor(ratio) if ratio >= 1 else 0
    if full and target - full * available < -slack:  # e.g. ratio 2.0001 rounds down cleanly
        full -= 1
    return info, slack, full


def plan_mix_in_memory(cfg: PretrainConfig, tokens_dir: Path, plan_dir: Path) -> dict:
    """Read the tokenized sidecars, choose the mix, write one plan file per final shard."""
    sidecars = sorted(Path(tokens_dir).glob("*.parquet"))
    cols = ["doc_id", "source", "module", "source_row", "shard", "offset", "length"]
    # source and module repeat on every row: kept dictionary-encoded in memory
    dict_cols = ["source", "module"]
    table = (
        pa.concat_tables(
            [pq.read_table(p, columns=cols, read_dictionary=dict_cols) for p in sidecars]
        ).unify_dictionaries()
        if sidecars
        else None
    )
    plan_dir.mkdir(parents=True, exist_ok=True)
    summary = {"total_tokens_target": cfg.total_tokens, "tolerance": cfg.tolerance,
               "max_repeat": cfg.max_repeat, "seed": cfg.seed, "sources": {}}  # fmt: skip
    picks = []  # (table row index array, copy array) per source
    all_lengths = table["length"].to_numpy().astype(np.int64) + 1 if table is not None else None
    downsampled = []
    for src in cfg.sources:
        rows = (
            np.flatnonzero(pc.equal(table["source"], src.name).to_numpy(zero_copy_only=False))
            if table is not None
            else np.zeros(0, np.int64)
        )
        lengths = all_lengths[rows] if len(rows) else np.zeros(0, np.int64)
        available = int(lengths.sum())
        target = src.target_tokens
        info, slack, full = source_budget(cfg, src, available, int(len(rows)))
        sel_rows, sel_copy = [], []
        for c in range(full):
            sel_rows.append(rows)
            sel_copy.append(np.full(len(rows), c, np.int16))
        need = target - full * available
        taken = np.zeros(0, np.int64)
        if need > slack:
            order = np.argsort(
                _keys(cfg.seed, "select", src.name, table["doc_id"], rows, full), kind="stable"
            )
            taken = _fill(lengths, order, need, slack)
            sel_rows.append(rows[taken])
            sel_copy.append(np.full(len(taken), full, np.int16))
        if full == 0 and len(rows):  # a share or weight of 0 downsamples the source to nothing
            left = np.setdiff1d(np.arange(len(rows)), taken)
            downsampled.append((src.name, rows[left]))
        got = sum(int(lengths[np.searchsorted(rows, r)].sum()) for r in sel_rows) if sel_rows else 0
        if abs(got - target) > slack:
            raise FFDataError(
                f"source {src.name!r}: cannot land within ±{cfg.tolerance:.1%} of its target "
                f"{target:,} tokens (got {got:,}): its documents are too long for so small a target"
            )
        sel_r = np.concatenate(sel_rows) if sel_rows else np.zeros(0, np.int64)
        sel_c = np.concatenate(sel_copy) if sel_copy else np.zeros(0, np.int16)
        picks.append((src.name, sel_r, sel_c))
        distinct = len(np.unique(sel_r))
        info.update(selected_tokens=got, selected_docs=int(len(sel_r)), distinct_docs=distinct,
                    deviation=round((got - target) / target, 6) if target else 0.0,
                    repeat_factor=round(got / available, 4) if available else 0.0,
                    downsampled_docs=int(len(rows) - distinct))  # fmt: skip
        summary["sources"][src.name] = info

    # Final order: one key per (document, copy) over the whole mix.
    order_keys = [
        _keys(cfg.seed, "order", name, table["doc_id"], sel_r, sel_c)
        for name, sel_r, sel_c in picks
    ]
    keys = np.concatenate(order_keys) if order_keys else np.zeros(0, np.uint64)
    rows = np.concatenate([p[1] for p in picks]) if picks else np.zeros(0, np.int64)
    copies = np.concatenate([p[2] for p in picks]) if picks else np.zeros(0, np.int16)
    order = np.argsort(keys, kind="stable")
    del keys, order_keys, picks
    rows, copies = rows[order], copies[order]
    lengths = all_lengths[rows] if len(rows) else np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(rows) else lengths
    shard_of = starts // cfg.tokens_per_shard
    n_shards = int(shard_of[-1]) + 1 if len(rows) else 0
    # shard_of never decreases along the order: each shard is one slice of it
    bounds = np.searchsorted(shard_of, np.arange(n_shards + 1), side="left")
    for s in range(n_shards):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        part = table.take(pa.array(rows[lo:hi]))
        plan = pa.table({
            "doc_id": part["doc_id"], "source": part["source"].cast(pa.string()),
            "module": part["module"].cast(pa.string()),
            "source_row": part["source_row"], "src_shard": part["shard"],
            "src_offset": part["offset"], "length": part["length"],
            "copy": pa.array(copies[lo:hi], pa.int16()),
        })  # fmt: skip
        pq.write_table(plan, plan_dir / f"shard-{s:05d}.parquet", compression="zstd")

    down_schema = pa.schema(
        [("doc_id", pa.string()), ("source", pa.string()), ("source_row", pa.int64())]
    )
    down_parts = [
        table.select(["doc_id", "source", "source_row"]).take(pa.array(drows))
        for _, drows in downsampled
    ]
    down = (
        pa.concat_tables(down_parts).cast(down_schema) if down_parts else down_schema.empty_table()
    )
    pq.write_table(down, plan_dir / "downsampled.parquet")
    summary["shards"] = n_shards
    summary["selected_tokens"] = int(lengths.sum())
    summary["selected_docs"] = int(len(rows))
    # Written last: a plan folder without it is an interrupted plan and is redone.
    (plan_dir / PLAN_SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


class MixShardWriter(PipelineStep):
    """Writes final shards `part-mix-<n>.bin` + `.parquet` from the plan; task r writes shards
    r, r + tasks, ... Copying is a gather from the tokenized work shards (memory-mapped)."""

    type = "🔀 - MIXER"
    name = "🔀 mix shards"

    def __init__(self, plan_dir: str, tokens_dir: str, out_dir: str, n_shards: int):
        super().__init__()
        self.plan_dir, self.tokens_dir, self.out_dir = plan_dir, tokens_dir, out_dir
        self.n_shards = n_shards

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        cache: dict[int, np.ndarray] = {}
        for s in range(rank, self.n_shards, world_size):
            plan = pq.read_table(Path(self.plan_dir) / f"shard-{s:05d}.parquet").to_pydict()
            writer = TokenShardWriter(Path(self.out_dir) / f"part-mix-{s:05d}", shard=s)
            for i in range(len(plan["doc_id"])):
                src = plan["src_shard"][i]
                if src not in cache:
                    cache[src] = read_tokens(Path(self.tokens_dir) / f"{src:05d}.bin")
                off, n = plan["src_offset"][i], plan["length"][i]
                writer.add(plan["doc_id"][i], plan["source"][i], plan["module"][i],
                           plan["source_row"][i], cache[src][off : off + n], copy=plan["copy"][i])  # fmt: skip
            writer.close()
            self.stat_update("shards")
        return
        yield
