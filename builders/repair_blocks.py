"""repair_blocks: stage 7 knowledge repair (Blocks A/B/D + validation) and Blocks E/F.

The manifest gives a quota per (block, pool) — `targets.<block>.<pool>: n` — and the validation
total. Validation is stratified over the A/B/D pools in proportion to their quotas and drawn from
the same pools first, so it never shares a question with training. Each pool is shuffled with the
set seed, every question is used at most once in the whole build, every item passes
decontamination (ctx.keep), and a pool that runs dry is an error naming it and the shortfall.
MCQ answers take their letters from an exactly balanced, seeded sequence per block.
"""

import random
import re
from collections import Counter, defaultdict

from ffdata.errors import FFDataError
from ffdata.formats import verify
from ffdata.generators import mcq, numeric, pools, realmcq
from ffdata.records import make_record, record_id
from ffdata.tables import cross_check, validate_rows

VERSION = "1"
TRAIN_BLOCKS = ("A", "B", "D", "E", "F")
VALIDATED_BLOCKS = ("A", "B", "D")
NUMERIC_TRIES = 50  # draws per needed item before a generator family counts as exhausted


def _norm(q: str) -> str:
    return re.sub(r"\W+", " ", q.casefold()).strip()


def _question_id(c: mcq.Candidate) -> str:
    """What "the same question" means: the text, plus the right answer for MCQ, whose stems
    may legitimately repeat ("Which of these people is best known as a composer?")."""
    return _norm(c.question) + ("|" + _norm(c.answer) if c.is_mcq else "")


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


def stratify(q: dict[str, dict[str, int]], total: int) -> dict[tuple[str, str], int]:
    """Split `total` validation items over the A/B/D pools in proportion to their quotas
    (largest remainder, ties by name, so the split is exact and deterministic)."""
    cells = [(b, p, n) for b in VALIDATED_BLOCKS for p, n in q.get(b, {}).items() if n > 0]
    weight = sum(n for *_, n in cells)
    if total and not weight:
        raise FFDataError("targets.validation > 0 but blocks A/B/D have no quotas")
    exact = {(b, p): total * n / weight for b, p, n in cells} if weight else {}
    out = {k: int(v) for k, v in exact.items()}
    rest = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:rest]:
        out[k] += 1
    return out


