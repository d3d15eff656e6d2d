"""The pretrain_mix stages on datatrove executors, in a work folder that makes them resumable.

Stages (each a datatrove executor with its own logging folder; completed tasks are skipped on a
rerun, so a killed build picks up where it stopped):

 1. filter/<source>   reader -> malformed check -> quality filters -> decontamination -> JSONL
 2. exact_sig, exact_find          content-hash exact dedup (datatrove ExactDedup*)
 3. url_sig, url_find              URL exact dedup, on what survives 2
 4. minhash_sig, _buckets, _cluster  MinHash near-dup dedup (datatrove's four stages)
 5. tokenize          filtered docs -> exact/URL/MinHash filters -> uint16 shards + sidecars
 6. plan (in the driver)           hash-based mix to the token targets (DuckDB, out of core)
 7. write             final shards from the plan

Dedup runs across all sources together (FineWeb-EDU is a subset of FineWeb, the 10BT sample a
subset of FineWeb): for exact duplicates the copy from the higher-quality source is kept.
Every dropped document leaves a compact row under `dropped/`, and `counts/` holds each reader
task's row count, so `account()` can reconcile input = kept + dropped per source.
"""

import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.pipeline.dedup import (
    ExactDedupFilter,
    ExactDedupSignature,
    ExactFindDedups,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from ffdata.errors import FFDataError
from ffdata.pretrain.config import PretrainConfig
from ffdata.pretrain.filters import check_downloads, make_filters
from ffdata.pretrain.mixer import PLAN_SUMMARY, MixShardWriter
from ffdata.pretrain.planner import plan_mix
from ffdata.pretrain.sources import make_reader
from ffdata.pretrain.steps import (
    CheckMalformed,
    Decontaminate,
    DroppedRows,
    TokenizeToShards,
    pause_hook,
)
from ffdata.pretrain.words import FastSpacyWords
from ffdata.pretrain.words import preload as preload_words


# Module-level (picklable) key functions for datatrove's exact dedup; the return annotation
# tells datatrove to hash a str.
def content_key(doc) -> str:
    return doc.text


def url_key(doc) -> str:
    url = doc.metadata.get("url") or ""
    return url if url else f"\x00no-url\x00{doc.metadata['source']}\x00{doc.id}"


def doc_priority(doc) -> int:
    return int(doc.metadata.get("priority", 1))


EXACT = ExactDedupConfig(content_getter=content_key, document_priority=doc_priority)
URL = ExactDedupConfig(content_getter=url_key, document_priority=doc_priority)


class Pipeline:
    def __init__(self, cfg: PretrainConfig, base_dir: Path, work: Path, quiet: bool = False):
        self.cfg = cfg
        self.base_dir = base_dir
        self.work = Path(work)
        self.quiet = quiet
        self.minhash = (
            MinhashConfig(**cfg.dedup["minhash"]) if cfg.dedup["minhash"] is not False else None
        )
        self.finders = int(cfg.dedup.get("finder_workers", 1))
        self.ran: dict[str, dict] = {}

    # --- paths ----------------------------------------------------------------------------
    def p(self, *parts: str) -> str:
        return str(self.work.joinpath(*parts))

    @property
    def dedup_tasks(self) -> int:
        # One task per filtered file (one per filter task): fixed by the manifest, so the dedup
        # result is too (which copy of an equal-priority duplicate is kept follows the files'
        # (task, position) numbering).
        return sum(s.tasks for s in self.cfg.sources)

    # --- executors ------------------------------------------------------------------------
    def _executor(self, name: str, pipeline: list, tasks: int):
        ex = self.cfg.executor
        logging_dir = self.p("logs", name)
        workers = max(1, min(int(ex.get("workers", 1)), tasks))
        if ex["kind"] == "local":
            from datatrove.executor import LocalPipelineExecutor

            return LocalPipelineExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                         start_method=ex.get("start_method", "fork"))  # fmt: skip
        if ex["kind"] == "slurm":
            from datatrove.executor import SlurmPipelineExecutor

            slurm = dict(ex.get("slurm") or {})
            for key in ("partition", "time"):
                if key not in slurm:
                    raise FFDataError(
                        f"options.executor.slurm.{key} is required for the Slurm executor"
                    )
            slurm.setdefault("job_name", f"ffdata-{name.replace('/', '-')}")
            slurm.setdefault(
                "venv_path",
                os.environ.get("VIRTUAL_ENV") and f"{os.environ['VIRTUAL_ENV']}/bin/activate",
            )
            return SlurmPipelineExecutor(pipeline, tasks=tasks, workers=ex.get("workers", -1),
                                         logging_dir=logging_dir, **slurm)  # fmt: skip
        import importlib.util

        if importlib.util.find_spec("ray") is None:  # datatrove would only fail at run()
            raise FFDataError("executor 'ray' needs the ray package (pip install ray)")
        from datatrove.executor.ray import RayPipelineExecutor

        return RayPipelineExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir,
                                   **dict(ex.get("ray") or {}))  # fmt: skip

    def run_stage(self, name: str, pipeline: list, tasks: int) -> None:
        executor = self._executor(name, pipeline, tasks)
        todo = executor.get_incomplete_ranks()
        t0 = time.perf_counter()
        if todo:
            if not self.quiet:
                print(
                    f"[pretrain_mix] stage {name}: {len(todo)}/{tasks} tasks to run",
                    file=sys.stderr,
                )
            executor.run()
            self._wait(executor, name)
        self.ran[name] = {"tasks": tasks, "ran": len(todo), "skipped": tasks - len(todo),
                          "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
        pause_hook(name)

    def _wait(self, executor, name: str) -> None:
        """Slurm's run() only submits: wait until every task has its completion file. Local and
        Ray runs return when their tasks have ended: an incomplete task there is a failure."""
        poll = int(self.cfg.executor.get("poll_seconds", 30))
        while incomplete := executor.get_incomplete_ranks():
            if self.cfg.executor["kind"] != "slurm":
                raise FFDataError(
                    f"stage {name}: {len(incomplete)} tasks did not complete "
                    f"(see {executor.logging_dir.path}/logs)"
                )
            time.sleep(poll)

    def _connect_ray(self) -> None:
        """Join the Ray cluster: $RAY_ADDRESS, else the one `ray start` made on this node, else
        a new local one. Tasks run in the cluster's worker processes, whose environment is the
        cluster's, not this shell's: ffdata and hub settings (work dir, offline mode, token,
        test hooks) travel with the job."""
        import ray

        if ray.is_initialized():
            return
        env = {k: v for k, v in os.environ.items() if k.startswith(("FFDATA_", "HF_"))}
        ray.init(runtime_env={"env_vars": env}, log_to_driver=not self.quiet)

    def _preload(self) -> None:
        """Local executor: load spaCy and the decontamination index once, here, so the forked
        worker of every task inherits them (each costs seconds of CPU per process, more than
        a small task's own work). Other executors' tasks run elsewhere and load their own."""
        if self.cfg.executor["kind"] != "local":
            return
        preload_words("en")
        if self.cfg.decontam_targets:
            from ffdata.decontam import Decontaminator

            Decontaminator.load(targets=self.cfg.decontam_targets, source=self.cfg.decontam_source)

    # --- stages ---------------------------------------------------------------------------
    def filtered_reader(self):
        return JsonlReader(self.p("filtered"), recursive=True, add_file_path=False)

    def stages(self, words) -> list[tuple[str, list, int]]:
        """The datatrove stages before the plan, in order: (name, pipeline steps, tasks). Built
        up front, so the executors a run would launch can be inspected (tests check the Slurm
        scripts of the full manifest this way) without running anything."""
        cfg = self.cfg
        out = []
        for src in cfg.sources:
            dropped = self.p("dropped", "filter", src.name)
            steps = [
                make_reader(src, self.base_dir),
                CheckMalformed(
                    self.p("counts"), src.name, DroppedRows(f"{dropped}/malformed", "malformed")
                ),
                *make_filters(cfg.filters, src.skip_filters, dropped, words),
            ]
            if cfg.decontam_targets:
                report = (
                    DroppedRows(self.p("reported", src.name), None)
                    if cfg.decontam_action == "report"
                    else None
                )
                steps.append(Decontaminate(cfg.decontam_targets, cfg.decontam_action,
                                           DroppedRows(f"{dropped}/decontaminate", None), report,
                                           source=cfg.decontam_source))  # fmt: skip
            steps.append(
                JsonlWriter(self.p("filtered", src.name), output_filename="${rank}.jsonl.gz")
            )
            out.append((f"filter/{src.name}", steps, src.tasks))

        n = self.dedup_tasks
        head: list = []  # the dedup filters a later stage re-applies (without exclusion writers)
        if cfg.dedup["exact"]:
            out.append(("exact_sig", [self.filtered_reader(),
                        ExactDedupSignature(self.p("dedup", "exact_sig"), EXACT, self.finders)], n))  # fmt: skip
            out.append(("exact_find", [ExactFindDedups(self.p("dedup", "exact_sig"),
                        self.p("dedup", "exact_dups"), EXACT)], self.finders))  # fmt: skip
            head.append(
                ("exact", lambda w: ExactDedupFilter(self.p("dedup", "exact_dups"), EXACT, w))
            )
        if cfg.dedup["url"]:
            out.append(("url_sig", [self.filtered_reader(), *[f(None) for _, f in head],
                        ExactDedupSignature(self.p("dedup", "url_sig"), URL, self.finders)], n))  # fmt: skip
            out.append(("url_find", [ExactFindDedups(self.p("dedup", "url_sig"),
                        self.p("dedup", "url_dups"), URL)], self.finders))  # fmt: skip
            head.append(("url", lambda w: ExactDedupFilter(self.p("dedup", "url_dups"), URL, w)))
        if self.minhash:
            mh = self.minhash
            out.append(("minhash_sig", [self.filtered_reader(), *[f(None) for _, f in head],
                        MinhashDedupSignature(self.p("dedup", "mh_sigs"), mh, language=words)], n))  # fmt: skip
            out.append(("minhash_buckets", [MinhashDedupBuckets(self.p("dedup", "mh_sigs"),
                        self.p("dedup", "mh_buckets"), config=mh)], mh.num_buckets))  # fmt: skip
            out.append(("minhash_cluster", [MinhashDedupCluster(self.p("dedup", "mh_buckets"),
                        self.p("dedup", "mh_remove"), config=mh)], 1))  # fmt: skip
            head.append(
                (
                    "minhash",
                    lambda w: MinhashDedupFilter(self.p("dedup", "mh_remove"), exclusion_writer=w),
                )
            )

        tokenize = [self.filtered_reader()]
        for kind, make in head:
            tokenize.append(
                make(DroppedRows(self.p("dropped", "dedup", kind), f"duplicate:{kind}"))
            )
        tokenize.append(TokenizeToShards(self.p("tokens"), batch_size=cfg.tokenize_batch))
        out.append(("tokenize", tokenize, n))
        return out

    def run_all(self) -> dict:
        cfg = self.cfg
        check_downloads(cfg.filters)
        words = FastSpacyWords()  # one per pipeline: the filters share its warm state
        self._preload()
        if cfg.executor["kind"] == "ray":
            self._connect_ray()
        stages = self.stages(words)
        for i, (name, steps, tasks) in enumerate(stages):
            self.run_stage(name, steps, tasks)
            if name.startswith("filter/") and not stages[i + 1][0].startswith("filter/"):
                pause_hook("filter")

        plan_dir = self.work / "plan"
        if (plan_dir / PLAN_SUMMARY).exists():
            summary = json.loads((plan_dir / PLAN_SUMMARY).read_text())
        else:
            shutil.rmtree(plan_dir, ignore_errors=True)
            summary = plan_mix(cfg, self.work / "tokens", plan_dir)
        pause_hook("plan")
        if summary["shards"]:
            writer = MixShardWriter(
                str(plan_dir), self.p("tokens"), self.p("out"), summary["shards"]
            )
            self.run_stage("write", [writer], summary["shards"])
        return summary

    # --- accounting -----------------------------------------------------------------------
    def input_counts(self) -> Counter:
        counts: Counter = Counter()
        for path in sorted((self.work / "counts").glob("*/*.json")):
            rec = json.loads(path.read_text())
            counts[rec["source"]] += rec["rows"]
        return counts

    def dropped_files(self) -> list[Path]:
        """The dropped-row files of every step (the mixer's downsampling is in plan/)."""
        return sorted((self.work / "dropped").rglob("*.parquet"))

    def reported_rows(self) -> list[dict]:
        rows = []
        for path in sorted((self.work / "reported").rglob("*.parquet")):
            rows.extend(pq.read_table(path).to_pylist())
        return rows
