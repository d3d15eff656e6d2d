"""repair_blocks: stage 7 knowledge repair (Blocks A/B/D + validation) and Blocks E/F.

The manifest gives a quota per (block, pool) — `targets.<block>.<pool>: n` — and the validation
total. Validation is stratified over the A/B/D pools that can be held out, in proportion to their
quotas, and is drawn for every pool before any training item, so that training can avoid it:

- no normalized question of a validation item is asked in training (any block, any format);
- no fact a validation item asks — (table, row, fact family), see generators.subjects — is
  stated by a training item (the capital of Nicaragua is asked in validation or trained, not both);
- no validation item comes from a question or a fact table that the sets named in
  `options.validation_excludes` read (ffdata.heldout): the model line trains on those earlier.
  A pool may name a source that serves only its validation items (`options.validation_sources`:
  ARC's own validation split, which no set trains on) while it trains on its train split.

A second held-out part, `validation_e` (`targets.validation_e: {pool: n}`), holds out whole works
of the humanities tables for the weak-domain scores (ffllm/eval/heldout.py): MCQ over literature,
music and art, drawn the same way, before training. Its `<table>_work_by` items come from the
works its `<table>_creator` items hold out (the same fact asked the other way), so holding out N
works costs the training blocks N works, not 2N; no training item (any block) states them.

Each pool is shuffled with the set seed, every question is used at most once in the whole build,
every item passes decontamination (ctx.keep_batch), and a pool that runs dry is an error naming it
and the shortfall. Every candidate a table or generator produces is counted (ctx.generated) and
ends up kept or dropped with a reason. MCQ answers take their letters from an exactly balanced,
seeded sequence per pool.
"""

import random
from collections import Counter, defaultdict, deque
from typing import Annotated, Literal

from pydantic import Field, StrictInt, create_model

from ffdata import heldout
from ffdata.errors import FFDataError
from ffdata.formats import verify
from ffdata.generators import mcq, numeric, pools, realmcq, subjects
from ffdata.manifest import SourceOptions, Strict
from ffdata.records import make_record, record_id
from ffdata.sources import resolve_path
from ffdata.tables import cross_check, validate_rows

VERSION = "2"
TRAIN_BLOCKS = ("A", "B", "D", "E", "F")
VALIDATED_BLOCKS = ("A", "B", "D")
VALIDATION_E = "validation_e"  # held-out humanities works (Block E pools), see the docstring
VALIDATION_PARTS = ("validation", VALIDATION_E)
NUMERIC_TRIES = 50  # draws per needed item before a generator family counts as exhausted
MIN_ELIGIBLE = 0.5  # a real-data pool is held out only if most of its rows are not excluded


# Manifest keys, checked before anything is read or drawn (ffdata.manifest.check_builder_keys):
# a misspelt key is an error, and counts are integers >= 0 far above what the sources hold, so
# `validation: 1e12` or `-801` stops the build instead of allocating or looping.
Quota = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
TARGETS = create_model(
    "RepairTargets",
    __base__=Strict,
    blocks=(dict[str, Quota], {}),
    validation=(Quota, 0),
    validation_e=(dict[str, Quota], {}),
    max_arithmetic_share_A=(Annotated[float, Field(ge=0, le=1)] | None, None),
    min_subjects_A=(Quota | None, None),
    A_hf=(dict[str, Quota], {}),
    **{block: (dict[str, Quota], {}) for block in TRAIN_BLOCKS},
)


class OPTIONS(Strict):  # noqa: N801 (the attribute check_builder_keys reads)
    block_a_source: Literal["local", "hf"] = "local"
    validation_excludes: list[str] = []
    # pool -> a manifest source that serves only that pool's validation items (ARC's own
    # validation split): held out by construction, while the pool trains on its train split
    validation_sources: dict[str, str] = {}


SOURCE_OPTIONS = SourceOptions


def _norm(q: str) -> str:
    return heldout.norm_question(q)


def _question_id(c: mcq.Candidate) -> str:
    """What "the same question" means: the text, plus the right answer for MCQ (whose stems may
    legitimately repeat: "Which of these animals is a reptile?") and for numeric items, so a
    generated problem asked as MCQ in A and with worked steps in D is one question."""
    answer = c.meta.get("answer_value", c.answer) if c.format == "numeric" or c.is_mcq else ""
    return _norm(c.question) + ("|" + _norm(str(answer)) if answer != "" else "")


