"""SFT build throughput vs raw tiktoken on the same rendered text (prints JSON).

Builds sft_shards_v2's pipeline (adapt, clean, exact + near dedup, decontaminate, template,
tokenize with masks, write Parquet) over real GSM8K train (7,473 rows, no cap) plus the SFT
fixtures, in a temporary project, and encodes the kept rows' rendered text with tiktoken alone
(`encode_ordinary`, one call per text), taking turns, best of `--runs` each (the first build is
reported too). Both run in this process and are timed with process_time (CPU time of all
threads), so tokens per CPU-second are per-core figures. The
decontamination index is loaded before the timed build (a once-per-process setup cost, reported
as `decontam_index_load_s`). `--repeat N` repeats the GSM8K rows N times with a per-copy prefix
so they are not duplicates (a larger, still real-text, input). One more build, untimed in
the figures above, runs with CPU timers around the pipeline's stages (`stage_cpu_s`): where
the time goes. `--join K` makes each example of K consecutive GSM8K rows (~150 tokens each), to
see how the ratio moves with row length (chat sources run longer than GSM8K); `--max-tokens`
raises the token limit so that long joins are not dropped.

`floor`: what any implementation pays besides encoding, measured on the same data: parsing the
input JSONL in C++ (pyarrow.json) and writing the built table with the project's Parquet
options (ffdata.sets.write_table). `best_possible_ratio` is the ratio of a build that did only
those three things; `cpu_s_left_for_other_stages_at_target` is what the target ratio leaves for
adapting, cleaning, deduplication, decontamination, templating and Arrow assembly together.

    python bench/sft_build.py [--repeat 1] [--join 1] [--max-tokens 1024]
"""

import argparse
import functools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ffdata.build import build_set  # noqa: E402
from ffdata.decontam import Decontaminator  # noqa: E402
from ffdata.hashing import sha256_file  # noqa: E402
from ffdata.tokenizer import tiktoken_encoding  # noqa: E402


def _joined(rows: list[dict], k: int) -> list[dict]:
    """Every k consecutive GSM8K rows as one longer example (questions in turn, then their
    solutions; only the last keeps its '#### N' line): real text at k times the row length."""
    out = []
    for i in range(0, len(rows) - k + 1, k):
        group = rows[i : i + k]
        question = "\n\n".join(f"Problem {j + 1}: {r['question']}" for j, r in enumerate(group))
        answers = [r["answer"] for r in group]
        answers[:-1] = [a.replace("\n#### ", "\nAnswer: ") for a in answers[:-1]]
        out.append({"question": question, "answer": "\n\n".join(answers)})
    return out


