"""SFT build throughput: ffllm beside TRL's SFTTrainer on the same rows, on 1 and 2 workers
(prints JSON).

Default run (issue #17): GSM8K train (7,473 real rows; `--repeat N` for N copies) through
sft_shards_v2's whole pipeline (adapt, clean, exact + near dedup, decontaminate, template,
tokenize with response-only masks, write Parquet; augmentation off, so both sides make the
same rows), and the same rows (the same template and response text) through TRL's
`SFTTrainer` dataset preparation with completion-only loss (prompt/completion pairs; TRL adds
EOS, tokenizes prompt and prompt + completion, builds completion_mask and labels). Timed:
- ffllm in process: `build_set` after a first untimed build (imports, index, tokenizer), with
  FFDATA_WORKERS 1 and 2; CPU is this process plus its finished children (the workers);
- ffllm whole process: `ffdata build ... --workers N` as a subprocess (imports, fingerprint,
  decontamination index load, build, write: what a user waits for); `build_s` is the part of
  it that `--workers` splits, from that process's own record (`timings_s.build_and_write`:
  the first row read to the last shard written, the index mapped and the tokenizer loaded
  included), and `whole_process_build` its 1-vs-2-worker ratio. In process the heap left by
  the earlier builds makes every page the parent writes after the fork a copy (~15-20K
  faults a build instead of ~4K), which a fresh `ffdata build` does not pay;
- the decontamination index load alone in a fresh process (the cache warm: built once per
  eval-set digest, then memory-mapped);
- TRL in process: `SFTTrainer._prepare_dataset` (the preparation SFTTrainer.__init__ runs),
  trainer and tokenizer built beforehand and untimed, with dataset_num_proc None and 2, in a
  process of its own (torch is never loaded where ffllm's builds and workers are timed);
- TRL whole process (once): imports, the tokenizer, a 1-layer GPT-2 and SFTTrainer(...) with
  the rows: what a user of TRL waits for before training starts.
Each figure is the best of `--runs`. Tokens per CPU-second (all cores' CPU time) and
wall-clock; `ratios` divides ffllm's by TRL's. Wall-clock ratios mean something only on an
otherwise idle machine: with the kernel's autogroup scheduling (the shared dev box), a busy box
gives the bench's session one share of the CPUs however many workers it starts.
`--no-trl --repeat 4`: ffllm alone on 4 copies of GSM8K train (workers 1 vs 2 at 30K rows).

`--vs-tiktoken`: the earlier measurement instead: sft_shards_v2 (fixtures + GSM8K, no cap)
against raw tiktoken on the same rendered text, CPU per stage, and the floor (below).

`floor`: what any implementation pays besides encoding, measured on the same data: parsing the
input JSONL in C++ (pyarrow.json) and writing the built table with the project's Parquet
options (ffdata.sets.write_table). `best_possible_ratio` is the ratio of a build that did only
those three things; `cpu_s_left_for_other_stages_at_target` is what the target ratio leaves for
adapting, cleaning, deduplication, decontamination, templating and Arrow assembly together.
`--join K` makes each example of K consecutive GSM8K rows; `--max-tokens` raises the limit.

    python bench/sft_build.py [--runs 3] [--repeat 1]
    python bench/sft_build.py --vs-tiktoken [--repeat 1] [--join 1] [--max-tokens 1024]
"""

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ffdata.hashing import sha256_file  # noqa: E402
from ffdata.tokenizer import tiktoken_encoding  # noqa: E402


def build_set(*args, **kwargs):  # imported on use: the TRL child process never needs it
    from ffdata.build import build_set

    return build_set(*args, **kwargs)


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


def make_project(
    tmp: Path, repeat: int, join: int = 1, max_tokens: int | None = None, gsm8k_only=False
) -> Path:
    """A project with sft_shards_v2's manifest over the fixtures + GSM8K train (no cap), or
    (`gsm8k_only`) over GSM8K train alone with augmentation off: the rows TRL gets too. With
    `repeat` > 1 near dedup is off (the prefixed copies are near duplicates by design)."""
    manifest = yaml.safe_load((REPO / "manifests" / "sft_shards_v2.yaml").read_text())
    if max_tokens:
        manifest["options"]["max_tokens"] = max_tokens
    if gsm8k_only:
        manifest["sources"] = [s for s in manifest["sources"] if s["name"] == "gsm8k_train"]
        manifest["options"].pop("augmentation", None)
    if repeat > 1:
        manifest["options"]["near_dedup"] = False
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
    manifest.pop("errata", None)  # its rows are GSM8K rows this bench rewrites
    (tmp / "manifests" / "sft_shards_v2.yaml").write_text(yaml.safe_dump(manifest))
    return tmp / "manifests" / "sft_shards_v2.yaml"


