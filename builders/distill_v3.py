"""distill_v3: questions drawn by source shares, answered by a teacher (stage 4 distillation).

Shares (`targets.shares`) are turned into exact counts of `targets.total` by largest-remainder
rounding (ties go to the share listed first), so the counts sum exactly. Every manifest source
names the share it serves (`options.share`, default its adapter name); a share may be served by
several sources (ARC Easy + Challenge). Train splits only: the question adapters refuse
unlabelled rows, and decontamination removes anything matching the scored eval splits.

A share that cannot fill its count is an error, unless `targets.fallbacks.<share>` names another
share (`to`) and a `reason`: the shortfall moves there, and the build record lists every move
(`targets.fallbacks_applied`). The default manifests use this for TruthfulQA: it is an eval set
(817 validation questions, no train split), so its 1% goes to OpenHermes, as the manifest says.

Per share, candidates (adapted, non-empty, not duplicated, not contaminated) are ordered by a
seeded hash and the first `count` are taken; the rest are `over_quota`. The teacher answers the
chosen questions (ffdata.teacher: cached, resumable); an empty answer drops the question as
`teacher_empty` and the next candidate takes its place, so counts stay exact while candidates
last.
"""

import json
from typing import Annotated, Any

from pydantic import Field

from ffdata.adapters import question_adapter, require_pinned
from ffdata.cleaning import ExactDedup, dedup_key
from ffdata.errors import FFDataError
from ffdata.hashing import stable_hash as _h
from ffdata.manifest import PositiveCount, SourceOptions, Strict
from ffdata.records import make_record
from ffdata.teacher import answer_all, make_teacher

VERSION = "1"


class _Fallback(Strict):
    to: str
    reason: str


class Targets(Strict):  # checked before the build (ffdata.manifest.check_builder_keys)
    total: PositiveCount
    shares: dict[str, Annotated[float, Field(ge=0, le=1)]]
    fallbacks: dict[str, _Fallback] = {}

    def rows_asked(self) -> int:  # a set short of `total` is refused (check_shortfall)
        return self.total


class Options(Strict):
    teacher: dict[str, Any] = {"backend": "reference"}  # ffdata.teacher checks its keys


class SourceOpts(SourceOptions):
    share: str | None = None  # the share the source serves (default: its adapter's name)


TARGETS, OPTIONS, SOURCE_OPTIONS = Targets, Options, SourceOpts


