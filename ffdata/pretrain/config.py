"""The pretrain_mix manifest read into a plan: sources with module/group/quality, token targets,
filters, dedup, tokenization and executor settings. Every problem is one FFDataError line.

Token targets: `targets.shares` gives each group (fineweb, c4, wikipedia, clean_web, news) its
share of `targets.total_tokens`; inside a group the share is split by sampling weight, which
comes from the source's quality label (`targets.quality_weights`, default high 2 : medium 1 :
low 0.5) unless the source sets `weight` itself. A token here is a GPT-2 token of the text plus
the end-of-text token after it: exactly what lands in the shards.
"""

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ffdata.errors import FFDataError
from ffdata.manifest import Manifest, SourceSpec

SCHEMAS = ("fineweb", "fineweb_edu", "c4", "wikipedia", "cc_news", "clean_web")
DEFAULT_QUALITY_WEIGHTS = {"high": 2.0, "medium": 1.0, "low": 0.5}
DEFAULT_FILTERS: dict[str, Any] = {
    "gopher_repetition": {},
    "gopher_quality": {},
    "c4_quality": {},
    "fineweb_quality": {},
    "language": False,  # opt-in: needs the fastText lid.176 model (a download)
    "c4_badwords": False,  # opt-in: needs the LDNOOBW word list (a download)
}
EXECUTORS = ("local", "slurm", "ray")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")  # a full hub commit, as the other builders require


@dataclass
class SourcePlan:
    spec: SourceSpec
    module: str
    group: str
    quality: str
    schema: str
    weight: float
    tasks: int
    skip_filters: list[str]
    share: float = 0.0
    target_tokens: int = 0

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class PretrainConfig:
    sources: list[SourcePlan]
    total_tokens: int
    shares: dict[str, float]
    quality_weights: dict[str, float]
    tolerance: float
    max_repeat: float
    seed: int
    filters: dict[str, dict]  # enabled filters only, in pipeline order, with their kwargs
    dedup: dict[str, Any]
    tokens_per_shard: int
    tokenize_batch: int
    executor: dict[str, Any]
    decontam_targets: list[str]
    decontam_action: str
    work_dir: str | None = None
    keep_work: bool = False
    # "hub" or "bundled": resolved once by build_set, so every worker reads the same copy
    decontam_source: str = "auto"
    extra: dict = field(default_factory=dict)

    def source(self, name: str) -> SourcePlan:
        return next(s for s in self.sources if s.name == name)


def _err(origin: str, msg: str) -> FFDataError:
    return FFDataError(f"{origin}: {msg}")


def _executor(options: dict, origin: str) -> dict:
    ex = dict(options.get("executor") or {})
    # The CLI (`ffdata build --executor/--workers`) wins over the manifest; neither changes
    # the outputs, so neither is part of the fingerprint.
    if os.environ.get("FFDATA_EXECUTOR"):
        ex["kind"] = os.environ["FFDATA_EXECUTOR"]
    if os.environ.get("FFDATA_WORKERS"):
        ex["workers"] = int(os.environ["FFDATA_WORKERS"])
    ex.setdefault("kind", "local")
    ex.setdefault("workers", 1)
    if ex["kind"] not in EXECUTORS:
        raise _err(origin, f"options.executor.kind: {ex['kind']!r} is not one of {EXECUTORS}")
    if not isinstance(ex["workers"], int) or ex["workers"] < 1:
        raise _err(
            origin, f"options.executor.workers: expected an integer >= 1, got {ex['workers']!r}"
        )
    return ex