def quotas(targets: dict, block_a_source: str) -> dict[str, dict[str, int]]:
    """{block: {pool: n}} with A taken from `A_hf` when Block A comes from the hub."""
    out = {}
    for block in TRAIN_BLOCKS:
        key = "A_hf" if block == "A" and block_a_source == "hf" else block
        spec = targets.get(key) or {}
        if not isinstance(spec, dict):
            raise FFDataError(f"targets.{key}: expected a mapping of pool -> count")
        for pool, n in spec.items():
            if pool not in pools.POOLS:
                raise FFDataError(
                    f"targets.{key}.{pool}: unknown pool (known: {sorted(pools.POOLS)})"
                )
            if not isinstance(n, int) or n < 0:
                raise FFDataError(f"targets.{key}.{pool}: expected a count >= 0, got {n!r}")
        out[block] = dict(spec)
        want = targets.get("blocks", {}).get(block)
        if want is not None and sum(spec.values()) != want:
            raise FFDataError(
                f"targets.{key}: pool counts sum to {sum(spec.values())}, "
                f"but targets.blocks.{block} is {want}"
            )
    return out


def validation_e_quotas(targets: dict, q: dict[str, dict[str, int]]) -> dict[str, int]:
    """{pool: n} of the held-out humanities part: Block E's MCQ table pools only."""
    spec = targets.get(VALIDATION_E) or {}
    for pool in spec:
        p = pools.POOLS.get(pool)
        if pool not in q["E"] or p is None or p.kind != "table" or not p.mcq:
            raise FFDataError(
                f"targets.{VALIDATION_E}.{pool}: not an MCQ pool of Block E "
                f"(E's MCQ pools: {sorted(x for x in q['E'] if pools.POOLS[x].mcq)})"
            )
    return {pool: n for pool, n in spec.items() if n}


def stratify(
    q: dict[str, dict[str, int]], total: int, held_out: set | None = None
) -> dict[tuple[str, str], int]:
    """Split `total` validation items over the A/B/D pools in proportion to their quotas
    (largest remainder, ties by name, so the split is exact and deterministic). `held_out`: the
    (block, pool) cells that can give validation items (None: all)."""
    cells = [
        (b, p, n)
        for b in VALIDATED_BLOCKS
        for p, n in q.get(b, {}).items()
        if n > 0 and (held_out is None or (b, p) in held_out)
    ]
    weight = sum(n for *_, n in cells)
    if total and not weight:
        raise FFDataError("targets.validation > 0 but no A/B/D pool can be held out")
    exact = {(b, p): total * n / weight for b, p, n in cells} if weight else {}
    out = {k: int(v) for k, v in exact.items()}
    rest = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:rest]:
        out[k] += 1
    return out


class Stream:
    """A pool's shuffled candidates, (source, row, Candidate), shared by the two draws: the
    validation draw takes eligible items and holds the others back for the training draw."""

    def __init__(
        self, pool_name: str, items, lazy: bool = False, held_out: bool = True, val_items=None
    ):
        self.pool_name, self.items, self.lazy, self.held_out = (
            pool_name,
            iter(items),
            lazy,
            held_out,
        )
        self.held: deque = deque()
        # a validation-only source's candidates: never trained on, whether drawn or not
        self.val_items = None if val_items is None else iter(val_items)
        self.val_left: list = []

    def for_validation(self, eligible):
        if self.val_items is not None:
            for item in self.val_items:
                if eligible(item):
                    yield item
                else:
                    self.val_left.append(item)
            return
        for item in self.items:
            if eligible(item):
                yield item
            else:
                self.held.append(item)

    def for_training(self):
        while self.held:
            yield self.held.popleft()
        yield from self.items

    def leftover(self):
        """Candidates produced but never drawn (a lazy generator produces no more)."""
        yield from self.held
        self.held.clear()
        if not self.lazy:
            yield from self.items
        if self.val_items is not None:
            yield from self.val_left
            self.val_left.clear()
            yield from self.val_items