def _raw_encode(texts: list[str]) -> tuple[int, float, float]:
    enc = tiktoken_encoding().encode_ordinary
    w, c = time.perf_counter(), time.process_time()
    tokens = sum(len(enc(x)) + 1 for x in texts)  # +1: the EOT the build appends
    return tokens, time.perf_counter() - w, time.process_time() - c


# (owner, method, stage): the pipeline's stages as the builder calls them (one worker). Nested
# stages are subtracted from their parent (all but the last two run inside `prepare`).
STAGES = [
    ("builders.sft_shards_v2:Pipeline", "prepare", "adapt_flags_refusal_pii_keys"),
    ("ffdata.cleaning:MinHashDedup", "keys", "near_dedup_minhash_keys"),
    ("ffdata.build:BuildContext", "find_contamination", "decontamination"),
    ("builders.sft_shards_v2:Pipeline", "_tokenize", "tokenize_and_fit"),
    ("builders.sft_shards_v2:Pipeline", "_tokenize_variant", "tokenize_variants"),
    ("builders.sft_shards_v2:Pipeline", "_augment", "augmentation_records"),
    ("builders.sft_shards_v2", "sft_table", "arrow_columns"),
    ("builders.sft_shards_v2:Pipeline", "flush", "dedup_caps_and_drops"),
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


def vs_tiktoken(args) -> None:
    from ffdata.decontam import Decontaminator

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


# ------------------------------------------------------------------------- vs TRL, workers

FFDATA = str(Path(sys.executable).parent / "ffdata")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(fn) -> tuple[float, float, object]:
    """(wall s, CPU s of this process and of its children, fn()). A build's workers end just
    after it returns (their pipes closed): they are reaped after the wall-clock stops and before
    their CPU is read."""
    import multiprocessing

    wall, cpu, kids = time.perf_counter(), time.process_time(), _children_cpu()
    out = fn()
    wall = time.perf_counter() - wall
    while multiprocessing.active_children():
        time.sleep(0.005)
    cpu = time.process_time() - cpu + _children_cpu() - kids
    return wall, cpu, out


def _env(workers: int) -> dict:
    return {**os.environ, "FFDATA_WORKERS": str(workers)}


def trl_pairs(manifest: Path) -> list[dict]:
    """The manifest's GSM8K rows as TRL prompt/completion pairs: the prompt rendered in the
    template ffllm uses (system line, instruction, response header), the completion the
    response text ffllm trains on (the same adapter)."""
    from ffdata.adapters import conversation_adapter, to_instruction_response
    from ffdata.records import render_prompt

    spec = yaml.safe_load(manifest.read_text())["sources"][0]
    adapter = conversation_adapter("gsm8k")
    pairs = []
    for i, line in enumerate((manifest.parent.parent / spec["path"]).read_text().splitlines()):
        split = to_instruction_response(adapter(json.loads(line), f"row {i}"))
        if not isinstance(split, str):
            pairs.append({"prompt": render_prompt(split[0]), "completion": split[1]})
    return pairs


def _trl_trainer(pairs: list[dict], num_proc: int | None):
    """SFTTrainer as a new user sets it up for completion-only loss (GPT-2 BPE, the same
    files ffllm encodes with; a 1-layer GPT-2, the model does not matter here)."""
    import warnings

    import datasets
    from datasets import Dataset
    from transformers import GPT2Config, GPT2LMHeadModel
    from trl import SFTConfig, SFTTrainer

    from ffdata.tokenizer import hf_tokenizer

    warnings.filterwarnings("ignore", category=FutureWarning)
    datasets.disable_progress_bars()
    args = SFTConfig(
        output_dir=tempfile.mkdtemp(prefix="trl-"),
        completion_only_loss=True,
        max_length=1024,
        dataset_num_proc=num_proc,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=1, n_embd=8))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(pairs),
        processing_class=hf_tokenizer(),
    )
    return trainer, args


def _trl_prepare(trainer, args, pairs: list[dict]):
    from datasets import Dataset

    ds = trainer._prepare_dataset(
        Dataset.from_list(pairs), trainer.processing_class, args, False, None, "train"
    )
    return len(ds), sum(map(len, ds["input_ids"]))


