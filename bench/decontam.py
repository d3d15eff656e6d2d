"""Decontamination benchmark: recall on planted eval items, the flag rate on clean real text,
the GSM8K numbers rule, and speed per core. Prints one JSON object.

    python bench/decontam.py                 # 1,000,000 records for the speed figure
    python bench/decontam.py --records 50000 # quicker

Planted items: real MMLU/ARC/GSM8K test items whose question has at least 10 words, disguised
by each kind of ffdata.decontam.PLANT_KINDS and set in clean text. Items are split by a hash
of their id: the "dev" half was looked at while the normalization was written, the
"held_out" half was not. Clean text is real text that is not an eval item: GSM8K train
(question + worked solution, all 7,473 rows), ARC train (question + choices), and Alpaca
(instruction, input, output), read from the shared real-data folder and never copied into the
repo (CC BY-NC). Each flagged clean record is listed with the test item it matched and a
judgement: a near-duplicate of that item (real contamination: the train sets share
questions with their test sets) or a false positive.

The speed figure is check_batch (the path builds use) on generated records, one core pinned.
"""

import argparse
import difflib
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ffdata.decontam import PLANT_KINDS, Decontaminator, normalize_words, plant  # noqa: E402
from ffdata.evalsets import load_evalset  # noqa: E402
from tests.decontam_rephrasings import REPHRASINGS  # noqa: E402

SHARED = Path(os.environ.get("FFDATA_SHARED_REAL", ROOT.parent / "shared" / "data" / "real"))
NEAR_DUPLICATE = 0.5  # word-sequence similarity of a flagged question to its test item


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _first(*paths: Path) -> Path | None:
    return next((p for p in paths if p.exists()), None)


def clean_sets() -> dict[str, list[tuple[str, str]]]:
    """Real clean text as (question, whole record): GSM8K train, ARC train, Alpaca (shared)."""
    sets = {}
    gsm = _first(ROOT / "data/sources/gsm8k/train.jsonl", SHARED / "gsm8k/train.jsonl")
    if gsm:
        sets["gsm8k_train"] = [
            (r["question"], f"{r['question']}\n{r['answer']}") for r in _jsonl(gsm)
        ]
    arc = []
    for name in ("ARC-Easy-train.jsonl", "ARC-Challenge-train.jsonl"):
        path = _first(ROOT / "data/sources/arc" / name, SHARED / "arc" / name)
        if path:
            arc += [
                (r["question"], f"{r['question']}\n" + "\n".join(r["choices"]["text"]))
                for r in _jsonl(path)
            ]
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
            (
                r.get("instruction", ""),
                "\n".join(r.get(k, "") for k in ("instruction", "input", "output")),
            )
            for r in alpaca
        ]
    return sets


def sentences(texts: list[str]) -> list[str]:
    out = []
    for t in texts:
        for line in t.replace("<<", " ").replace(">>", " ").splitlines():
            out += [s.strip() for s in line.split(". ") if len(s.split()) >= 3]
    return out


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, normalize_words(a), normalize_words(b)).ratio()


def flag_rates(d: Decontaminator, sets: dict[str, list[tuple[str, str]]]) -> dict:
    """Flag rate per clean set; each flag judged a near-duplicate of its item or a false one."""
    items = {it.item_id: it for it in d.items}
    out = {}
    for name, rows in sets.items():
        matches = d.check_batch([text for _, text in rows])
        flagged = []
        for row, ((question, _text), m) in enumerate(zip(rows, matches, strict=True)):
            if m is None:
                continue
            sim = similarity(question, items[m.item_id].question)
            flagged.append(
                {
                    "row": row,
                    "text": question[:160],
                    "item_id": m.item_id,
                    "item": items[m.item_id].question[:160],
                    "rule": m.rule,
                    "matched": m.ngram,
                    "similarity": round(sim, 2),
                    "judged": "near_duplicate" if sim >= NEAR_DUPLICATE else "false_positive",
                }
            )
        false = sum(f["judged"] == "false_positive" for f in flagged)
        out[name] = {
            "records": len(rows),
            "flagged": len(flagged),
            "flag_rate": round(len(flagged) / len(rows), 5),
            "near_duplicates": len(flagged) - false,
            "false_positives": false,
            "false_positive_rate": round(false / len(rows), 5),
            "by_rule": dict(sorted(Counter(f["rule"] for f in flagged).items())),
            "flags": flagged,
        }
    return out


def held_out(item_id: str) -> bool:
    return hashlib.sha256(item_id.encode()).digest()[0] % 2 == 1


def recall(d: Decontaminator, items, filler: list[str], seed: int) -> dict:
    """Per plant kind: recall on the held-out half, the dev half, both; misses of held-out."""
    out: dict = {"items": {"dev": 0, "held_out": 0}, "kinds": {}, "missed_held_out": []}
    for it in items:
        out["items"]["held_out" if held_out(it.item_id) else "dev"] += 1
    totals = {"dev": [0, 0], "held_out": [0, 0]}
    for kind in PLANT_KINDS:
        rng = random.Random(f"{seed}/{kind}")
        texts = [plant(it, kind, rng, filler) for it in items]
        counts: dict[str, list[int]] = {}
        for it, text, m in zip(items, texts, d.check_batch(texts), strict=True):
            half = "held_out" if held_out(it.item_id) else "dev"
            for key in (half, f"{half}/{it.evalset}"):
                c = counts.setdefault(key, [0, 0])
                c[0] += m is not None
                c[1] += 1
            if m is None and half == "held_out":
                out["missed_held_out"].append(
                    {"kind": kind, "item_id": it.item_id, "text": text[:300]}
                )
        for half in totals:
            totals[half][0] += counts[half][0]
            totals[half][1] += counts[half][1]
        out["kinds"][kind] = {k: round(c / n, 5) for k, (c, n) in sorted(counts.items())}
    out["overall"] = {half: round(c / n, 5) for half, (c, n) in totals.items()}
    return out