class Drawer:
    """State shared by every pool: used questions, letter sequences, rows used per source."""

    def __init__(self, ctx, q, val):
        self.ctx, self.seed = ctx, ctx.seed
        self.used_keys: set[str] = set()
        self.used_questions: set[str] = set()
        self.used_rows: dict[str, set[int]] = defaultdict(set)
        self.skipped: Counter = Counter()
        self.letters: dict[tuple[str, str], list[str]] = {}
        for block in TRAIN_BLOCKS:
            n_train = sum(n for p, n in q[block].items() if pools.POOLS[p].mcq)
            n_val = sum(n for (b, p), n in val.items() if b == block and pools.POOLS[p].mcq)
            for part, n in ((block, n_train), ("validation", n_val)):
                rng = random.Random(f"{self.seed}:letters:{part}:{block}")
                self.letters[(part, block)] = mcq.balanced_letters(n, rng)

    def fresh(self, c: mcq.Candidate) -> bool:
        return c.key not in self.used_keys and _question_id(c) not in self.used_questions

    def record(self, block, part, pool_name, source, row, c: mcq.Candidate):
        """Render a candidate; an MCQ takes (pops) the next letter of its part's sequence."""
        meta = {**c.meta, "pool": pool_name, "key": c.key, "part": part}
        if c.is_mcq:
            letters = self.letters[(part, block)]
            if not letters:
                raise FFDataError(f"internal: no MCQ letters left for {part}/{block}")
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

    def fill(self, block, pool_name, items, n_val, n_train, on_skip=None):
        """Take validation then training items from a shuffled iterable of
        (source, row, candidate). Items are decontaminated in batches (one vectorized scan); a
        dropped MCQ gives its letter back to the sequence, so the letters stay exactly balanced.
        """
        need = {"validation": n_val, block: n_train}
        got = Counter()
        items = iter(items)
        exhausted = False
        while not exhausted and (got["validation"] < n_val or got[block] < n_train):
            batch = []
            slots = {part: need[part] - got[part] for part in need}
            while len(batch) < sum(slots.values()):
                nxt = next(items, None)
                if nxt is None:
                    exhausted = True
                    break
                source, row, c = nxt
                kind = pools.POOLS[pool_name].kind
                if kind != "rows":  # made by a generator: an input of its source, counted here
                    from_row = row if kind == "table" else None
                    self.ctx.generated(source, pool=pool_name, from_row=from_row)
                if not self.fresh(c):
                    self.skipped[f"{pool_name}:duplicate_question"] += 1
                    if on_skip:
                        on_skip(source, row, "duplicate", c.key)
                    else:
                        self.ctx.drop(source, row, "duplicate_question", c.key)
                    continue
                # a question is spent once tried, kept or not, so nothing repeats
                self.used_keys.add(c.key)
                self.used_questions.add(_question_id(c))
                part = "validation" if len(batch) < slots["validation"] else block
                batch.append((part, source, row, c))
            records = [
                self.record(block, part, pool_name, src, row, c) for part, src, row, c in batch
            ]
            for (part, src, row, c), rec, kept in zip(
                batch, records, self.ctx.keep_batch(records), strict=True
            ):
                if kept:
                    got[part] += 1
                    self.used_rows[src].add(row)
                    self.ctx.emit(part, rec)
                elif c.is_mcq:
                    self.letters[(part, block)].append(rec["response"])
        if got["validation"] < n_val or got[block] < n_train:
            short = n_val + n_train - got["validation"] - got[block]
            raise FFDataError(
                f"pool {pool_name!r} (block {block}) cannot fill its quota: needs "
                f"{n_val + n_train} ({n_train} train + {n_val} validation), found only "
                f"{n_val + n_train - short} usable items ({short} short)"
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
    val = stratify(q, int(m.targets.get("validation", 0)))
    drawer = Drawer(ctx, q, val)

    needed_tables = sorted(
        {pools.POOLS[p].source for b in q for p in q[b] if pools.POOLS[p].kind == "table"}
        | ({"anchors", "persons"})
    )
    tables = {}
    for name in needed_tables:
        spec = m.source(name)
        tables[name] = validate_rows(name, list(ctx.read_source(name)), spec.path or name)
    problems = cross_check(tables)
    if problems:
        raise FFDataError(f"fact tables disagree: {problems[0]} (+{len(problems) - 1} more)")

    rows_cache: dict[str, list] = {}
    for block in TRAIN_BLOCKS:
        for pool_name, n_train in q[block].items():
            n_val = val.get((block, pool_name), 0)
            if n_train + n_val == 0:
                continue
            pool = pools.POOLS[pool_name]
            if pool.kind == "table":
                items = list(pools.table_candidates(pool_name, tables, ctx.seed))
                drawer.fill(block, pool_name, _shuffled(items, ctx.seed, pool_name), n_val, n_train)
            elif pool.kind == "rows":
                _fill_rows(ctx, drawer, block, pool_name, pool, n_val, n_train, rows_cache)
            else:
                _fill_numeric(ctx, drawer, block, pool_name, pool, n_val, n_train)

    # every row read is accounted for: table rows no quota reached, source rows over quota
    for name, table in tables.items():
        expanded = ctx.expanded_rows.get(name, set())
        for r in table.rows:
            if r["_row"] not in expanded:
                reason = "reference_table" if name == "anchors" else "unused"
                ctx.drop(name, r["_row"], reason, "no quota drew a question from this row")
    for source, rows in rows_cache.items():
        for idx, _row, status in rows:
            if status == "pending":
                ctx.drop(source, idx, "over_quota", "")

    ctx.set_targets(_targets(m.targets, q, val, tables, drawer, mode))


def _fill_rows(ctx, drawer, block, pool_name, pool, n_val, n_train, cache):
    source = pool.source
    if source in cache:
        raise FFDataError(f"source {source!r} feeds two pools; give each pool its own source")
    entries, cands = [], []
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
            entries.append([idx, row, "dropped"])
            continue
        entries.append([idx, row, "pending"])
        cands.append((source, idx, c))
    cache[source] = entries
    status = {e[0]: e for e in entries}

    def on_skip(src, row, reason, detail):
        ctx.drop(src, row, reason, detail)
        status[row][2] = "dropped"

    shuffled = _shuffled(cands, ctx.seed, pool_name)
    drawer.fill(block, pool_name, _track(shuffled, status), n_val, n_train, on_skip=on_skip)


def _track(items, status):
    """Mark a row handled as soon as the drawer takes it (it is then kept, dropped as
    contaminated, or skipped as a duplicate); rows never taken stay pending -> over_quota."""
    for source, idx, c in items:
        status[idx][2] = "seen"
        yield source, idx, c


def _fill_numeric(ctx, drawer, block, pool_name, pool, n_val, n_train):
    need = n_val + n_train

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
            yield pool.source, i, c

    drawer.fill(block, pool_name, problems(), n_val, n_train)


def _targets(targets, q, val, tables, drawer, mode) -> dict:
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
        "pools": {b: dict(q[b]) for b in TRAIN_BLOCKS},
        "letter_balance_tolerance": 0.01,
        "short_fact_max_chars": 100,
        "anchor_table_share": anchor_share,
        "skipped": dict(sorted(drawer.skipped.items())),
        "declared": {k: v for k, v in targets.items() if k == "blocks"},
    }