class Drawer:
    """State shared by every pool: used questions and facts, letter sequences."""

    def __init__(self, ctx, q, val, val_e, excludes: heldout.Excludes, excluded_tables: set[str]):
        self.ctx, self.seed = ctx, ctx.seed
        self.excludes, self.excluded_tables = excludes, excluded_tables
        self.used_keys: set[str] = set()
        self.used_questions: set[str] = set()
        self.val_questions: set[str] = set()  # normalized stems asked in validation
        self.val_facts: dict[tuple, set[str]] = defaultdict(set)  # (table, row) -> families
        self.val_e_rows: dict[str, set] = defaultdict(set)  # table -> rows held out in validation_e
        self.skipped: Counter = Counter()
        self.subjects: Counter = Counter()  # (part, block, subject) -> items kept
        # A shuffled, exactly balanced letter sequence per pool (so no letter is a shortcut in
        # any pool); the remainders go to the letters the block has used least, so the block as
        # a whole stays balanced to one item.
        self.letters: dict[tuple[str, str, str], list[str]] = {}
        for block in TRAIN_BLOCKS:
            for part in (block, *VALIDATION_PARTS):
                counts = Counter({letter: 0 for letter in "ABCD"})
                for pool_name, n_train in q[block].items():
                    if not pools.POOLS[pool_name].mcq:
                        continue
                    n = {
                        "validation": val.get((block, pool_name), 0),
                        VALIDATION_E: val_e.get(pool_name, 0) if block == "E" else 0,
                    }.get(part, n_train)
                    rng = random.Random(f"{self.seed}:letters:{part}:{block}:{pool_name}")
                    order = sorted("ABCD", key=lambda x: (counts[x], rng.random()))
                    seq = [x for x in "ABCD" for _ in range(n // 4)] + order[: n % 4]
                    rng.shuffle(seq)
                    counts.update(seq)
                    self.letters[(part, block, pool_name)] = seq

    def eligible(self, item) -> bool:
        """May this item be held out? Not if a set named in validation_excludes reads it."""
        source, _, c = item
        table = c.meta.get("table")
        if table in self.excluded_tables:
            return False
        return not self.excludes.question(c.question)

    def eligible_e(self, pool_name: str, q_e: dict[str, int]):
        """validation_e: a work_by item only about a work the creator items hold out."""
        table = pools.POOLS[pool_name].source
        same_works = pool_name.endswith("_work_by") and f"{table}_creator" in q_e

        def eligible(item) -> bool:
            _, row, c = item
            return self.eligible(item) and (not same_works or row in self.val_e_rows[table])

        return eligible

    def refuse(self, pool_name: str, c: mcq.Candidate, part: str) -> str:
        """Why `c` cannot be drawn for `part` now ("" if it can)."""
        if c.key in self.used_keys:
            return "duplicate"
        if _question_id(c) in self.used_questions:
            return "duplicate_question"
        if part not in VALIDATION_PARTS:
            if _norm(c.question) in self.val_questions:
                return "heldout_question"
            for f in subjects.facts_of(pool_name, c):
                table, row, family = f.rsplit(":", 2)
                held = self.val_facts.get((table, row), ())
                if held and (family == "row" or "row" in held or family in held):
                    return "heldout_fact"
        return ""

    def record(self, block, part, pool_name, source, row, c: mcq.Candidate):
        """Render a candidate; an MCQ takes (pops) the next letter of its part's sequence."""
        meta = {
            **c.meta,
            "pool": pool_name,
            "key": c.key,
            "part": part,
            "subject": subjects.subject_of(pool_name, c),
            "question_norm": _norm(c.question),
            "facts": subjects.facts_of(pool_name, c),
        }
        if c.is_mcq:
            letters = self.letters[(part, block, pool_name)]
            if not letters:
                raise FFDataError(f"internal: no MCQ letters left for {part}/{block}/{pool_name}")
            instruction, response, options = mcq.render(c, letters.pop())
            meta.update(options=options, answer=response, correct=c.answer)
        else:
            instruction, response = c.question, c.answer
        kwargs = {"allow_steps": True} if c.format == "numeric" else {}
        if not verify(c.format, response, **kwargs):
            raise FFDataError(
                f"pool {pool_name}: item {c.key} is not valid {c.format}: {response!r}"
            )
        rec = make_record(
            set_name=self.ctx.set_name,
            block=block,
            source=source,
            source_row=row,
            seed=self.seed,
            instruction=instruction,
            response=response,
            format=c.format,
            category=c.category or pools.POOLS[pool_name].category,
            meta=meta,
        )
        rec["id"] = record_id(c.key, row, self.seed)
        return rec

    def fill(self, block, pool_name, items, part, n):
        """Take n items for `part` (validation, or the block itself) from a shuffled iterable
        of (source, row, candidate). Items are decontaminated in batches (one vectorized scan);
        a dropped MCQ gives its letter back to the sequence, so the letters stay balanced."""
        got = 0
        items = iter(items)
        exhausted = False
        while not exhausted and got < n:
            batch = []
            while len(batch) < n - got:
                nxt = next(items, None)
                if nxt is None:
                    exhausted = True
                    break
                source, row, c = nxt
                reason = self.refuse(pool_name, c, part)
                if reason:
                    self.skipped[f"{pool_name}:{reason}"] += 1
                    self.ctx.drop(source, row, reason, c.key)
                    continue
                # a question is spent once tried, kept or not, so nothing repeats
                self.used_keys.add(c.key)
                self.used_questions.add(_question_id(c))
                batch.append((source, row, c))
            records = [self.record(block, part, pool_name, s, r, c) for s, r, c in batch]
            for (_src, _row, c), rec, kept in zip(
                batch, records, self.ctx.keep_batch(records), strict=True
            ):
                if kept:
                    got += 1
                    self.ctx.emit(part, rec)
                    self.subjects[(part, block, subjects.subject_of(pool_name, c))] += 1
                    if part in VALIDATION_PARTS:
                        self.val_questions.add(_norm(c.question))
                        for f in subjects.facts_of(pool_name, c):
                            table, r, family = f.rsplit(":", 2)
                            self.val_facts[(table, r)].add(family)
                        if part == VALIDATION_E:
                            self.val_e_rows[c.meta["table"]].add(c.meta["row"])
                elif c.is_mcq:
                    self.letters[(part, block, pool_name)].append(rec["response"])
        if got < n:
            what = part if part in VALIDATION_PARTS else "train"
            raise FFDataError(
                f"pool {pool_name!r} (block {block}) cannot fill its quota: needs {n} {what} "
                f"items, found only {got} usable items ({n - got} short)"
            )


def _shuffled(items: list, seed, name: str) -> list:
    random.Random(f"{seed}:pool:{name}").shuffle(items)
    return items


def build(ctx) -> None:
    m = ctx.manifest
    mode = m.options.get("block_a_source", "local")
    if mode not in ("local", "hf"):
        raise FFDataError(f"options.block_a_source: expected 'local' or 'hf', got {mode!r}")
    q = quotas(m.targets, mode)
    excludes = heldout.resolve(m.options.get("validation_excludes"), ctx.base_dir)

    needed_tables = sorted(
        {pools.POOLS[p].source for b in q for p in q[b] if pools.POOLS[p].kind == "table"}
        | ({"anchors", "persons"})
    )
    tables, excluded_tables = {}, set()
    for name in needed_tables:
        spec = m.source(name)
        tables[name] = validate_rows(name, list(ctx.read_source(name)), spec.path or name)
        if spec.path and resolve_path(spec, ctx.base_dir).resolve() in excludes.files:
            excluded_tables.add(name)
    problems = cross_check(tables)
    if problems:
        raise FFDataError(f"fact tables disagree: {problems[0]} (+{len(problems) - 1} more)")

    streams: dict[tuple[str, str], Stream] = {}
    rows_read: dict[str, str] = {}
    for block in TRAIN_BLOCKS:
        for pool_name, n_train in q[block].items():
            pool = pools.POOLS[pool_name]
            if pool.kind == "table":
                streams[(block, pool_name)] = _table_stream(ctx, pool_name, tables, excluded_tables)
            elif pool.kind == "rows":
                if pool.source in rows_read:
                    raise FFDataError(
                        f"source {pool.source!r} feeds two pools; give each pool its own source"
                    )
                rows_read[pool.source] = pool_name
                streams[(block, pool_name)] = _rows_stream(ctx, pool_name, pool, excludes)
            else:
                need = n_train + m.targets.get("validation", 0)
                streams[(block, pool_name)] = _numeric_stream(ctx, pool_name, pool, need)
    held_out = {cell for cell, s in streams.items() if s.held_out}
    val = stratify(q, int(m.targets.get("validation", 0)), held_out)
    val_e = validation_e_quotas(m.targets, q)
    drawer = Drawer(ctx, q, val, val_e, excludes, excluded_tables)

    # 1. every validation item first, so that 2. training can avoid its questions and facts
    for (block, pool_name), stream in streams.items():
        n_val = val.get((block, pool_name), 0)
        if n_val:
            items = stream.for_validation(drawer.eligible)
            drawer.fill(block, pool_name, items, "validation", n_val)
    # creator pools first: their works are the ones the work_by items may ask about
    for pool_name in sorted(val_e, key=lambda p: (p.endswith("_work_by"), list(val_e).index(p))):
        # a stem that repeats ("Which of these novels is by Jane Austen?") is then refused in
        # training (heldout_question), as for the validation part
        items = streams[("E", pool_name)].for_validation(drawer.eligible_e(pool_name, val_e))
        drawer.fill("E", pool_name, items, VALIDATION_E, val_e[pool_name])
    for (block, pool_name), stream in streams.items():
        if q[block][pool_name]:
            drawer.fill(block, pool_name, stream.for_training(), block, q[block][pool_name])

    # every input is accounted for: candidates never drawn, table rows no pool asked about
    for stream in streams.values():
        for source, row, c in stream.leftover():
            ctx.drop(source, row, "over_quota", c.key)
    for name, table in tables.items():
        expanded = ctx.expanded_rows.get(name, set())
        for r in table.rows:
            if r["_row"] not in expanded:
                reason = "reference_table" if name == "anchors" else "unused"
                ctx.drop(name, r["_row"], reason, "no pool asked a question from this row")

    _check_subjects(m.targets, drawer.subjects)
    ctx.set_targets(
        _targets(m.targets, q, val, val_e, tables, drawer, mode, excludes, excluded_tables)
    )


def _check_subjects(targets: dict, kept: Counter) -> None:
    """Block A across subjects, as the manifest states it: at most max_arithmetic_share_A of
    the training items arithmetic, at least min_subjects_A subject areas."""
    a = Counter({subject: n for (part, _, subject), n in kept.items() if part == "A"})
    total = sum(a.values())
    share = targets.get("max_arithmetic_share_A")
    if share is not None and total and a["arithmetic"] / total > share:
        raise FFDataError(
            f"targets.max_arithmetic_share_A: Block A is {a['arithmetic'] / total:.1%} "
            f"arithmetic ({a['arithmetic']} of {total}), above {share:.0%}"
        )
    least = targets.get("min_subjects_A")
    if least is not None and len(+a) < least:
        raise FFDataError(
            f"targets.min_subjects_A: Block A covers {len(+a)} subject areas "
            f"({', '.join(sorted(a))}), fewer than {least}"
        )


def _table_stream(ctx, pool_name, tables, excluded_tables) -> Stream:
    cands = list(pools.table_candidates(pool_name, tables, ctx.seed))
    for source, row, _ in cands:
        ctx.generated(source, pool=pool_name, from_row=row)
    # a pool whose stems repeat ("Which of these animals is a reptile?") cannot be held out:
    # its stem would be asked in validation and training alike
    stems = {_norm(c.question) for *_, c in cands}
    table = pools.POOLS[pool_name].source
    held_out = len(stems) == len(cands) and table not in excluded_tables
    # an ordered pool (yes/no: true and false interleaved) keeps its balanced order
    order = cands if pools.POOLS[pool_name].ordered else _shuffled(cands, ctx.seed, pool_name)
    return Stream(pool_name, order, held_out=held_out)


def _rows_stream(ctx, pool_name, pool, excludes) -> Stream:
    cands = _row_candidates(ctx, pool.source, pool)
    val_source = ctx.manifest.options.get("validation_sources", {}).get(pool_name)
    if val_source is not None:  # validation from its own split, training from this one
        if val_source == pool.source:
            raise FFDataError(
                f"options.validation_sources.{pool_name}: {val_source!r} is the pool's training "
                "source; name the split that serves validation only"
            )
        val = _row_candidates(ctx, val_source, pool)
        eligible = sum(not excludes.question(c.question) for *_, c in val)
        return Stream(
            pool_name,
            _shuffled(cands, ctx.seed, pool_name),
            held_out=eligible > 0,
            val_items=_shuffled(val, ctx.seed, f"{pool_name}:validation"),
        )
    eligible = sum(not excludes.question(c.question) for *_, c in cands)
    held_out = bool(cands) and eligible >= MIN_ELIGIBLE * len(cands)
    return Stream(pool_name, _shuffled(cands, ctx.seed, pool_name), held_out=held_out)


def _row_candidates(ctx, source: str, pool) -> list:
    """(source, row, Candidate) of every usable row; a row the adapter rejects is dropped."""
    cands = []
    for idx, row in ctx.read_source(source):
        try:
            if pool.adapter == "gsm8k":
                c = realmcq.gsm8k(source, idx, row, pool.category, ctx.seed)
            else:
                c = realmcq.ADAPTERS[pool.adapter](source, idx, row, pool.category)
        except (KeyError, TypeError) as e:
            raise FFDataError(f"source {source!r} row {idx}: missing or bad field {e}") from None
        except ValueError as e:
            reason, _, detail = str(e).partition(":")
            ctx.drop(source, idx, reason, detail)
            continue
        cands.append((source, idx, c))
    return cands


def _numeric_stream(ctx, pool_name, pool, need) -> Stream:
    def problems():
        families = numeric.FAMILIES if pool.kind == "numeric_mcq" else (pool.adapter,)
        stream = f"{ctx.seed}:{pool_name}"  # A's numeric MCQ and D never share a draw
        for i in range(need * NUMERIC_TRIES):
            fam = families[i % len(families)]
            p = numeric.generate(fam, stream, i // len(families))
            errors = numeric.check(p)
            if errors:
                raise FFDataError(f"generator numeric/{fam} index {p.index}: {errors[0]}")
            if pool.kind == "numeric_mcq":
                c = pools.numeric_mcq(p, ctx.seed)
                c.meta["answer_value"] = p.answer
            else:
                c = mcq.Candidate(
                    key=f"numeric:{fam}:{stream}:{p.index}",
                    question=p.question,
                    answer=p.response,
                    category=fam,
                    format="numeric",
                    meta={
                        "generator": "numeric",
                        "family": fam,
                        "variant": p.variant,
                        "seed": stream,
                        "index": p.index,
                        "answer_value": p.answer,
                    },
                )
            ctx.generated(pool.source, pool=pool_name)
            yield pool.source, i, c

    return Stream(pool_name, problems(), lazy=True)


def _targets(targets, q, val, val_e, tables, drawer, mode, excludes, excluded_tables) -> dict:
    """What the audit compares against: quotas, rules, and the anchors' share in the tables."""
    anchor_share = {}
    for r in tables["anchors"].rows:
        t = r["table"]
        if t not in tables:
            continue
        col = {
            "inventions": "inventor",
            "discoveries": "scientist",
            "literature": "author",
            "music": "composer",
            "art": "artist",
            "philosophy": "philosopher",
        }[t]
        credits = tables[t].column(col)
        anchor_share.setdefault(r["category"], {})[r["anchor"]] = round(
            credits.count(r["anchor"]) / len(credits), 4
        )
    return {
        "block_a_source": mode,
        "blocks": {b: sum(q[b].values()) for b in TRAIN_BLOCKS},
        "validation": sum(val.values()),
        "validation_by_pool": {f"{b}/{p}": n for (b, p), n in sorted(val.items())},
        # the held-out humanities part (weak-domain scores): its rows, per pool and per subject
        "by_part": {VALIDATION_E: sum(val_e.values())} if val_e else {},
        "validation_e_by_pool": {f"E/{p}": n for p, n in sorted(val_e.items())},
        "validation_e_by_subject": {
            s: n for (part, _, s), n in sorted(drawer.subjects.items()) if part == VALIDATION_E
        },
        "pools": {b: dict(q[b]) for b in TRAIN_BLOCKS},
        "letter_balance_tolerance": 0.01,
        "short_fact_max_chars": 100,
        "anchor_table_share": anchor_share,
        "skipped": dict(sorted(drawer.skipped.items())),
        "declared": {k: v for k, v in targets.items() if k == "blocks"},
        # Block A across subjects (the audit tabulates meta.subject)
        "subject_rules": {
            k: targets[k] for k in ("max_arithmetic_share_A", "min_subjects_A") if k in targets
        },
        "validation_excludes": {
            "sets": excludes.by_recipe,
            "questions": len(excludes.questions),
            "tables": sorted(excluded_tables),
        },
    }
