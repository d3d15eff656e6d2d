"""sft_shards_v2: six chat/instruction sources, cleaned, deduplicated, decontaminated, rendered
in the FF-LLM template and tokenized with response-only loss masks (stage 2 SFT).

Per row, in order: per-source cap (`count`: once that many rows of the source are kept, its
later rows are over_quota and go through no other check, so they enter no duplicate index) ->
adapt (ffdata.adapters) -> source flags (language, toxic) -> empty turns -> multi-turn rule ->
refusal -> PII scrub -> exact duplicate -> near duplicate (MinHash on the instruction) ->
decontamination -> tokenize and the token limit. A row screened out as it is read (hostile
text, too large, too deep) is dropped as such, past the cap too. The first row wins every
duplicate contest, in manifest source order. Rows are decided in batches (decontamination and
tokenization are vectorized), with the outcome of deciding them one by one: no row's fate, nor
the order of _dropped.parquet (each source's rows in row order), depends on the batch size.

`--workers N` (ffdata.workers): every step that looks at one row alone runs on chunks of rows in
N processes (`Pipeline.prepare`: adapt, flags, refusal, PII, dedup keys and MinHash band keys,
the decontamination scan, tokenization, the augmentation variant); the parent reads the rows
and takes every decision that depends on other rows, in row order (`Pipeline.replay`, `flush`:
duplicates, caps, drops, what is kept). The set is byte-identical for any N.

Augmentation (part `aug`, block `augmentation`, source `augmentation`): a seeded fraction
(`options.augmentation.rate`) of kept core rows get one documented variant, chosen by hash:
- `final_answer_only`: rows whose answer ends in a number ("The answer is N." or \\boxed{N})
  are asked again with "Give only the final answer, as a number." and answered with just N;
- `system_prompt`: the same pair under another system prompt (from SYSTEM_VARIANTS), so the
  model does not lean on one exact system line.
Each variant row names its parent (`meta.parent_id`, `meta.parent_source`).
"""

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
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
from ffdata.hashing import stable_hash
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
from ffdata.workers import OrderedPool, read_chunks, replayed, warm, worker_count

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
# Rows decided together (dedup, decontamination, caps); any size gives the same set. Small, so
# that each full row group is written while the workers still have chunks to do: with 2,048, a
# build's last ~2,000 rows and their row group were decided after the last chunk, on one core.
BATCH = 256
CHUNK = 256  # rows per piece of work handed to a worker (any size gives the same set)
FINAL_ONLY_SUFFIX = "Give only the final answer, as a number."
FINAL_ONLY_JOIN = f"\n\n{FINAL_ONLY_SUFFIX}"  # appended to the parent's instruction
KEPT = "kept"  # a row's verdict when it is not dropped
DROP, QUARANTINED, ERROR = "drop", "quarantined", "error"  # pending rows not prepared as ok
SYSTEM_VARIANTS = (
    "You are FF-LLM, a helpful assistant. Answer accurately and concisely.",
    "You are FF-LLM. Follow the user's instructions exactly.",
    "You are FF-LLM, an assistant that gives correct, well-organized answers.",
)


def _unit(*parts) -> float:
    """A deterministic number in [0, 1) from its parts: seeded choices without an RNG."""
    return stable_hash(*parts) / 2**64


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


def _adapt(spec, idx: int, row: dict, adapter, english_only: bool) -> tuple | str:
    """(instruction, response, meta) of a source row, or why it is dropped."""
    conv = adapter(row, f"source {spec.name!r} row {idx}")
    reason = _source_flags(conv, english_only)
    if reason is not None:
        return reason
    split = to_instruction_response(conv)
    if isinstance(split, str):
        return split
    instruction, response, meta = split
    if conv.redacted:
        meta["source_redacted"] = True
    meta.update({f"source_{k}": v for k, v in conv.meta.items()})
    return instruction, response, meta


def _take(parts: list[tuple[pa.Table, int]]) -> pa.Table:
    """The rows (table, row) in order, as one table of slices: consecutive rows of one table
    are one zero-copy slice (most rows are kept), and the writer combines them."""
    runs: list[list] = []  # [table, first row, rows]
    for table, row in parts:
        last = runs[-1] if runs else None
        if last is not None and last[0] is table and last[1] + last[2] == row:
            last[2] += 1
        else:
            runs.append([table, row, 1])
    return pa.concat_tables([t.slice(first, n) for t, first, n in runs])


