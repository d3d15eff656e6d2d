"""What the stage-5 builders (lora_v4b, format_only) share: fact tables read as accounted
material, drafts of generated items, and a quota taker that verifies, deduplicates and
decontaminates before it keeps anything. Drafts are drawn lazily and only until the quota is
filled, so every draft made is kept or dropped for a reason of its own.

Accounting (ffdata.build.BuildContext.reconcile): every table row is read through
`ctx.read_source`; a row some draft was made from is *expanded* (spent into items), any other is
dropped as `unused`. Each draft is an input of its task's generator source `gen:<task>`
(`ctx.generated`) and ends up kept, or dropped with its reason (verifier_failed,
duplicate_prompt, contaminated:<set>).
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ffdata.errors import FFDataError
from ffdata.hashing import stable_hash as h
from ffdata.records import make_record
from ffdata.tables import Table, cross_check, validate_rows

BATCH = 512  # drafts decontaminated per vectorized scan


def seeded(items: list, *key) -> list:
    """`items` in a seeded order (by their position, so equal items keep distinct places)."""
    return [x for _, x in sorted(enumerate(items), key=lambda p: h(*key, p[0]))]


def rotate(phrasings: tuple[str, ...], *key) -> str:
    return phrasings[h(*key) % len(phrasings)]


@dataclass
class Draft:
    """One generated item before it is verified and kept."""

    task: str  # the block (and generator source gen:<task>)
    instruction: str
    response: str
    format: str  # a record format (ffdata.records.FORMATS)
    category: str
    meta: dict = field(default_factory=dict)
    rows: tuple[tuple[str, int], ...] = ()  # (table, row) pairs it was made from
    # settle(k) -> the final draft when it would be the task's k-th kept item: what must be
    # balanced over the kept items exactly (an MCQ key's letter) is decided there, one at a time
    settle: Callable[[int], "Draft"] | None = None


class Material:
    """The fact tables a builder reads, with the rows its drafts used."""

    def __init__(self, ctx, names: Iterable[str]):
        self.ctx = ctx
        self.tables: dict[str, Table] = {}
        for name in names:
            spec = ctx.manifest.source(name)
            self.tables[name] = validate_rows(name, list(ctx.read_source(name)), spec.path or name)
        problems = cross_check(self.tables)
        if problems:
            raise FFDataError(f"fact tables disagree: {problems[0]} (+{len(problems) - 1} more)")

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def rows(self, name: str) -> list[dict]:
        return self.tables[name].rows

    def finish(self, reference: Iterable[str] = ()) -> None:
        """Drop every table row no draft was made from (each row read is accounted for);
        `reference` tables are read only to cross-check the others (persons)."""
        for name, table in self.tables.items():
            used = self.ctx.expanded_rows.get(name, set())
            reason = "reference_table" if name in reference else "unused"
            for r in table.rows:
                if r["_row"] not in used:
                    self.ctx.drop(name, r["_row"], reason, "no item was made from this row")


def take(
    ctx,
    task: str,
    drafts: Iterable[Draft],
    quota: int,
    verify: Callable[[Draft], bool],
    seen: set[str],
    part: str = "train",
) -> int:
    """Keep the first `quota` drafts (in the given order) that pass `verify`, ask a prompt not
    already asked in this set (`seen`, shared by the set's tasks) and pass decontamination; emit
    them and drop the others with their reason. A task that cannot fill its quota is an error
    naming the task and the shortfall."""
    source = f"gen:{task}"
    kept, pending, asked = 0, [], set()  # asked: prompts waiting in `pending`

    def flush():
        nonlocal kept
        batch = [make_record(set_name=ctx.set_name, block=task, source=source, source_row=i,
                             seed=ctx.seed, instruction=d.instruction, response=d.response,
                             format=d.format, category=d.category, meta={**d.meta, "task": task})
                 for i, d in pending]  # fmt: skip
        for (_, d), rec, ok in zip(pending, batch, ctx.keep_batch(batch), strict=True):
            if not ok:
                continue  # dropped as contaminated:<set> by keep_batch
            ctx.emit(part, rec)
            seen.add(d.instruction)
            kept += 1
        pending.clear()
        asked.clear()

    for i, d in enumerate(drafts):  # drafts are made lazily: none past the filled quota
        ctx.generated(source, pool=task)
        for table, row in d.rows:
            ctx.expand(table, row)
        one_by_one = d.settle is not None
        if one_by_one:
            d = d.settle(kept)  # pending is empty here: kept is this draft's place if kept
        if not verify(d):
            ctx.drop(source, i, "verifier_failed", d.response[:80])
        elif d.instruction in seen or d.instruction in asked:
            ctx.drop(source, i, "duplicate_prompt", d.instruction[:80])
        else:
            pending.append((i, d))
            asked.add(d.instruction)
            if one_by_one or len(pending) >= min(BATCH, quota - kept):
                flush()
                if kept >= quota:
                    break
    flush()
    if kept < quota:
        raise FFDataError(
            f"{ctx.set_name}: task {task!r} kept {kept} items for a quota of {quota} "
            f"({quota - kept} short); see the build's drops for why"
        )
    return kept


def meta_of(record: dict) -> dict:
    return json.loads(record["meta"])
