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