def largest_remainder(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer counts proportional to weights that sum exactly to total; ties in the remainder
    go to the key listed first."""
    s = sum(weights.values())
    if s <= 0:
        raise FFDataError("largest_remainder: the weights must have a positive sum")
    raw = {k: total * w / s for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    keys = list(weights)
    order = sorted(keys, key=lambda k: (-(raw[k] - counts[k]), keys.index(k)))
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def resolve_quotas(
    quotas: dict[str, int], available: dict[str, int], fallbacks: dict[str, dict], name: str
) -> tuple[dict[str, int], list[dict]]:
    """Move each shortfall to the share's named fallback; error where none is named."""
    final, moves = dict(quotas), []
    for _ in range(len(final) + 1):
        short = {s: final[s] - available.get(s, 0) for s in final if final[s] > available.get(s, 0)}
        if not short:
            return final, moves
        for share, missing in short.items():
            fb = fallbacks.get(share)
            if not fb:
                raise FFDataError(
                    f"{name}: share {share!r} has {available.get(share, 0)} usable questions for "
                    f"a quota of {final[share]}, and targets.fallbacks names no fallback for it"
                )
            if fb.get("to") not in final or not fb.get("reason"):
                raise FFDataError(
                    f"{name}: targets.fallbacks.{share} needs 'to' (one of {sorted(final)}) "
                    "and a 'reason'"
                )
            final[share] -= missing
            final[fb["to"]] += missing
            moves.append({"from": share, "to": fb["to"], "count": missing, "reason": fb["reason"]})
    raise FFDataError(f"{name}: fallbacks form a cycle without enough questions: {moves}")


def build(ctx) -> None:
    require_pinned(ctx.manifest)
    t = ctx.manifest.targets
    shares = {k: float(v) for k, v in t["shares"].items()}
    # The card's rounded percentages sum to 101%: shares are normalized by their sum, and a sum
    # further than 2% from 1 is taken for a typo.
    if abs(sum(shares.values()) - 1.0) > 0.02:
        raise FFDataError(
            f"{ctx.manifest.name}: targets.shares sum to {sum(shares.values())}, not ~1"
        )
    total = int(t["total"])
    quotas = largest_remainder(total, shares)

    # 1. candidates per share
    seen = ExactDedup()
    cands: dict[str, list[tuple[dict, object]]] = {s: [] for s in shares}
    for spec in ctx.manifest.sources:
        share = spec.options.get("share", spec.adapter or spec.name)
        if share not in shares:
            raise FFDataError(f"source {spec.name!r} serves share {share!r}, not in targets.shares")
        adapt = question_adapter(spec.adapter or share)
        for idx, row in ctx.progress(ctx.read_source(spec.name), spec.name):
            q = adapt(row, f"source {spec.name!r} row {idx}")
            if not q.text.strip():
                ctx.drop(spec.name, idx, q.meta.get("problem", "empty_turn"))
                continue
            if seen.is_duplicate(dedup_key(q.text, "")):
                ctx.drop(spec.name, idx, "duplicate")
                continue
            rec = make_record(
                set_name=ctx.set_name,
                block=share,
                source=spec.name,
                source_row=idx,
                seed=ctx.seed,
                instruction=q.text.strip(),
                response="",
                format="free",
                category=q.category,
                meta={},
            )
            cands[share].append((rec, q))
    for share in shares:  # decontaminate the questions before any quota is filled
        keep = ctx.keep_batch([r for r, _ in cands[share]])
        cands[share] = [c for c, k in zip(cands[share], keep, strict=True) if k]

    # 2. exact counts, with named fallbacks for shares that cannot fill theirs
    available = {s: len(c) for s, c in cands.items()}
    final, moves = resolve_quotas(quotas, available, t.get("fallbacks", {}), ctx.manifest.name)

    # 3. seeded order; the teacher answers the first `count`, refilling after empty answers
    cfg = dict(ctx.manifest.options.get("teacher", {"backend": "reference"}))
    teacher = (
        None if cfg.get("backend", "reference") == "reference" else make_teacher(cfg, ctx.base_dir)
    )
    cache_dir = ctx.base_dir / cfg.get("cache_dir", "artifacts/teacher_cache")
    teacher_stats = {"teacher": "reference", "asked": 0, "cache_hits": 0}
    for share in shares:
        queue = sorted(
            cands[share], key=lambda c: _h(ctx.seed, share, c[0]["source"], c[0]["source_row"])
        )
        kept, pos = 0, 0
        while kept < final[share] and pos < len(queue):
            chunk = queue[pos : pos + final[share] - kept]
            pos += len(chunk)
            if teacher is None:
                answers = [q.meta.get("solution") or q.gold for _, q in chunk]
            else:
                answers, stats = answer_all(
                    [r["instruction"] for r, _ in chunk], teacher, cache_dir
                )
                teacher_stats = {
                    "teacher": stats["teacher"],
                    "decoding": stats["decoding"],
                    "asked": teacher_stats["asked"] + stats["asked"],
                    "cache_hits": teacher_stats["cache_hits"] + stats["cache_hits"],
                }
            for (rec, q), answer in zip(chunk, answers, strict=True):
                if not answer.strip():
                    ctx.drop(rec["source"], rec["source_row"], "teacher_empty")
                    continue
                rec["response"] = answer.strip()
                rec["text"] = rec["text"] + rec["response"]  # the template ends at the header
                rec["meta"] = json.dumps(
                    {
                        "gold": q.gold,
                        "gold_format": q.format,
                        "teacher": teacher_stats["teacher"],
                        **{k: v for k, v in q.meta.items() if k != "solution"},
                    },
                    sort_keys=True,
                    ensure_ascii=False,
                )
                ctx.emit(share, rec)
                kept += 1
        if kept < final[share]:
            raise FFDataError(
                f"{ctx.manifest.name}: share {share!r} ran out of questions after empty teacher "
                f"answers ({kept} of {final[share]})"
            )
        for rec, _ in queue[pos:]:
            ctx.drop(rec["source"], rec["source_row"], "over_quota")
    ctx.set_targets(
        {
            "total": total,
            "shares": shares,
            "shares_sum": round(sum(shares.values()), 6),
            "quotas": quotas,
            "final_counts": final,
            "available": available,
            "fallbacks_applied": moves,
            "teacher": teacher_stats,
        }
    )
