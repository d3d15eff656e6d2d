"""Pretraining pipeline speed, one JSON object on stdout.

    python bench/pretrain_tokens.py [--docs 3000] [--filter-docs 1000] [--repeat 3] [--skip-parallel]

On the same real documents (the local pretrain sources' texts), one core, CPU time
(time.process_time: the machine is shared), the median of --repeat interleaved runs:
- raw tiktoken GPT-2 encode vs our tokenize-and-shard step (docs in -> uint16 shard + sidecar)
  vs datatrove's DocumentTokenizer (HF tokenizers) on the same documents; ids compared;
- every datatrove filter bare (as datatrove ships it) vs as the pipeline runs it (our dropped-row
  exclusion writer, FastSpacyWords as its word splitter), and with the writer alone; keep/drop
  decisions compared document by document; our own steps; MinHash signatures bare vs ours;
- FastSpacyWords vs datatrove's spaCy splitter: words compared on every document;
- the tiny project's whole pipeline with 1 and 2 local workers (wall time: that is what
  parallelism buys; CPU time is reported next to it).
Speed only: nothing here is asserted.
"""

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # HF tokenizers: one core, like the others
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from datatrove.data import Document  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ffdata.pretrain.filters import FILTER_CLASSES, make_filters  # noqa: E402
from ffdata.pretrain.format import read_tokens  # noqa: E402
from ffdata.pretrain.steps import CheckMalformed, Decontaminate, DroppedRows, TokenizeToShards  # noqa: E402
from ffdata.pretrain.words import FastSpacyWords  # noqa: E402
from ffdata.pretrain.words import preload as preload_words  # noqa: E402
from ffdata.tokenizer import EOT_TEXT, encode_array, hf_tokenizer, tiktoken_encoding  # noqa: E402


def real_texts(n: int) -> list[tuple[str, str]]:
    out = []
    src = ROOT / "data/sources/pretrain"
    for name in (
        "fineweb",
        "c4_en",
        "fineweb_edu",
        "news",
        "clean_web",
        "fineweb_10bt",
        "fineweb_edu_ext",
    ):
        for line in (src / f"{name}.jsonl").read_text(encoding="utf-8").strip("\n").split("\n"):
            text = json.loads(line)["text"]
            if text.strip():
                out.append((name, text))
    for r in pq.read_table(src / "wikipedia_en.parquet").to_pylist():
        out.append(("wikipedia_en", r["text"]))
    return out[:n]


def docs_of(texts):
    return [Document(text=t, id=f"{s}-{i}", metadata={"source": s, "module": "M", "source_row": i, "url": ""})
            for i, (s, t) in enumerate(texts)]  # fmt: skip


def cpu_runs(fns: dict, repeat: int) -> dict:
    """CPU seconds of each fn, `repeat` rounds, the fns interleaved within a round so that a
    busy spell on the shared machine hits them alike. A fn returning a float reports its own
    CPU seconds (to leave its set-up out)."""
    runs = {k: [] for k in fns}
    names = list(fns)
    for i in range(repeat):
        for k in names[i % len(names) :] + names[: i % len(names)]:  # rotated: no fixed last
            fn = fns[k]
            t0 = time.process_time()
            got = fn()
            runs[k].append(got if isinstance(got, float) else time.process_time() - t0)
    return runs


def med(xs) -> float:
    return statistics.median(xs)


