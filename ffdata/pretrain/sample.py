"""A tiny copy of the pretrain_mix project (first rows of each local source, a manifest with
small targets) for tests and benchmarks: same schemas, same pipeline, seconds instead of minutes."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from ffdata.hashing import sha256_file

PROJECT = Path(__file__).resolve().parents[2]


def make_tiny_project(
    dest: Path,
    rows: int = 24,
    total_tokens: int = 20_000,
    tolerance: float = 0.05,
    extra_docs: dict[str, list[dict]] | None = None,
    options: dict | None = None,
    targets: dict | None = None,
) -> Path:
    """Write `dest/manifests/pretrain_mix.yaml` and `dest/data/...`; returns the manifest path.
    `extra_docs` appends rows (in the source's schema) to a source, e.g. a planted eval item."""
    manifest = yaml.safe_load((PROJECT / "manifests/pretrain_mix.yaml").read_text())
    for src in manifest["sources"]:
        path = PROJECT / src["path"]
        out = dest / src["path"]
        out.parent.mkdir(parents=True, exist_ok=True)
        extra = (extra_docs or {}).get(src["name"], [])
        if path.suffix == ".parquet":
            table = pq.read_table(path).slice(0, rows)
            if extra:
                import pyarrow as pa

                table = pa.concat_tables([table, pa.Table.from_pylist(extra, schema=table.schema)])
            pq.write_table(table, out)
        else:
            lines = path.read_text(encoding="utf-8").split("\n")[:rows]
            lines += [json.dumps(r) for r in extra]
            out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        src["sha256"] = sha256_file(out)
    manifest["targets"]["total_tokens"] = total_tokens
    manifest["targets"]["tolerance"] = tolerance
    manifest["targets"].update(targets or {})
    manifest["options"]["tokens_per_shard"] = 4_000
    manifest["options"]["executor"] = {"kind": "local", "workers": 1}
    manifest["options"]["dedup"]["minhash"] = {
        "n_grams": 5,
        "num_buckets": 2,
        "hashes_per_bucket": 4,
    }
    manifest["options"].update(options or {})
    path = dest / "manifests" / "pretrain_mix.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def write_synthetic_sidecars(cfg, n_docs: int, out: Path, rows_per_file: int = 500_000) -> int:
    """Tokenized-work sidecars (what the mix planner reads) for n_docs made-up documents, each
    source's count in proportion to its target (wikipedia's halved, so a plan upsamples it and
    downsamples the rest): FineWeb-style ids, log-normal lengths around 1,000 tokens. Returns
    the tokens they hold (lengths + EOTs). For planner tests and bench/pretrain_plan.py."""
    import uuid

    import numpy as np
    import pyarrow as pa

    from ffdata.pretrain.format import SIDECAR_SCHEMA

    rng = np.random.default_rng(0)
    out.mkdir(parents=True)
    total = sum(s.target_tokens for s in cfg.sources)
    tokens, file_no = 0, 0
    for src in cfg.sources:
        half = 2 if src.group == "wikipedia" else 1
        n = max(1, round(n_docs * src.target_tokens / total / half))
        lengths = np.clip(rng.lognormal(6.6, 0.8, n), 20, 100_000).astype(np.int32)
        tokens += int(lengths.sum()) + n
        for start in range(0, n, rows_per_file):
            k = min(rows_per_file, n - start)
            ln = lengths[start : start + k]
            ids = [f"<urn:uuid:{uuid.UUID(int=int(x))}>" for x in rng.integers(0, 2**63, k)]
            offsets = np.concatenate([[0], np.cumsum(ln.astype(np.int64) + 1)[:-1]])
            table = pa.table(
                {"doc_id": ids, "source": [src.name] * k, "module": [src.module] * k,
                 "source_row": np.arange(start, start + k), "shard": np.full(k, file_no, np.int32),
                 "offset": offsets, "length": ln, "copy": np.zeros(k, np.int16)},
                schema=SIDECAR_SCHEMA,
            )  # fmt: skip
            pq.write_table(table, out / f"{file_no:05d}.parquet")
            file_no += 1
    return tokens