def numbers_rule(d: Decontaminator, gsm8k_train: list[tuple[str, str]]) -> dict:
    """Recall on the hand-written rephrasings, and flags of the numbers rule on GSM8K train."""
    items = {it.item_id: it for it in d.items}
    by_rule: Counter = Counter()
    caught = 0
    missed = []
    for item_id, text in REPHRASINGS:
        m = d.check(text)
        ok = m is not None and m.item_id == item_id
        caught += ok
        by_rule[m.rule if ok else "missed"] += 1
        if not ok:
            missed.append(item_id)
    flags = []
    texts = [text for _, text in gsm8k_train]
    for row, m in enumerate(d.check_numbers_batch(texts)):  # the numbers rule alone
        if m is not None:
            question = gsm8k_train[row][0]
            sim = similarity(question, items[m.item_id].question)
            flags.append({"row": row, "item_id": m.item_id, "numbers": m.ngram,
                          "similarity": round(sim, 2), "text": question[:120]})  # fmt: skip
    return {
        "gsm8k_test_items_indexed": f"{d.stats['number_items']} of "
        f"{sum(it.evalset == 'gsm8k' for it in d.items)}",
        "rephrasings": len(REPHRASINGS),
        "rephrasings_caught": caught,
        "rephrasing_recall": round(caught / len(REPHRASINGS), 4),
        "rephrasings_by_rule": dict(sorted(by_rule.items())),
        "rephrasings_missed": missed,
        "gsm8k_train_rows": len(gsm8k_train),
        "gsm8k_train_flagged_by_numbers": len(flags),
        "gsm8k_train_numbers_flag_rate": round(len(flags) / len(gsm8k_train), 5),
        "gsm8k_train_numbers_flags": flags,
    }


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


_LOAD = """
import json, sys, time
TEXTS = json.loads(open(sys.argv[1], encoding="utf-8").read())
t0 = time.perf_counter()
from ffdata.decontam import Decontaminator
t1 = time.perf_counter()
d = Decontaminator.load(source=SOURCE)
t2 = time.perf_counter()
m = d.check_batch(TEXTS)
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1,
                  "matches": [None if x is None else [x.item_id, x.rule] for x in m]}))
"""


def index_cache(source: str, texts: list[str]) -> dict:
    """A fresh process loads the index: built and saved when the cache is empty, then loaded
    memory-mapped from it. Both processes must find the same matches."""
    code = _LOAD.replace("SOURCE", repr(source))
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache, texts_file = Path(tmp) / "cache", Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        env = {**os.environ, "FFDATA_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
        for name in ("cold_build_and_save", "warm_load", "warm_load_again"):
            out = subprocess.run([sys.executable, "-c", code, str(texts_file)], env=env,
                                 capture_output=True, text=True, check=True)  # fmt: skip
            runs[name] = json.loads(out.stdout)
        size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
    same = runs["cold_build_and_save"]["matches"] == runs["warm_load"]["matches"]
    return {
        **{
            k: {"import_s": round(v["import_s"], 3), "load_s": round(v["load_s"], 3)}
            for k, v in runs.items()
        },  # fmt: skip
        "same_matches": same,
        "texts_checked": len(texts),
        "cache_mb": round(size / 2**20),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--plant-rate", type=float, default=0.01)
    ap.add_argument("--single", type=int, default=20_000, help="records for the check() timing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", default="auto", help="eval-set copy: auto, hub or bundled")
    args = ap.parse_args()

    # one core: the figure is per core
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    t0, c0 = time.perf_counter(), time.process_time()
    d = Decontaminator.load(source=args.source)
    load = {  # built, or loaded from the cache when an earlier process built it
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(time.process_time() - c0, 2),
    }

    sets = clean_sets()
    # records that overlap the test sets for real (GSM8K/ARC train-test near-duplicates) stay
    # out of the sentence pool, so that the generated records are clean
    source = [t for name in ("gsm8k_train", "arc_train") for _, t in sets.get(name, [])]
    pool = sentences([t for t, m in zip(source, d.check_batch(source), strict=True) if m is None])
    items = [
        it
        for name in ("mmlu", "arc", "gsm8k")
        for it in load_evalset(name, args.source)
        if len(it.question.split()) >= 10
    ]

    single_texts = [". ".join(random.Random(i).choices(pool, k=6)) for i in range(args.single)]
    t0, c0 = time.perf_counter(), time.process_time()
    for t in single_texts:
        d.check(t)
    single = {
        "records": args.single,
        "records_per_s_wall": round(args.single / (time.perf_counter() - t0)),
        "records_per_s_cpu": round(args.single / (time.process_time() - c0)),
    }

    rng = random.Random(args.seed)
    cache_texts = [plant(it, rng.choice(PLANT_KINDS), rng, pool) for it in rng.sample(items, 300)]
    cache_texts += [text for _, text in REPHRASINGS] + single_texts[:300]
    report = {
        "index_cache": index_cache(args.source, cache_texts),
        "machine": {"cpus_used": 1, "cpus_on_machine": os.cpu_count()},
        "index": {"load": load, **d.stats, "sources": d.sources},
        "throughput_check_batch": throughput(
            d, pool, items, pool, args.records, args.plant_rate, args.seed
        ),
        "throughput_check_single": single,
        "planted_recall_questions_of_10_words_or_more": recall(d, items, pool, args.seed),
        "numbers_rule": numbers_rule(d, sets.get("gsm8k_train", [])),
        "clean_real_text": flag_rates(d, sets),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