def bench_tokenize(texts, tmp: Path, repeat: int) -> dict:
    plain = [t for _, t in texts]
    docs = docs_of(texts)  # the reader's cost is not the stage's; the step does not mutate them
    enc = tiktoken_encoding()
    ids = [enc.encode_ordinary(t) for t in plain]
    n_tokens = sum(len(x) + 1 for x in ids)

    def ours():
        out = tmp / "ours"
        shutil.rmtree(out, ignore_errors=True)
        list(TokenizeToShards(str(out)).run(iter(docs), rank=0))

    from datatrove.pipeline.tokens import DocumentTokenizer

    tok_dir = tmp / "hf_tok"
    tok_dir.mkdir(exist_ok=True)
    hf_tokenizer().backend_tokenizer.save(str(tok_dir / "tokenizer.json"))

    def datatroves():
        out = tmp / "dt"
        shutil.rmtree(out, ignore_errors=True)
        step = DocumentTokenizer(str(out), str(tok_dir / "tokenizer.json"), eos_token=EOT_TEXT,
                                 shuffle_documents=False, save_final_metadata=False, batch_size=1000)  # fmt: skip
        step.run(iter(docs), rank=0, world_size=1)

    ours()  # warm (tiktoken BPE load)
    runs = cpu_runs(
        {
            "raw": lambda: [enc.encode_ordinary(t) for t in plain],
            # the stage uses tiktoken's numpy-buffer call; its bare cost is the stricter baseline
            "raw_numpy": lambda: [encode_array(t) for t in plain],
            "ours": ours,
        },
        max(repeat, 5),
    )
    t_raw, t_ours = med(runs["raw"]), med(runs["ours"])
    t_raw_np = med(runs["raw_numpy"])
    t_dt = med(cpu_runs({"dt": datatroves}, repeat)["dt"])
    ours_tokens = read_tokens(tmp / "ours" / "00000.bin")
    dt_file = sorted((tmp / "dt").glob("*.ds"))[0]
    dt_tokens = np.fromfile(dt_file, dtype=np.uint16)
    return {
        "documents": len(texts),
        "tokens": n_tokens,
        "raw_tiktoken_tok_per_s": round(n_tokens / t_raw),
        "raw_tiktoken_docs_per_s": round(len(texts) / t_raw),
        "tokenize_and_shard_tok_per_s": round(n_tokens / t_ours),
        "datatrove_document_tokenizer_tok_per_s": round(n_tokens / t_dt),
        "ours_vs_raw_tiktoken": round(t_raw / t_ours, 3),
        "raw_tiktoken_numpy_tok_per_s": round(n_tokens / t_raw_np),
        "ours_vs_raw_tiktoken_numpy": round(t_raw_np / t_ours, 3),
        "ours_vs_raw_tiktoken_per_round": [
            round(a / b, 3) for a, b in zip(runs["raw"], runs["ours"], strict=True)
        ],
        "ours_vs_datatrove_document_tokenizer": round(t_dt / t_ours, 3),
        "ids_identical_to_datatrove_document_tokenizer": bool(
            np.array_equal(ours_tokens, dt_tokens)
        ),
        "ids_identical_to_raw_encode_plus_eot": bool(
            np.array_equal(
                ours_tokens, np.concatenate([np.array(x + [50256], np.uint16) for x in ids])
            )
        ),
    }


def bench_words(texts) -> dict:
    """FastSpacyWords vs datatrove's English spaCy splitter, word for word on every document."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    plain = [t for _, t in texts]
    ref, fast = load_word_tokenizer("en"), FastSpacyWords()
    a = [ref.word_tokenize(t) for t in plain]
    b = [fast.word_tokenize(t) for t in plain]
    lines = [ln for t in plain for ln in t.splitlines() if ln.strip()]
    spans_same = sum(ref.span_tokenize(ln) == fast.span_tokenize(ln) for ln in lines)
    preload_words("en")

    def fast_run():
        f = FastSpacyWords()  # a fresh one each run: no warm cache carried over
        return [f.word_tokenize(t) for t in plain]

    runs = cpu_runs(
        {"datatrove": lambda: [ref.word_tokenize(t) for t in plain], "fast": fast_run}, 3
    )
    return {
        "documents": len(plain),
        "documents_with_identical_words": sum(x == y for x, y in zip(a, b, strict=True)),
        "lines": len(lines),
        "lines_with_identical_sentence_spans": spans_same,
        "datatrove_docs_per_s": round(len(plain) / med(runs["datatrove"])),
        "fast_docs_per_s": round(len(plain) / med(runs["fast"])),
        "speedup": round(med(runs["datatrove"]) / med(runs["fast"]), 2),
    }


class TimedDroppedRows(DroppedRows):
    """Our exclusion writer, counting the CPU seconds spent inside it: the wrapping's own cost,
    measured directly rather than as a difference of two noisy totals."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cpu_s = 0.0

    def write(self, document, rank: int = 0, **kwargs):
        t0 = time.process_time()
        super().write(document, rank, **kwargs)
        self.cpu_s += time.process_time() - t0

    def close(self):
        t0 = time.process_time()
        super().close()
        self.cpu_s += time.process_time() - t0


