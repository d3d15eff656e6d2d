"""Running a builder: fingerprint the recipe, give the builder a context, publish the set.

The fingerprint is sha256 over the canonical resolved manifest, the input hashes and the
builder's version; the set is stored under it, so building the same recipe twice is a no-op.
"""

import importlib
import importlib.metadata
import platform
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

import ffdata
from ffdata.codehash import code_digest
from ffdata.errata import load_errata
from ffdata.errors import FFDataError
from ffdata.hashing import sha256_json
from ffdata.locks import locked
from ffdata.manifest import (
    Manifest,
    check_builder_keys,
    check_shortfall,
    load_manifest,
    project_dir,
)
from ffdata.records import RECORD_SCHEMA
from ffdata.sets import BuiltSet, SetWriter, find_complete, publish_set
from ffdata.sources import Quarantined, input_hash, open_source
from ffdata.storage import open_storage

PROJECT_DIR = Path(__file__).resolve().parent.parent


def find_manifest(name: str) -> Path:
    for base in (Path.cwd(), PROJECT_DIR):
        path = base / "manifests" / f"{name}.yaml"
        if path.exists():
            return path
    raise FFDataError(f"no manifest for set {name!r}: looked for manifests/{name}.yaml")


def load_builder(name: str):
    try:
        module = importlib.import_module(f"builders.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"builders.{name}":
            raise
        available = sorted(
            p.stem for p in (PROJECT_DIR / "builders").glob("*.py") if not p.stem.startswith("_")
        )
        raise FFDataError(f"unknown builder {name!r} (available: {available})") from None
    for attr in ("VERSION", "build"):
        if not hasattr(module, attr):
            raise FFDataError(f"builder module builders.{name} has no {attr}")
    return module


UNSET_NOT_HASHED = ("files", "on_malformed", "max_row_bytes", "max_depth")


def build_inputs(manifest: Manifest, base_dir: Path, evalset_source: str | None = None) -> dict:
    """What a build reads, by hash: each source, the eval sets it decontaminates against (in the
    copy `evalset_source` names: resolved once per build), the errata and the teacher."""
    inputs = {s.name: input_hash(s, base_dir) for s in manifest.sources}
    if manifest.decontamination.targets:
        # The eval sets decide what is dropped: their copy (bundle sha256 or hub revision)
        # and the matching rules are inputs too.
        from ffdata.decontam import VERSION as decontam_version
        from ffdata.evalsets import describe_source, resolve_source

        source = evalset_source or resolve_source()
        inputs["decontamination"] = {
            "version": decontam_version,
            "evalsets": {t: describe_source(t, source) for t in manifest.decontamination.targets},
        }
    if manifest.errata is not None:
        inputs["errata"] = load_errata(manifest.errata, base_dir).digest
    teacher = manifest.options.get("teacher")
    if isinstance(teacher, dict) and teacher.get("backend", "reference") != "reference":
        from ffdata.teacher import teacher_identity

        inputs["teacher"] = teacher_identity(teacher, base_dir)
    return inputs


def fingerprint(
    manifest: Manifest, inputs: dict[str, str], builder: str, version: str, code: str
) -> str:
    """sha256 of the resolved recipe, its inputs, and the code that shapes its bytes (`code`:
    ffdata.codehash.code_digest of the builder)."""
    return sha256_json({"recipe": recipe_digest(manifest, inputs, builder, version), "code": code})


def recipe_digest(manifest: Manifest, inputs: dict[str, str], builder: str, version: str) -> str:
    """The fingerprint's recipe half: the resolved manifest, the inputs, the builder's name and
    VERSION (what a user changes on purpose; the code half changes with every edit)."""
    # Where a set is stored and how its work is scheduled (options.executor) never change
    # its bytes, so neither is part of the recipe's hash.
    resolved = manifest.model_dump(
        mode="json", exclude={"output": {"root"}, "options": {"executor"}}
    )
    for source in resolved["sources"]:
        for key in UNSET_NOT_HASHED:  # fields added later: unset, they leave fingerprints alone
            if source.get(key) is None:
                source.pop(key, None)
    if resolved.get("errata") is None:
        resolved.pop("errata", None)
    if resolved.get("shortcuts") is None:  # unset: fingerprints stay as they were
        resolved.pop("shortcuts", None)
    return sha256_json(
        {"manifest": resolved, "inputs": inputs, "builder": builder, "builder_version": version}
    )


class BuildContext:
    """What a builder sees: its manifest, its sources, decontamination and the output parts."""

    def __init__(
        self,
        manifest: Manifest,
        base_dir: Path,
        writer: SetWriter,
        quiet: bool = False,
        evalset_source: str | None = None,
    ):
        self.manifest = manifest
        self.base_dir = base_dir
        self.seed = manifest.seed
        self.set_name = manifest.name
        self.quiet = quiet
        self._writer = writer
        self._decontam = None
        self.targets: dict = dict(manifest.targets)
        self.dropped: list[dict] = []
        # (source, reason) -> rows, when the builder wrote _dropped.parquet itself (drops_written)
        self.dropped_file_counts: Counter = Counter()
        self.rows_read: Counter = Counter()
        self.generated_by_source: Counter = Counter()
        self.generated_by_pool: Counter = Counter()
        self.expanded_rows: dict[str, set[int]] = {}
        # the eval-set copy this build decontaminates against, resolved once by build_set and
        # handed to every worker (a worker resolving "auto" itself could see another copy)
        self.evalset_source = evalset_source
        self.errata = load_errata(manifest.errata, base_dir) if manifest.errata else None
        self.kept_by_source: Counter = Counter()
        self.dropped_by_source: Counter = Counter()
        self.counts = {k: Counter() for k in ("by_part", "by_block", "by_source", "by_format")}
        self.counts["by_block_category"] = Counter()
        self.contaminated_reported: Counter = Counter()

    # --- inputs -------------------------------------------------------------------------------
    def read_source(self, name: str, yield_quarantined: bool = False) -> Iterator[tuple[int, dict]]:
        """Rows of a manifest source; every row read must end up emitted or dropped.
        `yield_quarantined`: hand Quarantined rows on for the builder to drop in its own order
        (a builder that reads ahead of its decisions: ffdata.workers)."""
        spec = self.manifest.source(name)
        _, rows = open_source(spec, self.base_dir, quarantine=True)
        if self.errata is not None:
            rows = self.errata.apply(name, rows)
        for idx, row in rows:
            self.rows_read[name] += 1
            # hostile text, oversized, too deep (sources.screen)
            if isinstance(row, Quarantined) and not yield_quarantined:
                self.drop(name, idx, row.reason, row.detail)
                continue
            yield idx, row
        if self.errata is not None:
            self.errata.check_all_applied(name)

    def generated(
        self, source: str, n: int = 1, *, pool: str | None = None, from_row: int | None = None
    ) -> None:
        """Count `n` items a generator produced as input of `source` (each must then be kept or
        dropped, like a row read). `from_row`: the source row they were made from, which is then
        spent ("expanded" into items) instead of being kept or dropped itself."""
        self.generated_by_source[source] += n
        if pool is not None:
            self.generated_by_pool[pool] += n
        if from_row is not None:
            self.expand(source, from_row)

    def expand(self, source: str, row: int) -> None:
        """Mark `source` row `row` as spent into generated items (it is then neither kept nor
        dropped itself); also for items counted under another source (a generator's)."""
        self.expanded_rows.setdefault(source, set()).add(int(row))

    def progress(self, items: Iterable, desc: str, total: int | None = None):
        return tqdm(items, desc=desc, total=total, disable=self.quiet, file=sys.stderr, leave=False)

    # --- decontamination ----------------------------------------------------------------------
    @property
    def decontaminator(self):
        spec = self.manifest.decontamination
        if self._decontam is None and spec.targets:
            from ffdata.decontam import Decontaminator

            self._decontam = Decontaminator.load(
                targets=spec.targets, source=self.evalset_source or "auto"
            )
        return self._decontam

    def keep(self, record: dict) -> bool:
        """Decontaminate a record: False (and a drop with its reason) if it matches an eval item."""
        spec = self.manifest.decontamination
        if not spec.targets:
            return True
        text = "\n".join(record[f] for f in spec.fields)
        match = self.decontaminator.check(text)
        if match is None:
            return True
        reason = f"contaminated:{match.evalset}"
        if spec.action == "report":
            self.contaminated_reported[reason] += 1
            return True
        self.drop(record["source"], record["source_row"], reason, f"{match.item_id}: {match.ngram}")
        return False

    def find_contamination(self, records: list[dict]) -> list:
        """The scan of keep_batch alone (Match or None per record), for build workers."""
        spec = self.manifest.decontamination
        if not spec.targets or not records:
            return [None] * len(records)
        return self.decontaminator.check_batch(
            ["\n".join(r[f] for f in spec.fields) for r in records]
        )

    def keep_batch(self, records: list[dict], matches: list | None = None) -> list[bool]:
        """`keep` for many records at once: one vectorized scan (Decontaminator.check_batch).
        `matches`: find_contamination's answer when a worker already scanned the records."""
        keep = []
        for record, verdict in zip(records, self.contamination(records, matches), strict=True):
            if verdict is not None:
                self.drop(record["source"], record["source_row"], *verdict)
            keep.append(verdict is None)
        return keep

    def contamination(self, records: list[dict], matches: list | None = None) -> list:
        """Per record, (reason, detail) when decontamination drops it, else None; a match the
        manifest only reports (`action: report`) is counted here and kept. Nothing is dropped:
        for a builder that drops rows in its own order (keep_batch drops them at once)."""
        spec = self.manifest.decontamination
        if not spec.targets or not records:
            return [None] * len(records)
        if matches is None:
            matches = self.find_contamination(records)
        verdicts = []
        for match in matches:
            if match is None:
                verdicts.append(None)
                continue
            reason = f"contaminated:{match.evalset}"
            if spec.action == "report":
                self.contaminated_reported[reason] += 1
                verdicts.append(None)
                continue
            verdicts.append((reason, f"{match.item_id}: {match.ngram}"))
        return verdicts

    # --- outputs ------------------------------------------------------------------------------
    def emit(self, part: str, record: dict) -> None:
        self._writer.add(part, record)
        self._count(
            part, [record["source"]], [record.get("block", "")], [record.get("format", "")],
            [record.get("category", "")],
        )  # fmt: skip

    def emit_table(self, part: str, table) -> None:
        """`emit` for many rows at once: an Arrow table in the writer's schema."""
        self._writer.add_table(part, table)
        columns = [table.column(c).to_pylist() for c in ("source", "block", "format", "category")]
        self._count(part, *columns)

    def _count(self, part: str, sources, blocks, formats, categories) -> None:
        self.kept_by_source.update(sources)
        self.counts["by_part"][part] += len(sources)
        self.counts["by_block"].update(blocks)
        self.counts["by_source"].update(sources)
        self.counts["by_format"].update(formats)
        self.counts["by_block_category"].update(f"{part}/{c}" for c in categories)

    def drop(self, source: str, source_row: int, reason: str, detail: str = "") -> None:
        self.dropped.append(
            {"source": source, "source_row": int(source_row), "reason": reason, "detail": detail}
        )
        self.dropped_by_source[source] += 1

    def drops_written(self, counts: dict[tuple[str, str], int]) -> None:
        """For builders with more dropped rows than memory should hold (pretrain_mix at 90B
        tokens): the builder has written `_dropped.parquet` (DROPPED_SCHEMA, sorted) into the
        staging folder itself; `counts` are its rows by (source, reason)."""
        if self.dropped or self.dropped_file_counts:
            raise FFDataError("builder error: drops_written() is the only way a build drops rows")
        self.dropped_file_counts = Counter(counts)
        for (source, _), n in counts.items():
            self.dropped_by_source[source] += n

    @property
    def dropped_total(self) -> int:
        return len(self.dropped) + sum(self.dropped_file_counts.values())

    def dropped_by_reason(self) -> Counter:
        by_reason = Counter(d["reason"] for d in self.dropped)
        for (_, reason), n in self.dropped_file_counts.items():
            by_reason[reason] += n
        return by_reason

    def set_targets(self, targets: dict) -> None:
        self.targets = targets

    # --- accounting ---------------------------------------------------------------------------
    def reconcile(self) -> dict:
        """Every input of every source, counted as it was read or generated, ends up exactly once
        kept, dropped, or expanded into generated items. `ok` is derived, never assumed: a row
        emitted twice, both kept and dropped, or never accounted for fails the build."""
        sources = sorted(
            set(self.rows_read) | set(self.generated_by_source) | set(self.kept_by_source)
            | set(self.dropped_by_source) | set(self.expanded_rows)
        )  # fmt: skip
        by_source, problems = {}, []
        for s in sources:
            expanded = len(self.expanded_rows.get(s, ()))
            entry = {
                "read": self.rows_read[s],
                "generated": self.generated_by_source[s],
                "input": self.rows_read[s] + self.generated_by_source[s],
                "kept": self.kept_by_source[s],
                "dropped": self.dropped_by_source[s],
                "expanded": expanded,
            }
            out = entry["kept"] + entry["dropped"] + expanded
            entry["ok"] = out == entry["input"]
            by_source[s] = entry
            if not entry["ok"]:
                diff = out - entry["input"]
                what = (
                    f"{diff} more than its input (a row emitted twice, or kept and dropped)"
                    if diff > 0
                    else f"{-diff} rows neither kept nor dropped"
                )
                problems.append(
                    f"source {s!r}: {entry['read']} read + {entry['generated']} generated = "
                    f"{entry['input']} input, but {entry['kept']} kept + {entry['dropped']} "
                    f"dropped + {expanded} expanded = {out}: {what}"
                )
            if expanded > entry["read"]:
                problems.append(f"source {s!r}: {expanded} rows expanded but {entry['read']} read")
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise FFDataError(f"reconciliation failed: {problems[0]}{more}")
        total = {k: sum(e[k] for e in by_source.values()) for k in
                 ("read", "generated", "input", "kept", "dropped", "expanded")}  # fmt: skip
        return {
            **total,
            "ok": all(e["ok"] for e in by_source.values()),
            "rows_read": dict(sorted(self.rows_read.items())),
            "generated_by_pool": dict(sorted(self.generated_by_pool.items())),
            "by_source": by_source,
        }


def resolve_evalset_source(manifest: Manifest) -> str | None:
    """ "hub" or "bundled" for a build that decontaminates, else None."""
    if not manifest.decontamination.targets:
        return None
    from ffdata.evalsets import resolve_source

    return resolve_source()


def _versions() -> dict:
    import pyarrow

    return {
        "ffdata": ffdata.__version__,
        "python": platform.python_version(),
        "pyarrow": pyarrow.__version__,
        # the installed distribution's version: importing duckdb only to read it costs ~0.1 s
        "duckdb": importlib.metadata.version("duckdb"),
    }


def build_set(
    name: str,
    manifest_path: str | Path | None = None,
    root: str | None = None,
    force: bool = False,
    quiet: bool = False,
    options: dict | None = None,
) -> tuple[BuiltSet, bool]:
    """Build a set; returns (the set, whether it was built now rather than found).

    `options` overrides keys of the manifest's `options` (e.g. from `--source hf`); the
    override is part of the resolved manifest, so it changes the fingerprint."""
    t0 = time.perf_counter()
    manifest_path = Path(manifest_path) if manifest_path else find_manifest(name)
    manifest = load_manifest(manifest_path)
    if options:
        manifest = manifest.model_copy(update={"options": {**manifest.options, **options}})
    if manifest.name != name:
        raise FFDataError(f"{manifest_path}: manifest is for set {manifest.name!r}, not {name!r}")
    base_dir = project_dir(manifest_path)
    builder_name = manifest.builder or manifest.name
    builder = load_builder(builder_name)
    check_builder_keys(manifest, builder, str(manifest_path))
    # Resolved once, here: every worker decontaminates against this copy, and the record says
    # which one it was (a failed load stops the build instead of falling back to another copy).
    evalset_source = resolve_evalset_source(manifest)
    inputs = build_inputs(manifest, base_dir, evalset_source)
    code = code_digest(builder_name)
    fp = fingerprint(manifest, inputs, builder_name, builder.VERSION, code["digest"])

    storage = open_storage(root or manifest.output.root)
    layout = manifest.output.path.strip("/")
    prefix = f"{layout}/{fp}"
    # "Already built" only for a whole set (its record as published, every file in place);
    # a damaged one is built again into a new generation.
    if not force and (found := find_complete(storage, layout, fp)) is not None:
        return found, False
    storage.check_root()  # a missing S3 bucket fails now, not after the build
    # One build of a recipe at a time on this machine: two would share (and delete) one
    # staging folder. A second build waits, then finds the set the first published.
    say_wait = (
        None if quiet else lambda: print(f"waiting for another build of {prefix}", file=sys.stderr)
    )
    with locked(storage.lock_path(prefix), on_wait=say_wait) as waited:
        if waited and not force and (found := find_complete(storage, layout, fp)) is not None:
            return found, False  # the other build made it
        staging = storage.staging_dir(prefix)
        shutil.rmtree(staging, ignore_errors=True)  # leftovers of a killed build
        # A builder may store its own row layout (tokenized SFT, preference pairs): module SCHEMA.
        writer = SetWriter(
            staging, manifest.output.rows_per_shard, getattr(builder, "SCHEMA", RECORD_SCHEMA)
        )
        ctx = BuildContext(manifest, base_dir, writer, quiet=quiet, evalset_source=evalset_source)
        # For builders that run their own engine (pretrain_mix: datatrove) and keep resumable
        # work next to the set: where it goes and what it is called.
        ctx.fingerprint, ctx.storage, ctx.layout, ctx.staging = fp, storage, layout, staging
        ctx.writer = writer
        t_build = time.perf_counter()
        builder.build(ctx)
        reconciliation = ctx.reconcile()
        shards = writer.close(None if ctx.dropped_file_counts else ctx.dropped)
        rows = sum(s["rows"] for s in shards)
        check_shortfall(manifest, builder, rows, str(manifest_path), ctx.dropped_by_reason())
        t_write = time.perf_counter()
        if manifest.shortcuts:  # answer-blind baselines: a set with a shortcut is not published
            from ffdata.shortcuts import check_build

            check_build(manifest, [(s["part"], staging / s["path"]) for s in shards], ctx.targets,
                        base_dir)  # fmt: skip

        by_reason = ctx.dropped_by_reason()
        record = {
            "set": manifest.name,
            "version": manifest.version,
            "fingerprint": fp,
            "builder": builder_name,
            "builder_version": builder.VERSION,
            "code": code,
            "evalset_source": evalset_source,
            "errata_applied": ctx.errata.applied if ctx.errata else [],
            "manifest": manifest.model_dump(mode="json"),
            "manifest_file": manifest_path.name,
            "inputs": inputs,
            "shards": shards,
            "rows": sum(s["rows"] for s in shards),
            "tokens": sum(s.get("tokens", 0) for s in shards) or None,
            "counts": {k: dict(sorted(v.items())) for k, v in ctx.counts.items()},
            "targets": ctx.targets,
            "dropped": {
                "total": ctx.dropped_total,
                "by_reason": dict(sorted(by_reason.items())),
                "by_source": dict(sorted(ctx.dropped_by_source.items())),
            },
            "contamination_reported": dict(sorted(ctx.contaminated_reported.items())),
            "reconciliation": reconciliation,
            "versions": _versions(),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "timings_s": {
                "prepare": round(t_build - t0, 3),
                "build_and_write": round(t_write - t_build, 3),
            },
        }
        return publish_set(storage, staging, layout, fp, record), True