def make_project(tmp: Path, repeat: int, join: int = 1, max_tokens: int | None = None) -> Path:
    manifest = yaml.safe_load((REPO / "manifests" / "sft_shards_v2.yaml").read_text())
    if max_tokens:
        manifest["options"]["max_tokens"] = max_tokens
    (tmp / "manifests").mkdir(parents=True)
    shutil.copytree(REPO / "data" / "sources" / "sft", tmp / "data" / "sources" / "sft")
    gsm = tmp / "data" / "sources" / "gsm8k.jsonl"
    lines = (REPO / "data" / "sources" / "gsm8k" / "train.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    if join > 1:
        rows = _joined(rows, join)
    with open(gsm, "w") as f:
        for k in range(repeat):
            for row in rows:
                if k:
                    row = dict(row, question=f"(Variant {k}) {row['question']}")
                f.write(json.dumps(row) + "\n")
    for s in manifest["sources"]:
        if s["name"] == "gsm8k_train":
            s.update(path="data/sources/gsm8k.jsonl", sha256=sha256_file(gsm))
            s.pop("count", None)
    (tmp / "manifests" / "sft_shards_v2.yaml").write_text(yaml.safe_dump(manifest))
    return tmp / "manifests" / "sft_shards_v2.yaml"


def _raw_encode(texts: list[str]) -> tuple[int, float, float]:
    enc = tiktoken_encoding().encode_ordinary
    w, c = time.perf_counter(), time.process_time()
    tokens = sum(len(enc(x)) + 1 for x in texts)  # +1: the EOT the build appends
    return tokens, time.perf_counter() - w, time.process_time() - c


# (owner, method, stage): the pipeline's stages as the builder calls them. Nested stages are
# subtracted from their parent (minhash and decontamination run inside `clean`/`flush`).
STAGES = [
    ("builders.sft_shards_v2:Pipeline", "row", "read_adapt_flags"),
    ("builders.sft_shards_v2:Pipeline", "_clean", "clean_refusal_pii_exact"),
    ("ffdata.cleaning:MinHashDedup", "near_duplicates", "near_dedup_minhash"),
    ("ffdata.build:BuildContext", "keep_batch", "decontamination"),
    ("builders.sft_shards_v2:Pipeline", "_tokenize", "tokenize_and_fit"),
    ("builders.sft_shards_v2:Pipeline", "_tokenize_variant", "tokenize_variants"),
    ("builders.sft_shards_v2:Pipeline", "_augment", "augmentation_records"),
    ("builders.sft_shards_v2", "sft_table", "arrow_columns"),
    ("ffdata.sets", "write_table", "parquet_write"),
]


def floor_times(project: Path, table, runs: int) -> dict:
    """CPU seconds, best of `runs`, of the C++-only work every build does: parse the input
    JSONL (pyarrow.json) and write the built table (the project's Parquet options)."""
    import pyarrow.json as pj

    from ffdata.sets import write_table

    def best(fn) -> float:
        times = []
        for _ in range(runs):
            t = time.process_time()
            fn()
            times.append(time.process_time() - t)
        return min(times)

    sources = sorted((project / "data" / "sources").rglob("*.jsonl"))
    out = project / "floor.parquet"
    return {
        "jsonl_parse_cpu_s": best(lambda: [pj.read_json(p) for p in sources]),
        "parquet_write_cpu_s": best(lambda: write_table(table, out)),
    }


def stage_times(manifest: Path, root: Path) -> dict:
    """CPU seconds per stage of one build, each stage's own time (nested stages subtracted)."""
    import importlib

    own: dict[str, float] = {}
    stack: list[float] = []  # child time accumulated by the stage on top
    patched = []

    def timed(fn, stage):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            stack.append(0.0)
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent = time.process_time() - t
                child = stack.pop()
                own[stage] = own.get(stage, 0.0) + spent - child
                if stack:
                    stack[-1] += spent

        return wrapper

    for where, attr, stage in STAGES:
        module, _, cls = where.partition(":")
        owner = importlib.import_module(module)
        owner = getattr(owner, cls) if cls else owner
        patched.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, timed(getattr(owner, attr), stage))
    try:
        t = time.process_time()
        build_set("sft_shards_v2", manifest, root=str(root), quiet=True)
        total = time.process_time() - t
    finally:
        for owner, attr, fn in patched:
            setattr(owner, attr, fn)
    # `row` hands full batches to flush (which holds the later stages): not its own time
    own = {k: round(v, 3) for k, v in own.items()}
    own["everything_else"] = round(total - sum(own.values()), 3)
    own["total"] = round(total, 3)
    return own


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument(
        "--join", type=int, default=1, help="GSM8K rows per example: longer rows, same real text"
    )
    ap.add_argument(
        "--max-tokens",
        type=int,
        help="the manifest's token limit (default 1024): raise it with --join above 4",
    )
    ap.add_argument("--runs", type=int, default=3, help="builds and raw encodes, interleaved")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        manifest = make_project(tmp / "project", args.repeat, args.join, args.max_tokens)
        t = time.perf_counter()
        Decontaminator.load()  # cached per process: the builds below reuse it
        index_s = time.perf_counter() - t
        tiktoken_encoding()
        builds, raw = [], []
        # Build and raw encode take turns, each best of `runs`: the machine is shared, and both
        # sides get the same benefit of the doubt (the first build, with its one-off imports,
        # is reported too).
        for run in range(args.runs):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            built, _ = build_set("sft_shards_v2", manifest, root=str(tmp / f"out{run}"), quiet=True)
            builds.append((time.perf_counter() - wall0, time.process_time() - cpu0))
            if run == 0:
                table = built.read_table()
                texts = table.column("text").to_pylist()
                tokens = sum(table.column("n_tokens").to_pylist())
                rec = built.record
            raw_tokens, *times = _raw_encode(texts)
            raw.append(times)
        stages = stage_times(manifest, tmp / "staged")
        floor = floor_times(tmp / "project", table, args.runs)
        build_wall, build_cpu = min(b[0] for b in builds), min(b[1] for b in builds)
        raw_wall, raw_cpu = min(r[0] for r in raw), min(r[1] for r in raw)
    out = {
        "gsm8k_rows_per_example": args.join,
        "max_tokens": args.max_tokens or 1024,
        "tokens_per_kept_row": round(tokens / rec["rows"], 1),
        "input_rows": sum(rec["reconciliation"]["rows_read"].values()),
        "kept_rows": rec["rows"],
        "dropped_rows": rec["dropped"]["total"],
        "tokens": tokens,
        "raw_tokens_check": raw_tokens,
        "decontam_index_load_s": round(index_s, 2),
        "build_wall_s": round(build_wall, 2),
        "build_cpu_s": round(build_cpu, 2),
        "build_cpu_s_first": round(builds[0][1], 2),
        "build_cpu_s_runs": [round(b[1], 2) for b in builds],
        "raw_cpu_s": round(raw_cpu, 2),
        "raw_cpu_s_runs": [round(r[1], 2) for r in raw],
        "build_tokens_per_cpu_s": round(tokens / build_cpu),
        "raw_tiktoken_tokens_per_cpu_s": round(raw_tokens / raw_cpu),
        "ratio_build_vs_raw_per_core": round((tokens / build_cpu) / (raw_tokens / raw_cpu), 3),
        "ratio_wall": round((tokens / build_wall) / (raw_tokens / raw_wall), 3),
        "ratio_including_index_load": round(
            (tokens / (build_cpu + index_s)) / (raw_tokens / raw_cpu), 3
        ),
        "examples_per_cpu_s": round(rec["rows"] / build_cpu, 1),
        "input_rows_per_cpu_s": round(
            sum(rec["reconciliation"]["rows_read"].values()) / build_cpu, 1
        ),
        "target_ratio": 0.6,
        "stage_cpu_s": stages,
    }
    must = raw_cpu + floor["jsonl_parse_cpu_s"] + floor["parquet_write_cpu_s"]
    out["floor"] = {
        **{k: round(v, 3) for k, v in floor.items()},
        "raw_encode_cpu_s": round(raw_cpu, 3),
        "best_possible_ratio": round(raw_cpu / must, 3),
        "cpu_s_left_for_other_stages_at_target": round(raw_cpu / out["target_ratio"] - must, 3),
        "cpu_s_spent_on_other_stages": round(build_cpu - must, 3),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
