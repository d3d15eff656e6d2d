"""Decontamination benchmark: speed on a 1M-record run, recall on planted eval items, and the
flag rate on clean real text. Prints one JSON object.

    python bench/decontam.py                 # 1,000,000 records, pinned to one core
    python bench/decontam.py --records 50000 # quicker

Clean records are real sentences recombined: GSM8K train problems and solutions, ARC train
questions and choices (the repo's data/sources copies, or the shared real-data folder). A share
of records carry a planted real MMLU/ARC/GSM8K test item (ffdata.decontam.plant). The Alpaca
samples are read from the shared folder when it exists, for the false-positive figure only;
they are never copied into the repo.
"""

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ffdata.decontam import PLANT_KINDS, Decontaminator, plant  # noqa: E402
from ffdata.evalsets import load_evalset  # noqa: E402

SHARED = Path(os.environ.get("FFDATA_SHARED_REAL", ROOT.parent / "shared" / "data" / "real"))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _first(*paths: Path) -> Path | None:
    return next((p for p in paths if p.exists()), None)


def clean_sets() -> dict[str, list[str]]:
    """Real clean text: GSM8K train, ARC train, and (when the shared folder exists) Alpaca."""
    sets = {}
    gsm = _first(ROOT / "data/sources/gsm8k/train.jsonl", SHARED / "gsm8k/train.jsonl")
    if gsm:
        sets["gsm8k_train"] = [f"{r['question']}\n{r['answer']}" for r in _jsonl(gsm)]
    arc = []
    for name in ("ARC-Easy-train.jsonl", "ARC-Challenge-train.jsonl"):
        path = _first(ROOT / "data/sources/arc" / name, SHARED / "arc" / name)
        if path:
            arc += [f"{r['question']}\n" + "\n".join(r["choices"]["text"]) for r in _jsonl(path)]
    if arc:
        sets["arc_train"] = arc
    alpaca = []
    for rel in (
        "sft/alpaca_data_prefix335/alpaca_data.json",
        "sft/llamafactory/alpaca_en_demo.json",
    ):
        if (SHARED / rel).exists():
            alpaca += json.loads((SHARED / rel).read_text(encoding="utf-8"))
    if (SHARED / "sft/stanford_alpaca/seed_tasks.jsonl").exists():
        for task in _jsonl(SHARED / "sft/stanford_alpaca/seed_tasks.jsonl"):
            alpaca += [{"instruction": task["instruction"], **x} for x in task["instances"]]
    if alpaca:
        sets["alpaca"] = [
            "\n".join(r.get(k, "") for k in ("instruction", "input", "output")) for r in alpaca
        ]
    return sets


def sentences(texts: list[str]) -> list[str]:
    out = []
    for t in texts:
        for line in t.replace("<<", " ").replace(">>", " ").splitlines():
            out += [s.strip() for s in line.split(". ") if len(s.split()) >= 3]
    return out


def flag_rates(d: Decontaminator, sets: dict[str, list[str]]) -> dict:
    out = {}
    for name, texts in sets.items():
        matches = d.check_batch(texts)
        flagged = [(t, m) for t, m in zip(texts, matches, strict=True) if m]
        out[name] = {
            "records": len(texts),
            "flagged": len(flagged),
            "flag_rate": round(len(flagged) / len(texts), 5),
            "by_rule": dict(sorted(Counter(m.rule for _, m in flagged).items())),
            "examples": [
                {"text": t[:100], "item_id": m.item_id, "matched": m.ngram} for t, m in flagged[:5]
            ],
        }
    return out


def recall(d: Decontaminator, items, filler: list[str], seed: int) -> dict:
    out = {}
    for kind in PLANT_KINDS:
        rng = random.Random(f"{seed}/{kind}")
        matches = d.check_batch([plant(it, kind, rng, filler) for it in items])
        by_set: dict[str, list[int]] = {}
        for it, m in zip(items, matches, strict=True):
            caught = by_set.setdefault(it.evalset, [0, 0])
            caught[0] += m is not None
            caught[1] += 1
        hits = sum(c for c, _ in by_set.values())
        out[kind] = {
            "recall": round(hits / len(items), 5),
            "missed": len(items) - hits,
            "by_evalset": {k: round(c / n, 5) for k, (c, n) in sorted(by_set.items())},
        }
    return out


def throughput(d, pool, items, filler, n_records, plant_rate, seed, chunk=10_000) -> dict:
    """check_batch over n_records generated records, timed without the generation."""
    rng = random.Random(seed)
    wall = cpu = 0.0
    planted = caught = clean_flagged = words = 0
    for start in range(0, n_records, chunk):
        texts, is_planted = [], []
        for _ in range(min(chunk, n_records - start)):
            if rng.random() < plant_rate:
                texts.append(plant(rng.choice(items), rng.choice(PLANT_KINDS), rng, filler))
                is_planted.append(True)
            else:
                texts.append(". ".join(rng.choices(pool, k=rng.randint(3, 10))) + ".")
                is_planted.append(False)
        words += sum(t.count(" ") + 1 for t in texts)
        t0, c0 = time.perf_counter(), time.process_time()
        matches = d.check_batch(texts)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        for p, m in zip(is_planted, matches, strict=True):
            planted += p
            caught += p and m is not None
            clean_flagged += (not p) and m is not None
    clean = n_records - planted
    return {
        "records": n_records,
        "mean_words_per_record": round(words / n_records, 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "records_per_s_wall": round(n_records / wall),
        "records_per_s_cpu": round(n_records / cpu),
        "planted": planted,
        "planted_recall": round(caught / max(planted, 1), 5),
        "clean_flagged": clean_flagged,
        "clean_flag_rate": round(clean_flagged / max(clean, 1), 6),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--plant-rate", type=float, default=0.01)
    ap.add_argument("--single", type=int, default=20_000, help="records for the check() timing")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    # one core: the figure is per core
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    t0, c0 = time.perf_counter(), time.process_time()
    d = Decontaminator.load()
    build = {
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(time.process_time() - c0, 2),
    }

    sets = clean_sets()
    # records that overlap the test sets for real (GSM8K/ARC train-test near-duplicates) stay
    # out of the sentence pool, so that the generated records are clean
    source = sets.get("gsm8k_train", []) + sets.get("arc_train", [])
    pool = sentences([t for t, m in zip(source, d.check_batch(source), strict=True) if m is None])
    items = [it for name in ("mmlu", "arc", "gsm8k") for it in load_evalset(name)]

    single_texts = [". ".join(random.Random(i).choices(pool, k=6)) for i in range(args.single)]
    t0, c0 = time.perf_counter(), time.process_time()
    for t in single_texts:
        d.check(t)
    single = {
        "records": args.single,
        "records_per_s_wall": round(args.single / (time.perf_counter() - t0)),
        "records_per_s_cpu": round(args.single / (time.process_time() - c0)),
    }

    report = {
        "machine": {"cpus_used": 1, "cpus_on_machine": os.cpu_count()},
        "index": {"build": build, **d.stats, "sources": d.sources},
        "throughput_check_batch": throughput(
            d, pool, items, pool, args.records, args.plant_rate, args.seed
        ),
        "throughput_check_single": single,
        "planted_recall_all_test_items": recall(d, items, pool, args.seed),
        "clean_real_text": flag_rates(d, sets),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
