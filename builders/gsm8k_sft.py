"""GSM8K train rendered in the Alpaca-style template: a small real SFT set.

The answer keeps GSM8K's worked solution; calculator annotations (<<48/2=24>>) are removed and
the final `#### N` line becomes "The answer is N."
"""

import re

from ffdata.errors import FFDataError
from ffdata.manifest import PositiveCount, SourceOptions, Strict
from ffdata.records import make_record

VERSION = "1"


class Targets(Strict):
    rows: PositiveCount | None = None  # the rows the set holds; a build short of them fails

    def rows_asked(self) -> int | None:
        return self.rows


TARGETS = Targets  # checked by ffdata.manifest.check_builder_keys / check_shortfall
SOURCE_OPTIONS = SourceOptions

_CALC = re.compile(r"<<[^>]*>>")
_FINAL = re.compile(r"\n#### (.+)$")


def clean_solution(answer: str) -> tuple[str, str]:
    match = _FINAL.search(answer)
    if not match:
        raise ValueError("no '#### <answer>' line")
    steps = _CALC.sub("", answer[: match.start()]).strip()
    final = match.group(1).strip().replace(",", "")
    return f"{steps}\nThe answer is {final}.", final


BATCH = 256  # records decontaminated per vectorized scan (ctx.keep_batch)


def build(ctx) -> None:
    limit = ctx.manifest.targets.get("rows")
    kept, pending = 0, []

    def flush():
        nonlocal kept
        for rec, keep in zip(pending, ctx.keep_batch(pending), strict=True):
            if keep:
                ctx.emit("train", rec)
                kept += 1
        pending.clear()

    for idx, row in ctx.progress(ctx.read_source("gsm8k_train"), "gsm8k_train"):
        if limit is not None and kept + len(pending) >= limit:
            flush()  # never check more rows than the quota still needs: the rest are over quota
        if limit is not None and kept >= limit:
            ctx.drop("gsm8k_train", idx, "over_quota")
            continue
        for field in ("question", "answer"):
            if not isinstance(row.get(field), str) or not row[field].strip():
                raise FFDataError(f"gsm8k_train row {idx}: field {field!r} missing or empty")
        try:
            response, final = clean_solution(row["answer"])
        except ValueError as e:
            ctx.drop("gsm8k_train", idx, "malformed", str(e))
            continue
        rec = make_record(
            set_name=ctx.set_name,
            block="gsm8k",
            source="gsm8k_train",
            source_row=idx,
            seed=ctx.seed,
            instruction=row["question"].strip(),
            response=response,
            format="free",
            category="math_word_problem",
            meta={"final_answer": final},
        )
        pending.append(rec)
        if len(pending) >= BATCH:
            flush()
    flush()