def _trl_whole_process(pairs_file: Path) -> None:
    """The TRL side as one process (run with --trl-child FILE): import, set up, prepare."""
    pairs = json.loads(pairs_file.read_text())
    trainer, _ = _trl_trainer(pairs, None)
    print(json.dumps({"rows": len(trainer.train_dataset)}))


def _trl_in_process(pairs_file: Path, runs: int) -> None:
    """TRL's preparation timed in its own process (--trl-runs FILE), so that torch and TRL
    are never loaded in the process whose ffllm builds are timed (nor in their workers):
    set-up untimed, then `runs` preparations with dataset_num_proc None and 2, as JSON."""
    pairs = json.loads(pairs_file.read_text())
    trainers = {n: _trl_trainer(pairs[:64], n) for n in (None, 2)}
    times: dict = {n or 1: [] for n in trainers}
    for _ in range(runs):
        for n, (trainer, targs) in trainers.items():
            wall, cpu, (rows, tokens) = _timed(lambda t=trainer, a=targs: _trl_prepare(t, a, pairs))
            times[n or 1].append((wall, cpu))
    print(json.dumps({"rows": rows, "tokens": tokens, "times": times}))


INDEX_LOAD = """
import time
t0 = time.perf_counter()
from ffdata.decontam import Decontaminator
from ffdata.evalsets import resolve_source
t1 = time.perf_counter()
d = Decontaminator.load({targets!r}, resolve_source())  # the copy a build resolves
t2 = time.perf_counter()
d.check_batch(["warm"])
print(t1 - t0, t2 - t1, time.perf_counter() - t2)
"""


def index_load(targets: list[str], runs: int) -> dict:
    """The decontamination index load in fresh processes (cache warm): best of `runs`."""
    got = []
    for _ in range(runs):
        code = INDEX_LOAD.format(targets=tuple(targets))
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        got.append([float(x) for x in out.stdout.split()])
    imp, load, first = (min(g[k] for g in got) for k in range(3))
    return {"import_s": round(imp, 3), "load_s": round(load, 3), "first_check_s": round(first, 3)}


def _rate(tokens: int, wall: float, cpu: float) -> dict:
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "tokens_per_cpu_s": round(tokens / cpu),
        "tokens_per_wall_s": round(tokens / wall),
    }


