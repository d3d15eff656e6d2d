"""sft_shards_v2: six chat/instruction sources, cleaned, deduplicated, decontaminated, rendered
in the FF-LLM template and tokenized with response-only loss masks (stage 2 SFT).

Per row, in order: adapt (ffdata.adapters) -> source flags (language, toxic) -> empty turns ->
multi-turn rule -> refusal -> PII scrub -> exact duplicate -> near duplicate (MinHash on the
instruction) -> per-source cap (`count`, over_quota) -> decontamination -> tokenize and the
token limit. The first row wins every duplicate contest, in manifest source order. Batches of
rows go through decontamination and tokenization together.

Augmentation (part `aug`, block `augmentation`, source `augmentation`): a seeded fraction
(`options.augmentation.rate`) of kept core rows get one documented variant, chosen by hash:
- `final_answer_only`: rows whose answer ends in a number ("The answer is N." or \\boxed{N})
  are asked again with "Give only the final answer, as a number." and answered with just N;
- `system_prompt`: the same pair under another system prompt (from SYSTEM_VARIANTS), so the
  model does not lean on one exact system line.
Each variant row names its parent (`meta.parent_id`, `meta.parent_source`).
"""

import hashlib
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from ffdata.adapters import (
    Conversation,
    boxed,
    conversation_adapter,
    require_pinned,
    to_instruction_response,
)
from ffdata.cleaning import (
    ExactDedup,
    MinHashDedup,
    dedup_key,
    empty_turn,
    pii_mask,
    refusal,
    refusal_mask,
    scrub_pii,
)
from ffdata.errors import FFDataError
from ffdata.formats import final_number, is_numeric
from ffdata.manifest import SourceOptions, Strict
from ffdata.records import SYSTEM_PROMPT, make_record, render_alpaca
from ffdata.sft_tokenize import (
    SFT_SCHEMA,
    TemplateEncoder,
    Tokenized,
    check_options,
    fit,
    sft_table,
)

VERSION = "2"  # 2: the build record keeps the manifest's targets as written
SCHEMA = SFT_SCHEMA


class _MinHash(Strict):  # bounded: bands x rows permutations are allocated up front
    n_gram: Annotated[StrictInt, Field(gt=0, le=32)] = 5
    bands: Annotated[StrictInt, Field(gt=0, le=64)] = 8
    rows: Annotated[StrictInt, Field(gt=0, le=64)] = 8
    seed: StrictInt = 1


class _Augmentation(Strict):
    rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    variants: list[Literal["final_answer_only", "system_prompt"]] = [
        "final_answer_only",
        "system_prompt",
    ]


class Options(Strict):  # checked before the build (ffdata.manifest.check_builder_keys)
    max_tokens: Annotated[StrictInt, Field(gt=0, le=1_000_000)] = 1024
    overlength: Literal["drop", "truncate"] = "drop"
    pad_to: Annotated[StrictInt, Field(gt=0, le=1_000_000)] | None = None
    near_dedup: bool = True
    minhash: _MinHash = _MinHash()
    augmentation: _Augmentation | None = None


class Targets(Strict):  # notes for the audits, not asks: the hub sets' sizes drift
    scale: str = ""
    by_block: dict[str, Annotated[StrictInt, Field(ge=0)]] = {}


class SourceOpts(SourceOptions):
    english_only: bool = True  # drop rows the source labels as another language


TARGETS, OPTIONS, SOURCE_OPTIONS = Targets, Options, SourceOpts
BATCH = 2048
FINAL_ONLY_SUFFIX = "Give only the final answer, as a number."
FINAL_ONLY_JOIN = f"\n\n{FINAL_ONLY_SUFFIX}"  # appended to the parent's instruction
SYSTEM_VARIANTS = (
    "You are FF-LLM, a helpful assistant. Answer accurately and concisely.",
    "You are FF-LLM. Follow the user's instructions exactly.",
    "You are FF-LLM, an assistant that gives correct, well-organized answers.",
)


