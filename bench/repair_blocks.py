"""Full default repair_blocks build, timed end to end (prints JSON).

Builds manifests/repair_blocks.yaml into a temporary root with --force semantics, in a fresh
process, so the time includes loading the decontamination index (~5 s of it). Budget: the full default build in <= 20 s on the 2-core dev box.

    python bench/repair_blocks.py
"""

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ffdata.build import build_set  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        built, _ = build_set(
            "repair_blocks",
            REPO / "manifests" / "repair_blocks.yaml",
            root=root,
            force=True,
            quiet=True,
        )
        total = time.perf_counter() - t0
    rec = built.record
    by_part = rec["counts"]["by_part"]
    print(
        json.dumps(
            {
                "bench": "repair_blocks_full_build",
                "seconds": round(total, 2),
                "budget_s": 20,
                "within_budget": total <= 20,
                "rows": rec["rows"],
                "by_part": by_part,
                "a_b_d_plus_validation": sum(
                    by_part.get(p, 0) for p in ("A", "B", "D", "validation")
                ),
                "dropped_by_reason": rec["dropped"]["by_reason"],
                "builder_timings_s": rec["timings_s"],
                "fingerprint": rec["fingerprint"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
