"""dpo_v1: WizardLM / Alpaca preference pairs (a rejected experiment in the model card, kept
reproducible). Also home of the preference-pair pipeline dpo_v2 reuses.

Per row: adapt (ffdata.adapters pair adapters) -> `empty_turn` (empty prompt or answer) ->
`identical_pair` (chosen == rejected after normalization) -> `not_preferred` (scores given and
chosen <= rejected: ties teach nothing) -> `duplicate` (same normalized prompt as an earlier
row; the first wins) -> `too_long` (prompt + the longer answer + EOT over max_tokens after
templating) -> decontamination (manifest fields, default instruction + chosen). Kept pairs carry
the rendered template prompt (`prompt`, ffdata.records.render_prompt) ready for a DPO trainer.
"""

import json

import pyarrow as pa

from ffdata.adapters import pair_adapter, require_pinned
from ffdata.cleaning import ExactDedup, dedup_key, normalize
from ffdata.manifest import Count, PositiveCount, SourceOptions, Strict
from ffdata.records import SYSTEM_PROMPT, record_id, render_prompt
from ffdata.tokenizer import tiktoken_encoding

VERSION = "1"
PAIR_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("set", pa.string()),
        ("source", pa.string()),
        ("source_row", pa.int64()),
        ("system", pa.string()),
        ("instruction", pa.string()),
        ("prompt", pa.string()),  # the rendered template up to and including "### Response:\n"
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("score_chosen", pa.float64()),
        ("score_rejected", pa.float64()),
        ("prompt_tokens", pa.int32()),
        ("chosen_tokens", pa.int32()),  # answer tokens + EOT
        ("rejected_tokens", pa.int32()),
        ("meta", pa.string()),
    ]
)
SCHEMA = PAIR_SCHEMA
BATCH = 2048


class Targets(Strict):
    scale: str = ""  # a note on the offline fixture's size
    expected_rows: Count | None = None  # the pairs a full build must hold (check_shortfall)

    def rows_asked(self) -> int | None:
        return self.expected_rows


class Options(Strict):
    max_tokens: PositiveCount = 1024


TARGETS, OPTIONS = Targets, Options  # checked by ffdata.manifest.check_builder_keys
SOURCE_OPTIONS = SourceOptions


def build_pairs(ctx) -> None:
    require_pinned(ctx.manifest)
    max_tokens = int(ctx.manifest.options.get("max_tokens", 1024))
    enc = tiktoken_encoding().encode_ordinary
    prompts_seen = ExactDedup()
    pending: list[dict] = []

    def flush():
        batch = [r for r, keep in zip(pending, ctx.keep_batch(pending), strict=True) if keep]
        pending.clear()
        for rec in batch:
            n_p, n_c, n_r = (len(enc(rec[k])) for k in ("prompt", "chosen", "rejected"))
            longest = n_p + max(n_c, n_r) + 1
            if longest > max_tokens:
                ctx.drop(rec["source"], rec["source_row"], "too_long", f"{longest} tokens")
                continue
            rec.update(prompt_tokens=n_p, chosen_tokens=n_c + 1, rejected_tokens=n_r + 1)
            ctx.emit("train", rec)

    for spec in ctx.manifest.sources:
        adapt = pair_adapter(spec.adapter or spec.name)
        for idx, row in ctx.progress(ctx.read_source(spec.name), spec.name):
            pair = adapt(row, f"source {spec.name!r} row {idx}")
            instruction, chosen, rejected = (
                pair.instruction.strip(),
                pair.chosen.strip(),
                pair.rejected.strip(),
            )
            if not (instruction and chosen and rejected):  # or malformed: the adapter says
                ctx.drop(spec.name, idx, pair.meta.get("problem", "empty_turn"))
                continue
            if normalize(chosen) == normalize(rejected):
                ctx.drop(spec.name, idx, "identical_pair")
                continue
            if (
                pair.score_chosen is not None
                and pair.score_rejected is not None
                and pair.score_chosen <= pair.score_rejected
            ):
                detail = f"{pair.score_chosen} <= {pair.score_rejected}"
                ctx.drop(spec.name, idx, "not_preferred", detail)
                continue
            if prompts_seen.is_duplicate(dedup_key(instruction, "")):
                ctx.drop(spec.name, idx, "duplicate")
                continue
            pending.append(
                {
                    "id": record_id(spec.name, idx, ctx.seed),
                    "set": ctx.set_name,
                    "source": spec.name,
                    "source_row": idx,
                    "system": SYSTEM_PROMPT,
                    "instruction": instruction,
                    "prompt": render_prompt(instruction),
                    "chosen": chosen,
                    "rejected": rejected,
                    "score_chosen": pair.score_chosen,
                    "score_rejected": pair.score_rejected,
                    "meta": json.dumps(pair.meta, sort_keys=True, ensure_ascii=False),
                }
            )
            if len(pending) >= BATCH:
                flush()
        flush()
    targets = dict(ctx.manifest.targets)
    targets["max_tokens"] = max_tokens
    ctx.set_targets(targets)


def build(ctx) -> None:
    build_pairs(ctx)