def bench_filters(texts, tmp: Path, repeat: int) -> dict:
    docs = docs_of(texts)
    preload_words("en")  # as the pipeline's driver does before its tasks start
    out = {}
    for name, cls in FILTER_CLASSES.items():
        if name in ("language", "c4_badwords"):
            continue  # opt-in, need downloads
        kept, writer_s = {}, []

        def run(variant, name=name, cls=cls, kept=kept, writer_s=writer_s):
            d = copy.deepcopy(docs)  # filters may edit text (C4); every run gets fresh documents
            t0 = time.process_time()
            if variant == "bare":  # datatrove's filter as shipped
                f = cls()
            else:
                w = TimedDroppedRows(str(tmp / "drop" / variant / name), f"filtered:{name}")
                if variant == "writer_only":
                    f = cls(exclusion_writer=w)
                else:  # as the pipeline builds it
                    f = make_filters({name: {}}, [], str(tmp / "drop" / variant), FastSpacyWords())[
                        0
                    ]
            ids = [doc.id for doc in f.run(iter(d), rank=0)]
            spent = time.process_time() - t0
            if variant == "writer_only":
                writer_s.append(w.cpu_s)
            kept[variant] = ids
            return spent

        run("bare")  # warm up (spaCy load)
        runs = cpu_runs(
            {v: lambda v=v: run(v) for v in ("bare", "in_pipeline", "writer_only")}, repeat
        )
        tb, tp, tw = (med(runs[v]) for v in ("bare", "in_pipeline", "writer_only"))
        out[name] = {"bare_docs_per_s": round(len(docs) / tb), "in_pipeline_docs_per_s": round(len(docs) / tp),
                     "wrapping_overhead": round(tp / tb - 1, 4),
                     "writer_only_overhead": round(tw / tb - 1, 4),
                     # CPU inside our writer over the bare filter's run: not subject to run-to-run noise
                     "writer_cpu_share": round(med(writer_s) / tb, 4),
                     "same_decisions": kept["bare"] == kept["in_pipeline"] == kept["writer_only"],
                     "kept": len(kept["bare"]), "of": len(docs)}  # fmt: skip

    cm = CheckMalformed(
        str(tmp / "counts"), "bench", DroppedRows(str(tmp / "drop" / "m"), "malformed")
    )
    t = med(cpu_runs({"cm": lambda: list(cm.run(iter(docs), rank=0))}, repeat)["cm"])
    out["check_malformed (ours)"] = {"docs_per_s": round(len(docs) / t)}
    dec = Decontaminate(["mmlu", "arc", "gsm8k", "hellaswag", "truthfulqa"])
    _ = dec.index
    t = med(cpu_runs({"d": lambda: list(dec.run(iter(docs), rank=0))}, repeat)["d"])
    out["decontaminate (ours)"] = {"docs_per_s": round(len(docs) / t)}

    from datatrove.pipeline.dedup import MinhashDedupSignature

    def minhash(kind):
        shutil.rmtree(tmp / "mh" / kind, ignore_errors=True)
        kw = {"language": FastSpacyWords()} if kind == "ours" else {}
        MinhashDedupSignature(str(tmp / "mh" / kind), **kw).run(iter(docs), rank=0)

    minhash("bare")
    runs = cpu_runs({"bare": lambda: minhash("bare"), "ours": lambda: minhash("ours")}, repeat)
    sig_files = sorted(
        p.relative_to(tmp / "mh" / "bare") for p in (tmp / "mh" / "bare").rglob("*") if p.is_file()
    )
    same = all(
        (tmp / "mh" / "bare" / f).read_bytes() == (tmp / "mh" / "ours" / f).read_bytes()
        for f in sig_files
    )
    out["minhash_signature"] = {"bare_docs_per_s": round(len(docs) / med(runs["bare"])),
                                "in_pipeline_docs_per_s": round(len(docs) / med(runs["ours"])),
                                "wrapping_overhead": round(med(runs["ours"]) / med(runs["bare"]) - 1, 4),
                                "identical_signature_files": same}  # fmt: skip
    return out


def bench_parallel(tmp: Path, rows: int) -> dict:
    """The tiny project's whole pipeline (tasks: 2 per source) with 1 and 2 local workers.
    Wall time is what a second worker buys; both runs must write the same shards."""
    import hashlib
    import resource

    from ffdata.manifest import load_manifest
    from ffdata.pretrain.config import load_config
    from ffdata.pretrain.pipeline import Pipeline
    from ffdata.pretrain.sample import make_tiny_project

    manifest = make_tiny_project(tmp / "proj", rows=rows, total_tokens=60_000, options={"tasks": 2})
    out = {"tasks_per_source": 2}
    digests = {}
    for workers in (1, 2):
        cfg = load_config(load_manifest(manifest))
        cfg.executor["workers"] = workers
        work = tmp / f"work{workers}"
        t0 = time.perf_counter()
        c0 = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        pipe = Pipeline(cfg, tmp / "proj", work, quiet=True)
        pipe.run_all()
        out[f"workers_{workers}_wall_s"] = round(time.perf_counter() - t0, 2)
        cpu = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - c0
        out[f"workers_{workers}_cpu_s"] = round(cpu, 2)
        out[f"workers_{workers}_stage_wall_s"] = {k: v["seconds"] for k, v in pipe.ran.items()}
        digests[workers] = [
            hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((work / "out").iterdir())
        ]
    out["speedup_2_workers_wall"] = round(out["workers_1_wall_s"] / out["workers_2_wall_s"], 3)
    out["same_shards_1_and_2_workers"] = digests[1] == digests[2]
    out["input_docs"] = sum(pipe.input_counts().values())
    out["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--filter-docs", type=int, default=1000, help="documents for the filter runs")
    ap.add_argument("--parallel-rows", type=int, default=400, help="rows per source, parallel run")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs; medians reported")
    ap.add_argument("--skip-parallel", action="store_true")
    args = ap.parse_args()
    texts = real_texts(args.docs)
    result = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result["tokenize"] = bench_tokenize(texts, tmp, args.repeat)
        result["word_splitter"] = bench_words(texts)
        result["steps_docs_per_s_one_core"] = bench_filters(
            texts[: args.filter_docs], tmp, args.repeat
        )
        if not args.skip_parallel:
            result["pipeline_parallel"] = bench_parallel(tmp, args.parallel_rows)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