def load_config(manifest: Manifest, origin: str = "") -> PretrainConfig:
    origin = origin or f"manifest {manifest.name!r}"
    t = manifest.targets
    o = manifest.options
    known_targets = {"total_tokens", "shares", "quality_weights", "tolerance", "max_repeat"}
    if unknown := sorted(set(t) - known_targets):
        raise _err(origin, f"targets: unknown keys {unknown} (known: {sorted(known_targets)})")
    total = t.get("total_tokens")
    if not isinstance(total, int) or total <= 0:
        raise _err(origin, f"targets.total_tokens: expected a positive integer, got {total!r}")
    shares = dict(t.get("shares") or {})
    if not shares:
        raise _err(origin, "targets.shares: give each source group its share of the tokens")
    if any(not isinstance(v, int | float) or v < 0 for v in shares.values()):
        raise _err(origin, f"targets.shares: shares must be numbers >= 0, got {shares}")
    if not math.isclose(sum(shares.values()), 1.0, abs_tol=1e-6):
        raise _err(
            origin, f"targets.shares: shares must sum to 1, they sum to {sum(shares.values()):.6f}"
        )
    qweights = {**DEFAULT_QUALITY_WEIGHTS, **(t.get("quality_weights") or {})}
    tolerance = float(t.get("tolerance", 0.005))
    max_repeat = float(t.get("max_repeat", 4))
    if not 0 < tolerance < 0.5:
        raise _err(origin, f"targets.tolerance: expected 0 < tolerance < 0.5, got {tolerance}")
    if max_repeat < 1:
        raise _err(origin, f"targets.max_repeat: expected >= 1, got {max_repeat}")

    default_tasks = int(o.get("tasks", 1))
    plans = []
    for spec in manifest.sources:
        so = spec.options
        where = f"{origin}: source {spec.name!r}"
        for key in ("module", "group", "quality", "schema"):
            if not so.get(key):
                raise FFDataError(f"{where}: options.{key} is required")
        if so["schema"] not in SCHEMAS:
            raise FFDataError(f"{where}: options.schema {so['schema']!r} is not one of {SCHEMAS}")
        if so["group"] not in shares:
            raise FFDataError(
                f"{where}: group {so['group']!r} has no entry in targets.shares {sorted(shares)}"
            )
        if spec.weight is None and so["quality"] not in qweights:
            raise FFDataError(
                f"{where}: quality {so['quality']!r} is not in targets.quality_weights {sorted(qweights)}"
            )
        if (
            spec.loader == "hf"
            and spec.uri not in ("json", "parquet")
            and not _COMMIT.match(spec.revision or "")
        ):
            raise FFDataError(
                f"{where}: revision {spec.revision!r} is not a full (40-hex) commit sha; pin one "
                f"(huggingface_hub.HfApi().dataset_info({spec.uri!r}).sha) before a hub build"
            )
        if spec.loader not in ("jsonl", "parquet", "hf"):
            raise FFDataError(f"{where}: loader {spec.loader!r} (use jsonl, parquet or hf)")
        unknown = set(so) - {
            "module", "group", "quality", "schema", "tasks", "skip_filters", "load_kwargs", "streaming",
        }  # fmt: skip
        if unknown:
            raise FFDataError(f"{where}: unknown options {sorted(unknown)}")
        plans.append(
            SourcePlan(
                spec=spec,
                module=str(so["module"]),
                group=str(so["group"]),
                quality=str(so["quality"]),
                schema=so["schema"],
                weight=float(spec.weight if spec.weight is not None else qweights[so["quality"]]),
                tasks=int(so.get("tasks", default_tasks)),
                skip_filters=list(so.get("skip_filters", [])),
            )
        )
    if not plans:
        raise _err(origin, "no sources")
    for group in shares:
        members = [p for p in plans if p.group == group]
        if not members and shares[group] > 0:
            raise _err(origin, f"targets.shares: group {group!r} has a share but no source")
        wsum = sum(p.weight for p in members)
        for p in members:
            if wsum <= 0 and shares[group] > 0:
                raise _err(origin, f"group {group!r}: sampling weights sum to 0")
            # a group with share 0 (or a source with weight 0) gets no tokens: downsampled whole
            p.share = shares[group] * p.weight / wsum if wsum > 0 else 0.0
            p.target_tokens = round(total * p.share)

    filters = {}
    requested = {**DEFAULT_FILTERS, **(o.get("filters") or {})}
    if unknown := sorted(set(requested) - set(DEFAULT_FILTERS)):
        raise _err(
            origin, f"options.filters: unknown filters {unknown} (known: {sorted(DEFAULT_FILTERS)})"
        )
    for name in DEFAULT_FILTERS:  # fixed order: cheap repetition checks before the rest
        value = requested[name]
        if value is False or value is None:
            continue
        filters[name] = dict(value) if isinstance(value, dict) else {}
    for p in plans:
        if bad := sorted(set(p.skip_filters) - set(DEFAULT_FILTERS)):
            raise FFDataError(
                f"{origin}: source {p.name!r}: skip_filters names unknown filters {bad}"
            )

    dedup = {"exact": True, "url": True, "minhash": {}, "finder_workers": 1}
    dedup.update(o.get("dedup") or {})
    if unknown := sorted(set(dedup) - {"exact", "url", "minhash", "finder_workers"}):
        raise _err(origin, f"options.dedup: unknown keys {unknown}")

    known_options = {
        "tasks", "filters", "dedup", "tokens_per_shard", "tokenize_batch", "executor", "work_dir", "keep_work",
    }  # fmt: skip
    if unknown := sorted(set(o) - known_options):
        raise _err(origin, f"options: unknown keys {unknown} (known: {sorted(known_options)})")
    dec = manifest.decontamination
    return PretrainConfig(
        sources=plans,
        total_tokens=total,
        shares=shares,
        quality_weights=qweights,
        tolerance=tolerance,
        max_repeat=max_repeat,
        seed=manifest.seed,
        filters=filters,
        dedup=dedup,
        tokens_per_shard=int(o.get("tokens_per_shard", 100_000_000)),
        tokenize_batch=int(o.get("tokenize_batch", 256)),
        executor=_executor(o, origin),
        decontam_targets=list(dec.targets),
        decontam_action=dec.action,
        work_dir=o.get("work_dir"),
        keep_work=bool(o.get("keep_work", False)),
    )