def _unit(*parts) -> float:
    """A deterministic number in [0, 1) from its parts: seeded choices without an RNG."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _source_flags(conv: Conversation, english_only: bool) -> str | None:
    if conv.problem:
        return conv.problem
    if english_only and conv.language is not None and conv.language not in ("English", "en"):
        return "non_english"
    if conv.toxic:
        return "toxic"
    if empty_turn(conv.messages):
        return "empty_turn"
    return None


def _final_answer(response: str) -> str | None:
    n = final_number(response) or boxed(response)
    return n if n and is_numeric(n) else None


class Pipeline:
    def __init__(self, ctx):
        self.ctx = ctx
        opts = ctx.manifest.options
        self.tok_args = {
            "max_tokens": int(opts.get("max_tokens", 1024)),
            "overlength": opts.get("overlength", "drop"),
            "pad_to": opts.get("pad_to"),
        }
        check_options(**self.tok_args)
        self.encoder = TemplateEncoder()
        self.exact = ExactDedup()
        self.near = (
            MinHashDedup(**opts.get("minhash", {})) if opts.get("near_dedup", True) else None
        )
        aug = opts.get("augmentation") or {}
        self.aug_rate = float(aug.get("rate", 0.0))
        self.aug_variants = list(aug.get("variants", ["final_answer_only", "system_prompt"]))
        unknown = set(self.aug_variants) - {"final_answer_only", "system_prompt"}
        if unknown:
            raise FFDataError(
                f"{ctx.manifest.name}: unknown augmentation variants {sorted(unknown)}"
            )
        self.caps = {s.name: s.count for s in ctx.manifest.sources}
        self.pending: list[dict] = []
        self.kept: dict[str, int] = {}
        self.aug_rows = 0

    # --- per row ----------------------------------------------------------------------------
    def row(self, spec, idx: int, row: dict, adapter, english_only: bool) -> None:
        ctx, name = self.ctx, spec.name
        if spec.count is not None and self.kept.get(name, 0) >= spec.count:
            ctx.drop(name, idx, "over_quota")  # cheap path once the cap is surely reached
            return
        conv = adapter(row, f"source {name!r} row {idx}")
        reason = _source_flags(conv, english_only)
        if reason is None:
            split = to_instruction_response(conv)
            if isinstance(split, str):
                reason = split
        if reason is not None:
            ctx.drop(name, idx, reason)
            return
        instruction, response, meta = split
        if conv.redacted:
            meta["source_redacted"] = True
        meta.update({f"source_{k}": v for k, v in conv.meta.items()})
        self.pending.append((spec, idx, instruction, response, meta))
        if len(self.pending) >= BATCH:
            self.flush()

    # --- per batch --------------------------------------------------------------------------
    def _clean(self, batch: list[tuple]) -> list[dict]:
        """Refusals, PII, exact and near duplicates for a batch, in row order: records left."""
        ctx = self.ctx
        refused = refusal_mask([b[3] for b in batch])
        maybe_pii = pii_mask([f"{b[2]}\n{b[3]}" for b in batch])
        rows = []
        for (spec, idx, instruction, response, meta), ref, pii in zip(
            batch, refused, maybe_pii, strict=True
        ):
            if ref and (hit := refusal(response)):
                ctx.drop(spec.name, idx, "refusal", hit)
                continue
            if pii:
                instruction, pii_i = scrub_pii(instruction)
                response, pii_r = scrub_pii(response)
                found = {k: pii_i.get(k, 0) + pii_r.get(k, 0) for k in sorted({*pii_i, *pii_r})}
                if found:
                    meta["pii_scrubbed"] = found
            if self.exact.is_duplicate(dedup_key(instruction, response)):
                ctx.drop(spec.name, idx, "duplicate")
                continue
            rows.append((spec, idx, instruction, response, meta))
        if self.near is not None and rows:
            near = self.near.near_duplicates([r[2] for r in rows]).tolist()
            for r, dup in zip(rows, near, strict=True):
                if dup:
                    ctx.drop(r[0].name, r[1], "near_duplicate")
            rows = [r for r, dup in zip(rows, near, strict=True) if not dup]
        return [
            make_record(
                set_name=ctx.set_name,
                block="core",
                source=spec.name,
                source_row=idx,
                seed=ctx.seed,
                instruction=instruction,
                response=response,
                format="free",
                category=spec.adapter or spec.name,
                meta=meta,
            )
            for spec, idx, instruction, response, meta in rows
        ]

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return
        ctx = self.ctx
        batch = self._clean(batch)
        batch = [r for r, keep in zip(batch, ctx.keep_batch(batch), strict=True) if keep]
        core, core_toks, parents = [], [], []
        for rec in batch:
            tok, ids = self._tokenize(rec)
            cap = self.caps[rec["source"]]
            if tok.prompt_ids is None:
                ctx.drop(rec["source"], rec["source_row"], tok.reason, f"{tok.n_tokens} tokens")
            elif cap is not None and self.kept.get(rec["source"], 0) >= cap:
                ctx.drop(rec["source"], rec["source_row"], "over_quota")
            else:
                self.kept[rec["source"]] = self.kept.get(rec["source"], 0) + 1
                if tok.truncated:  # the stored text is what the ids say
                    rec["response"] = tok.response
                    rec["text"] = render_alpaca(rec["instruction"], tok.response, rec["system"])
                core.append(rec)
                core_toks.append(tok)
                parents.append((rec, ids))
        variants, variant_toks = [], []
        for parent, ids in parents:
            rec = self._augment(parent)
            if rec is None:
                continue
            ctx.generated(rec["source"], pool=rec["category"])  # an input like a row read
            tok = self._tokenize_variant(rec, parent, ids)
            if tok.prompt_ids is not None:  # a variant is never longer than its parent... almost
                variants.append(rec)
                variant_toks.append(tok)
            else:
                detail = f"{rec['category']} variant of {parent['id']}: {tok.n_tokens} tokens"
                ctx.drop(rec["source"], rec["source_row"], tok.reason, detail)
        self.aug_rows += len(variants)
        # whole tables per batch: Arrow columns from flat arrays, not row by row
        if core:
            ctx.emit_table("core", sft_table(core, core_toks))
        if variants:
            ctx.emit_table("aug", sft_table(variants, variant_toks))

    def _tokenize(self, rec: dict) -> tuple[Tokenized, tuple]:
        """The row's tokens, and (instruction ids, response ids) for its variant to reuse."""
        p_ids, i_ids = self.encoder.prompt(rec["instruction"], rec["system"])
        r_ids = self.encoder.text(rec["response"])
        tok = fit(p_ids, r_ids, **self.tok_args)
        return tok, (i_ids, None if tok.truncated else r_ids)

    def _tokenize_variant(self, rec: dict, parent: dict, ids: tuple) -> Tokenized:
        """A variant shares its parent's text (see _augment): encode only what is new."""
        i_ids, r_ids = ids
        if rec["category"] == "final_answer_only":  # instruction + FINAL_ONLY_JOIN, new answer
            if i_ids is not None:
                i_ids = self.encoder.extend(parent["instruction"], i_ids, FINAL_ONLY_JOIN)
            r_ids = None
        if r_ids is None:
            r_ids = self.encoder.text(rec["response"])
        p_ids, _ = self.encoder.prompt(rec["instruction"], rec["system"], i_ids)
        return fit(p_ids, r_ids, **self.tok_args)

    def _augment(self, parent: dict) -> dict | None:
        seed = self.ctx.seed
        if not self.aug_rate or _unit(seed, "aug", parent["id"]) >= self.aug_rate:
            return None
        choices = list(self.aug_variants)
        final = _final_answer(parent["response"])
        if final is None and "final_answer_only" in choices:
            choices.remove("final_answer_only")
        if not choices:
            return None
        variant = choices[int(_unit(seed, "variant", parent["id"]) * len(choices))]
        instruction, response, system = parent["instruction"], parent["response"], SYSTEM_PROMPT
        if variant == "final_answer_only":
            instruction, response = instruction + FINAL_ONLY_JOIN, final
        else:
            system = SYSTEM_VARIANTS[
                int(_unit(seed, "system", parent["id"]) * len(SYSTEM_VARIANTS))
            ]
        return make_record(
            set_name=self.ctx.set_name,
            block="augmentation",
            source="augmentation",
            source_row=parent["source_row"],
            seed=f"{seed}|{parent['source']}|{variant}",
            instruction=instruction,
            response=response,
            format="numeric" if variant == "final_answer_only" else "free",
            category=variant,
            meta={"parent_id": parent["id"], "parent_source": parent["source"], "variant": variant},
            system=system,
        )


def build(ctx) -> None:
    require_pinned(ctx.manifest)
    pipe = Pipeline(ctx)
    for spec in ctx.manifest.sources:
        adapter = conversation_adapter(spec.adapter or spec.name)
        english_only = bool(spec.options.get("english_only", True))
        for idx, row in ctx.progress(ctx.read_source(spec.name), spec.name):
            pipe.row(spec, idx, row, adapter, english_only)
        pipe.flush()  # caps are settled per source before the next one starts
    ctx.set_targets(
        {
            **ctx.manifest.targets,
            "caps": {s.name: s.count for s in ctx.manifest.sources if s.count is not None},
            "max_tokens": pipe.tok_args["max_tokens"],
            "overlength": pipe.tok_args["overlength"],
            "augmentation_rate": pipe.aug_rate,
        }  # the manifest's own targets (e.g. by_block.core) stay as written: audits compare them
    )
