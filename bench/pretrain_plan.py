"""Mix planner at scale: time and peak memory of `plan_mix` on N synthetic sidecar rows (prints
JSON), to size the planning step of a full 90B-token build.

The planner reads only the tokenized sidecars (doc id, source, module, row, shard, offset,
length), so this writes those directly: eight sources under the full manifest's shares and
quality weights, FineWeb-style doc ids ("<urn:uuid:...>", 47 characters), lengths drawn from a
log-normal around 1,000 tokens. Each N runs in its own process so `ru_maxrss` is that run's
peak. The per-document figures extrapolate to the full build: 90B tokens / ~1,000 tokens per
document ~ 90M documents.

    python bench/pretrain_plan.py [--docs 250000 1000000 4000000]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from ffdata.manifest import parse_manifest  # noqa: E402
from ffdata.pretrain.config import load_config  # noqa: E402
from ffdata.pretrain.format import SIDECAR_SCHEMA  # noqa: E402

ROWS_PER_FILE = 500_000


def _config(total_tokens: int | None = None):
    data = yaml.safe_load((REPO / "manifests" / "pretrain_mix_full.yaml").read_text())
    if total_tokens:
        data["targets"]["total_tokens"] = total_tokens
    return load_config(parse_manifest(data, "full manifest"))


def write_sidecars(n_docs: int, out: Path) -> int:
    """Sidecar files for n_docs documents, each source's count in proportion to its target
    (wikipedia's halved, so the plan upsamples it and downsamples the rest)."""
    cfg = _config()
    rng = np.random.default_rng(0)
    out.mkdir(parents=True)
    total = sum(s.target_tokens for s in cfg.sources)
    tokens, file_no = 0, 0
    for src in cfg.sources:
        n = max(
            1, round(n_docs * src.target_tokens / total / (2 if src.group == "wikipedia" else 1))
        )
        lengths = np.clip(rng.lognormal(6.6, 0.8, n), 20, 100_000).astype(np.int32)
        tokens += int(lengths.sum()) + n
        for start in range(0, n, ROWS_PER_FILE):
            k = min(ROWS_PER_FILE, n - start)
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


def plan_only(work: Path, total_tokens: int) -> dict:
    """Run in a fresh process: ru_maxrss is then the planner's own peak."""
    from ffdata.pretrain.mixer import plan_mix

    cfg = _config(total_tokens)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    w, c = time.perf_counter(), time.process_time()
    summary = plan_mix(cfg, work / "tokens", work / "plan")
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    repeats = {k: v["repeat_factor"] for k, v in summary["sources"].items()}
    return {
        "selected_docs": summary["selected_docs"],
        "selected_tokens": summary["selected_tokens"],
        "plan_shards": summary["shards"],
        "repeat_factors": repeats,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mib": round(peak / 1024),
        "rss_mib_at_start": round(rss0 / 1024),
    }


def _child(*args: str) -> str:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{res.stderr}")
    return res.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, nargs="+", default=[250_000, 1_000_000, 4_000_000])
    ap.add_argument("--write", nargs=2, help=argparse.SUPPRESS)  # N DIR
    ap.add_argument("--plan", nargs=2, help=argparse.SUPPRESS)  # DIR TOTAL_TOKENS
    args = ap.parse_args()
    if args.write:
        print(write_sidecars(int(args.write[0]), Path(args.write[1]) / "tokens"))
        return
    if args.plan:
        print(json.dumps(plan_only(Path(args.plan[0]), int(args.plan[1]))))
        return
    runs = []
    for n in args.docs:
        with tempfile.TemporaryDirectory() as d:
            tokens = int(_child("--write", str(n), d))
            # targets ~90% of what is there: most sources downsample, wikipedia repeats
            run = json.loads(_child("--plan", d, str(int(tokens * 0.9))))
        run = {"docs": n, "available_tokens": tokens, **run,
               "us_per_doc_cpu": round(run["cpu_s"] / n * 1e6, 2)}  # fmt: skip
        runs.append(run)
    big, small = runs[-1], runs[0]
    per_doc_mib = (big["peak_rss_mib"] - small["peak_rss_mib"]) / max(
        1, big["docs"] - small["docs"]
    )
    full_docs = 90_000_000
    print(json.dumps({
        "runs": runs,
        "marginal_peak_bytes_per_doc": round(per_doc_mib * 2**20),
        "full_scale_docs_assumed": full_docs,
        "full_scale_peak_gib_extrapolated": round(
            (big["peak_rss_mib"] + per_doc_mib * (full_docs - big["docs"])) / 1024, 1),
        "full_scale_cpu_min_extrapolated": round(big["us_per_doc_cpu"] * full_docs / 1e6 / 60, 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