def vs_trl(args) -> None:
    from importlib.metadata import version

    from ffdata.decontam import Decontaminator
    from ffdata.evalsets import resolve_source

    workers = (1, 2)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        manifest = make_project(tmp / "project", args.repeat, gsm8k_only=True)
        targets = yaml.safe_load(manifest.read_text())["decontamination"]["targets"]
        pairs = trl_pairs(manifest)
        pairs_file = tmp / "pairs.json"
        pairs_file.write_text(json.dumps(pairs))
        Decontaminator.load(targets, resolve_source())  # built here if not cached yet
        # a first build untimed: imports, index, tokenizer
        built, _ = build_set("sft_shards_v2", manifest, root=str(tmp / "warm"), quiet=True)
        rec = built.record
        ff_in = {w: [] for w in workers}
        ff_whole = {w: [] for w in workers}
        ff_build = {w: [] for w in workers}  # the record's build_and_write: rows in, shards out
        for run in range(args.runs):
            for w in workers:
                os.environ["FFDATA_WORKERS"] = str(w)
                root = str(tmp / f"in{w}-{run}")
                wall, cpu, (b, _) = _timed(
                    lambda root=root: build_set("sft_shards_v2", manifest, root=root, quiet=True)
                )
                assert b.record["shards"] == rec["shards"], "a worker count changed the bytes"
                ff_in[w].append((wall, cpu))
                cmd = [FFDATA, "build", "sft_shards_v2", "--manifest", str(manifest)]
                cmd += ["--root", str(tmp / f"whole{w}-{run}"), "--workers", str(w)]
                wall, cpu, _ = _timed(
                    lambda cmd=cmd, w=w: subprocess.run(
                        cmd, env=_env(w), check=True, capture_output=True
                    )
                )
                (record,) = (tmp / f"whole{w}-{run}").rglob("_build.json")
                build_s = json.loads(record.read_text())["timings_s"]["build_and_write"]
                ff_whole[w].append((wall, cpu))
                ff_build[w].append(build_s)
            os.environ.pop("FFDATA_WORKERS", None)
        if not args.no_trl:
            cmd = [
                sys.executable,
                __file__,
                "--trl-runs",
                str(pairs_file),
                "--runs",
                str(args.runs),
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            trl_got = json.loads(out.stdout.splitlines()[-1])
            trl_rows, trl_tokens = trl_got["rows"], trl_got["tokens"]
            trl_in = {int(n): runs for n, runs in trl_got["times"].items()}
            cmd = [sys.executable, __file__, "--trl-child", str(pairs_file)]
            wall, cpu, out = _timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
            assert json.loads(out.stdout.decode().splitlines()[-1])["rows"] == trl_rows
            trl_whole = (wall, cpu)
        load = index_load(targets, args.runs)

    def best(runs):
        return min(r[0] for r in runs), min(r[1] for r in runs)

    tokens = rec["tokens"]
    ff = {
        "rows": rec["rows"],
        "dropped": rec["dropped"]["by_reason"],
        "tokens": tokens,
        "in_process": {f"workers_{w}": _rate(tokens, *best(ff_in[w])) for w in workers},
        "whole_process": {f"workers_{w}": _rate(tokens, *best(ff_whole[w])) for w in workers},
        "build_s": {f"workers_{w}": min(ff_build[w]) for w in workers},
    }
    ff_in1, ff_in2 = ff["in_process"]["workers_1"], ff["in_process"]["workers_2"]
    ff_wh1, ff_wh2 = ff["whole_process"]["workers_1"], ff["whole_process"]["workers_2"]
    out = {
        "input_rows": len(pairs),
        "repeat": args.repeat,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "decontam_index_per_process": load,
        "ffllm": ff,
        "ratios": {
            "ffllm_2_workers_vs_1_wall": {
                "in_process": round(ff_in1["wall_s"] / ff_in2["wall_s"], 2),
                "whole_process": round(ff_wh1["wall_s"] / ff_wh2["wall_s"], 2),
                "whole_process_build": round(min(ff_build[1]) / min(ff_build[2]), 2),
            }
        },
    }
    if args.no_trl:
        print(json.dumps(out, indent=2))
        return
    trl_side = {
        "version": version("trl"),
        "rows": trl_rows,
        "tokens": trl_tokens,
        "in_process": {f"num_proc_{n}": _rate(trl_tokens, *best(trl_in[n])) for n in trl_in},
        "whole_process": _rate(trl_tokens, *trl_whole),
    }

    def ratio(a: dict, b: dict, key: str) -> float:
        return round(a[key] / b[key], 2)

    trl1, trl2 = trl_side["in_process"]["num_proc_1"], trl_side["in_process"]["num_proc_2"]
    out["trl"] = trl_side
    out["ratios"] = {
        "tokens_per_cpu_s": {
            "in_process_ffllm_vs_trl": ratio(ff_in1, trl1, "tokens_per_cpu_s"),
            "whole_process_ffllm_vs_trl_preparation": ratio(ff_wh1, trl1, "tokens_per_cpu_s"),
            "whole_process_ffllm_vs_trl_whole_process": ratio(
                ff_wh1, trl_side["whole_process"], "tokens_per_cpu_s"
            ),
        },
        "wall_clock": {
            "in_process_ffllm_vs_trl_1_worker": ratio(ff_in1, trl1, "tokens_per_wall_s"),
            "in_process_ffllm_vs_trl_2_workers": ratio(ff_in2, trl2, "tokens_per_wall_s"),
            "whole_process_ffllm_vs_trl_preparation_1_worker": ratio(
                ff_wh1, trl1, "tokens_per_wall_s"
            ),
            "whole_process_ffllm_vs_trl_preparation_2_workers": ratio(
                ff_wh2, trl2, "tokens_per_wall_s"
            ),
        },
        **out["ratios"],
        "trl_2_procs_vs_1_wall": round(trl1["wall_s"] / trl2["wall_s"], 2),
    }
    print(json.dumps(out, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1, help="copies of GSM8K train")
    ap.add_argument("--runs", type=int, default=3, help="each side's best of this many")
    ap.add_argument("--no-trl", action="store_true", help="ffllm alone (workers 1 vs 2)")
    ap.add_argument("--vs-tiktoken", action="store_true", help="the earlier raw-encode bench")
    ap.add_argument(
        "--join", type=int, default=1, help="GSM8K rows per example: longer rows, same real text"
    )
    ap.add_argument(
        "--max-tokens",
        type=int,
        help="the manifest's token limit (default 1024): raise it with --join above 4",
    )
    ap.add_argument("--trl-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--trl-runs", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.trl_child:
        _trl_whole_process(args.trl_child)
    elif args.trl_runs:
        _trl_in_process(args.trl_runs, args.runs)
    elif args.vs_tiktoken:
        vs_tiktoken(args)
    else:
        vs_trl(args)


if __name__ == "__main__":
    main()
