"""GSM8K train rendered in the Alpaca-style template: a small real SFT set.

The answer keeps GSM8K's worked solution; calculator annotations (<<48/2=24>>) are removed and
the final `#### N` line becomes "The answer is N."

`--workers N` (ffdata.workers): `prepare` (checks, the solution, the record, the
decontamination scan) runs on chunks of rows in N processes; the quota and every drop are
decided here, in row order, so the set is byte-identical for any N.
"""

import re

from ffdata.errors import FFDataError
from ffdata.manifest import PositiveCount, SourceOptions, Strict
from ffdata.records import make_record
from ffdata.workers import OrderedPool, read_chunks, replayed, warm, worker_count

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
CHUNK = 512  # rows per piece of work handed to a worker (any size gives the same set)


def prepare(ctx, work: list) -> list:
    """Per row, what does not depend on other rows (any process): None (not needed),
    ("error", message), ("malformed", detail), or (record, decontamination match)."""
    out, records = [], []
    for idx, row in work:
        if row is None:
            out.append(None)
            continue
        missing = [f for f in ("question", "answer") if not isinstance(row.get(f), str)
                   or not row[f].strip()]  # fmt: skip
        if missing:
            out.append(("error", f"gsm8k_train row {idx}: field {missing[0]!r} missing or empty"))
            continue
        try:
            response, final = clean_solution(row["answer"])
        except ValueError as e:
            out.append(("malformed", str(e)))
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
        out.append(len(records))
        records.append(rec)
    matches = ctx.find_contamination(records)
    return [(records[r], matches[r]) if isinstance(r, int) else r for r in out]


def build(ctx) -> None:
    limit = ctx.manifest.targets.get("rows")
    kept, pending = 0, []

    def flush():
        nonlocal kept
        records, matches = [r for r, _ in pending], [m for _, m in pending]
        for rec, keep in zip(records, ctx.keep_batch(records, matches), strict=True):
            if keep:
                ctx.emit("train", rec)
                kept += 1
        pending.clear()

    def full() -> bool:  # no row read from now on can be kept
        return limit is not None and kept >= limit

    warm(ctx)  # before the workers fork
    with OrderedPool(lambda work: prepare(ctx, work), worker_count()) as pool:
        rows = ctx.progress(ctx.read_source("gsm8k_train", yield_quarantined=True), "gsm8k_train")
        for chunk, done in pool.map(read_chunks(rows, CHUNK, full)):
            for idx, found in replayed(ctx, "gsm8k_train", chunk, done):
                if limit is not None and kept + len(pending) >= limit:
                    flush()  # never check more rows than the quota still needs
                if full():
                    ctx.drop("gsm8k_train", idx, "over_quota")
                    continue
                if found is None:
                    raise FFDataError(f"builder error: gsm8k_train row {idx} was not prepared")
                if found[0] == "error":
                    raise FFDataError(found[1])
                if found[0] == "malformed":
                    ctx.drop("gsm8k_train", idx, "malformed", found[1])
                    continue
                pending.append(found)
                if len(pending) >= BATCH:
                    flush()
    flush()
