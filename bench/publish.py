"""What publishing through generations and checking a set cost: a gsm8k_sft build of all 7,473
rows in many shards, then the "already built" check (one listing, no hashing), the full
`verify` (every sha256 and Parquet footer) and a --force rebuild that switches generations.
Prints JSON.

    python bench/publish.py [--rows-per-shard 50] [--root DIR]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ffdata.build import build_set  # noqa: E402
from ffdata.sets import find_complete, open_set  # noqa: E402
from tests.conftest import write_gsm8k_manifest  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t, 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-per-shard", type=int, default=50)
    ap.add_argument("--root", help="a local folder or s3://bucket/prefix (default: a temp folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or str(Path(tmp) / "root")
        m = write_gsm8k_manifest(Path(tmp) / "p", rows=7473, rows_per_shard=args.rows_per_shard)
        (built, _), t_build = timed(lambda: build_set("gsm8k_sft", m, root, quiet=True))
        _, t_found = timed(lambda: build_set("gsm8k_sft", m, root, quiet=True))
        _, t_check = timed(lambda: find_complete(built.storage, built.layout, built.fingerprint))
        _, t_verify = timed(lambda: open_set(root, "gsm8k_sft").verify())
        (again, _), t_force = timed(lambda: build_set("gsm8k_sft", m, root, force=True, quiet=True))
        files = len(built.record["shards"]) + 2
        print(json.dumps({
            "root": "s3" if root.startswith("s3://") else "local",
            "shards": len(built.record["shards"]),
            "bytes": sum(s["bytes"] for s in built.record["shards"]),
            "build_s": t_build,
            "already_built_s": t_found,
            "check_complete_s": t_check,
            "verify_s": t_verify,
            "force_rebuild_s": t_force,
            "generation_after_force": again.prefix.rsplit("/", 1)[-1],
            "files_per_set": files,
        }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
