"""Mix planner at scale: time and peak memory of the out-of-core planner (ffdata.pretrain.planner,
DuckDB under a memory limit) and of the in-memory one it replaced (mixer.plan_mix_in_memory) on
N synthetic sidecar rows; prints JSON, including whether the two wrote the same plan bytes.

The planner reads only the tokenized sidecars, so this writes those directly
(ffdata.pretrain.sample.write_synthetic_sidecars: eight sources under the full manifest's shares,
FineWeb-style 47-character ids, log-normal lengths around 1,000 tokens). Every plan runs in its
own process, so `ru_maxrss` is that run's peak. 90B tokens / ~1,000 tokens per document ~ 90M
documents at full scale.

    python bench/pretrain_plan.py [--docs 1000000 10000000] [--old-max 1000000]
        [--memory-limit 1GB]
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from ffdata.manifest import parse_manifest  # noqa: E402
from ffdata.pretrain.config import load_config  # noqa: E402
from ffdata.pretrain.sample import write_synthetic_sidecars  # noqa: E402


def _config(total_tokens: int | None = None):
    data = yaml.safe_load((REPO / "manifests" / "pretrain_mix_full.yaml").read_text())
    if total_tokens:
        data["targets"]["total_tokens"] = total_tokens
    return load_config(parse_manifest(data, "full manifest"))


def plan_only(work: Path, total_tokens: int, impl: str, memory_limit: str) -> dict:
    """Run in a fresh process: ru_maxrss is then this planner's own peak."""
    from ffdata.pretrain import mixer, planner

    cfg = _config(total_tokens)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    w, c = time.perf_counter(), time.process_time()
    if impl == "out_of_core":
        summary = planner.plan_mix(cfg, work / "tokens", work / impl, memory_limit=memory_limit)
    else:
        summary = mixer.plan_mix_in_memory(cfg, work / "tokens", work / impl)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    # DuckDB's threads are this process's: process_time counts them too
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "selected_docs": summary["selected_docs"],
        "plan_shards": summary["shards"],
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


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--old-max", type=int, default=1_000_000,
                    help="run the in-memory planner too up to this many documents")  # fmt: skip
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit of the planner")
    ap.add_argument("--write", nargs=2, help=argparse.SUPPRESS)  # N DIR
    ap.add_argument("--plan", nargs=4, help=argparse.SUPPRESS)  # DIR TOTAL IMPL MEMORY
    args = ap.parse_args()
    if args.write:
        tokens = write_synthetic_sidecars(_config(), int(args.write[0]), Path(args.write[1]))
        print(tokens)
        return
    if args.plan:
        d, total, impl, mem = args.plan
        print(json.dumps(plan_only(Path(d), int(total), impl, mem)))
        return
    runs = []
    for n in args.docs:
        d = Path(tempfile.mkdtemp(prefix="plan-bench-"))
        try:
            tokens = int(_child("--write", str(n), str(d / "tokens")))
            # targets ~90% of what is there: most sources downsample, wikipedia repeats
            total = str(int(tokens * 0.9))
            run = {"docs": n, "available_tokens": tokens}
            impls = ["out_of_core"] + (["in_memory"] if n <= args.old_max else [])
            for impl in impls:
                r = json.loads(_child("--plan", str(d), total, impl, args.memory_limit))
                r["us_per_doc_cpu"] = round(r["cpu_s"] / n * 1e6, 2)
                r["us_per_doc_wall"] = round(r["wall_s"] / n * 1e6, 2)
                run[impl] = r
            if len(impls) == 2:
                run["same_plan_bytes"] = _same_files(d / "out_of_core", d / "in_memory")
            runs.append(run)
            print(json.dumps(run), file=sys.stderr)  # progress
        finally:
            shutil.rmtree(d, ignore_errors=True)
    print(json.dumps({"memory_limit": args.memory_limit, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