@dataclass
class Prepared:
    """A chunk of one source's rows after the steps that look at one row alone (adapt, source
    flags, multi-turn rule, refusal, PII, dedup keys, decontamination scan, tokenization,
    augmentation), done in any process. Everything that depends on other rows (duplicates,
    caps, what is kept) is decided from it in the parent (Pipeline.replay)."""

    name: str
    rows: list  # per row: None (not worked: over its cap), ("error"|"drop", text), or ok row j
    refusal: list  # per ok row j: the refusal phrase found, or None
    keys: list  # exact-duplicate keys
    bands: object  # MinHash band keys (ok rows x bands) or None
    matches: list  # decontamination Match or None
    fits: list  # (too-long reason or "", n_tokens)
    table_row: list  # row of `table` holding ok row j, or -1
    table: object  # SFT_SCHEMA rows of the ok rows that fit, in order
    variants: list  # None or (category, parent id, reason or "", n_tokens, row of `aug` or -1)
    aug: object  # SFT_SCHEMA rows of the variants that fit


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
        # one source's rows awaiting their batch: (source row, Prepared, ok row j), or (source
        # row, DROP | QUARANTINED, (reason, detail)), or (source row, ERROR, its error line)
        self.pending: list[tuple] = []
        self.source = ""
        self.kept = {s.name: 0 for s in ctx.manifest.sources}  # rows kept, by source
        self.aug_rows = 0

    # --- per row, in the parent ---------------------------------------------------------------
    def over_cap(self, spec) -> bool:
        return spec.count is not None and self.kept[spec.name] >= spec.count

    def replay(self, spec, chunk: list, prep: Prepared) -> None:
        """The decisions one process would take row by row, from a chunk's prepared rows. Every
        row waits in `pending` for its batch, dropped ones too, so that a row's fate and its
        place in _dropped.parquet (a source's rows in row order) do not depend on the batches."""
        self.source = name = spec.name

        def quarantined(idx, reason, detail):  # screened as read: stays so past the cap too
            self.pending.append((idx, QUARANTINED, (reason, detail)))

        for idx, work in replayed(self.ctx, name, chunk, prep.rows, drop=quarantined):
            if self.over_cap(spec):
                self.pending.append((idx, DROP, ("over_quota", "")))  # the cap surely reached
            elif work is None:
                raise FFDataError(f"builder error: {name} row {idx} was not prepared")
            elif isinstance(work, tuple):
                kind, text = work
                if kind == "error":  # raised in its turn, unless the cap comes first
                    self.pending.append((idx, ERROR, text))
                else:
                    self.pending.append((idx, DROP, (text, "")))
            else:
                self.pending.append((idx, prep, work))
            if len(self.pending) >= BATCH:
                self.flush()

    # --- per chunk, in any process ------------------------------------------------------------
    def prepare(self, chunk: tuple) -> Prepared:
        name, work = chunk
        spec = self.ctx.manifest.source(name)
        adapter = conversation_adapter(spec.adapter or spec.name)
        english_only = bool(spec.options.get("english_only", True))
        rows, ok = [], []
        for idx, row in work:
            if row is None:
                rows.append(None)
                continue
            try:
                found = _adapt(spec, idx, row, adapter, english_only)
            except FFDataError as e:  # raised by replay, where one process would raise it
                rows.append(("error", str(e)))
                continue
            if isinstance(found, str):
                rows.append(("drop", found))
                continue
            rows.append(len(ok))
            ok.append((idx, *found))
        return self._prepare_ok(Prepared(name, rows, *([None] * 9)), spec, ok)

    def _prepare_ok(self, prep: Prepared, spec, ok: list) -> Prepared:
        refused = refusal_mask([r[2] for r in ok]) if ok else []
        maybe_pii = pii_mask([f"{r[1]}\n{r[2]}" for r in ok]) if ok else []
        prep.refusal, prep.keys, records = [], [], []
        for (idx, instruction, response, meta), ref, pii in zip(
            ok, refused, maybe_pii, strict=True
        ):
            hit = refusal(response) if ref else None
            prep.refusal.append(hit)
            if hit:  # refused rows go no further
                prep.keys.append(None)
                records.append(None)
                continue
            if pii:
                instruction, pii_i = scrub_pii(instruction)
                response, pii_r = scrub_pii(response)
                found = {k: pii_i.get(k, 0) + pii_r.get(k, 0) for k in sorted({*pii_i, *pii_r})}
                if found:
                    meta["pii_scrubbed"] = found
            prep.keys.append(dedup_key(instruction, response))
            records.append(
                make_record(
                    set_name=self.ctx.set_name,
                    block="core",
                    source=spec.name,
                    source_row=idx,
                    seed=self.ctx.seed,
                    instruction=instruction,
                    response=response,
                    format="free",
                    category=spec.adapter or spec.name,
                    meta=meta,
                )
            )
        live = [r for r in records if r is not None]
        if self.near is not None and live:  # a row per ok row (refused ones stay zero)
            prep.bands = np.zeros((len(records), self.near.bands), np.int64)
            at = [j for j, r in enumerate(records) if r is not None]
            prep.bands[at] = self.near.keys([r["instruction"] for r in live])
        found = iter(self.ctx.find_contamination(live))
        prep.matches = [None if r is None else next(found) for r in records]
        prep.fits, prep.table_row, prep.variants = [], [], []
        core, core_toks, variants, variant_toks = [], [], [], []
        for rec in records:
            if rec is None:
                prep.fits.append(None)
                prep.table_row.append(-1)
                prep.variants.append(None)
                continue
            tok, ids = self._tokenize(rec)
            prep.fits.append((tok.reason, tok.n_tokens))
            if tok.prompt_ids is None:
                prep.table_row.append(-1)
                prep.variants.append(None)
                continue
            if tok.truncated:  # the stored text is what the ids say
                rec["response"] = tok.response
                rec["text"] = render_alpaca(rec["instruction"], tok.response, rec["system"])
            prep.table_row.append(len(core))
            core.append(rec)
            core_toks.append(tok)
            variant = self._augment(rec)
            if variant is None:
                prep.variants.append(None)
                continue
            vtok = self._tokenize_variant(variant, rec, ids)
            at = -1
            if vtok.prompt_ids is not None:  # a variant is never longer than its parent... almost
                at = len(variants)
                variants.append(variant)
                variant_toks.append(vtok)
            prep.variants.append((variant["category"], rec["id"], vtok.reason, vtok.n_tokens, at))
        prep.table = sft_table(core, core_toks)
        prep.aug = sft_table(variants, variant_toks)
        return prep

    # --- per batch, in the parent -------------------------------------------------------------
    def flush(self) -> None:
        """Decide the pending rows (one source's, in row order) as one process would row by row,
        then drop and keep them in that order."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        ctx, name = self.ctx, self.source
        verdicts: list = [x if kind in (DROP, QUARANTINED) else None for _, kind, x in batch]
        todo = [at for at, (_, kind, _) in enumerate(batch) if isinstance(kind, Prepared)]
        # The cap comes first: once `count` rows are kept, later rows are over quota and go
        # through no other check (they enter no duplicate index). Decided `room` rows at a
        # time, so that a batch never keeps past the cap, whatever its size.
        cap = self.caps[name]
        while todo and (room := len(todo) if cap is None else cap - self.kept[name]) > 0:
            self._decide(batch, todo[:room], verdicts)
            todo = todo[room:]
        if cap is not None and self.kept[name] >= cap:
            # the last row kept filled the cap (-1: it was full before this batch)
            filled = max((at for at, v in enumerate(verdicts) if v is KEPT), default=-1)
            for at in range(filled + 1, len(batch)):
                if batch[at][1] is not QUARANTINED:
                    verdicts[at] = ("over_quota", "")
        core, variants = [], []
        for (idx, prep, j), verdict in zip(batch, verdicts, strict=True):
            if verdict is None:  # an error row before the cap
                raise FFDataError(j)
            if verdict is not KEPT:
                ctx.drop(name, idx, *verdict)
                continue
            core.append((prep.table, prep.table_row[j]))
            if prep.variants[j] is None:
                continue
            category, parent_id, reason, n_tokens, at = prep.variants[j]
            ctx.generated("augmentation", pool=category)  # an input like a row read
            if at >= 0:
                variants.append((prep.aug, at))
            else:
                detail = f"{category} variant of {parent_id}: {n_tokens} tokens"
                ctx.drop("augmentation", idx, reason, detail)
        self.aug_rows += len(variants)
        # whole tables per batch, taken from the chunks' tables: no row-by-row Arrow
        if core:
            ctx.emit_table("core", _take(core))
        if variants:
            ctx.emit_table("aug", _take(variants))

    def _decide(self, batch: list, ats: list[int], verdicts: list) -> None:
        """Verdicts of rows batch[at] that all come before their source's cap: refusal, exact
        and near duplicate, contamination, the token limit, else KEPT (counted)."""
        name, live = self.source, []
        for at in ats:
            _, p, j = batch[at]
            if p.refusal[j]:
                verdicts[at] = ("refusal", p.refusal[j])
            elif self.exact.is_duplicate(p.keys[j]):
                verdicts[at] = ("duplicate", "")
            else:
                live.append(at)
        if self.near is not None and live:
            bands = np.stack([batch[at][1].bands[batch[at][2]] for at in live])
            near = self.near.near_duplicates_of(bands).tolist()
            for at, dup in zip(live, near, strict=True):
                if dup:
                    verdicts[at] = ("near_duplicate", "")
            live = [at for at, dup in zip(live, near, strict=True) if not dup]
        refs = [{"source": name, "source_row": batch[at][0]} for at in live]
        found = self.ctx.contamination(refs, [batch[at][1].matches[batch[at][2]] for at in live])
        for at, hit in zip(live, found, strict=True):
            _, p, j = batch[at]
            reason, n_tokens = p.fits[j]
            if hit is not None:
                verdicts[at] = hit
            elif reason:
                verdicts[at] = (reason, f"{n_tokens} tokens")
            else:
                verdicts[at] = KEPT
                self.kept[name] += 1

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
    warm(ctx)  # before the workers fork
    with OrderedPool(pipe.prepare, worker_count()) as pool:
        for spec in ctx.manifest.sources:
            rows = ctx.progress(ctx.read_source(spec.name, yield_quarantined=True), spec.name)
            chunks = read_chunks(rows, CHUNK, lambda spec=spec: pipe.over_cap(spec))
            for chunk, prep in pool.map((c, (spec.name, work)) for c, work in chunks):
                pipe.replay(spec, chunk, prep)
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
