"""Named pools of candidate items: what a manifest quota (`targets.<block>.<pool>: n`) draws from.

A pool yields (source name, source row, Candidate) in a deterministic order; the builder
shuffles it with the set seed, skips questions already used anywhere in the build, and takes
what its quota asks. `source` is the manifest source the item is charged to (a table, a JSONL
file, a hub dataset or a generator), so the build record reconciles per source.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ffdata.generators import anchors, facts, humanities, mcq, numeric
from ffdata.generators.mcq import Candidate


@dataclass(frozen=True)
class Pool:
    kind: str  # "table" | "rows" | "numeric" | "numeric_mcq"
    make: Callable | None = None  # tables, seed -> Candidates (table pools)
    source: str = ""  # manifest source charged for the items
    adapter: str = ""  # row adapter (rows pools) or numeric family
    category: str = ""
    mcq: bool = True


def _t(table: str, make: Callable, mcq_: bool = True) -> Pool:
    return Pool("table", make, source=table, mcq=mcq_)


POOLS: dict[str, Pool] = {
    # Block A: real MCQ rows, GSM8K as MCQ, procedural numeric MCQ, table MCQ
    "arc_easy": Pool("rows", source="arc_easy_train", adapter="arc", category="arc_easy"),
    "arc_challenge": Pool(
        "rows", source="arc_challenge_train", adapter="arc", category="arc_challenge"
    ),
    "gsm8k_mcq": Pool("rows", source="gsm8k_train", adapter="gsm8k", category="math_word_problem"),
    "numeric_mcq": Pool("numeric_mcq", source="numeric", category="arithmetic"),
    "capital_of": _t("countries", mcq.capital_of),
    "symbol_of": _t("elements", mcq.symbol_of),
    "atomic_number_of": _t("elements", mcq.atomic_number_of),
    "element_of_number": _t("elements", mcq.element_of_number),
    "element_category": _t("elements", mcq.category_of),
    "inventor_contrastive": _t(
        "inventions", lambda t, s: anchors.contrastive_mcq(t, s, "inventions")
    ),
    "scientist_contrastive": _t(
        "discoveries", lambda t, s: anchors.contrastive_mcq(t, s, "discoveries")
    ),
    "person_field": _t("persons", mcq.field_of),
    # hub MCQ (options.block_a_source: hf)
    "mmlu_aux_hf": Pool("rows", source="mmlu_aux_train_hf", adapter="mmlu", category="mmlu_aux"),
    "arc_easy_hf": Pool("rows", source="arc_easy_train_hf", adapter="arc", category="arc_easy"),
    "arc_challenge_hf": Pool(
        "rows", source="arc_challenge_train_hf", adapter="arc", category="arc_challenge"
    ),
    "openbookqa_hf": Pool(
        "rows", source="openbookqa_train_hf", adapter="openbookqa", category="openbookqa"
    ),
    # Block B: short facts and anchor yes/no
    "country_of_capital": _t("countries", facts.country_of_capital, False),
    "continent_of": _t("countries", facts.continent_of, False),
    "element_of_symbol": _t("elements", facts.element_of_symbol, False),
    "element_discoverer": _t("elements", facts.discoverer_of, False),
    "invention_year": _t("inventions", lambda t, s: facts.credit_year(t, s, "inventions"), False),
    "discovery_year": _t("discoveries", lambda t, s: facts.credit_year(t, s, "discoveries"), False),
    "birth_year": _t("persons", facts.birth_year, False),
    "inventor_yes_no": _t("inventions", lambda t, s: anchors.yes_no(t, s, "inventions"), False),
    "scientist_yes_no": _t("discoveries", lambda t, s: anchors.yes_no(t, s, "discoveries"), False),
}
for fam in numeric.FAMILIES:  # Block D
    POOLS[f"numeric_{fam}"] = Pool(
        "numeric", source="numeric", adapter=fam, category=fam, mcq=False
    )
for tab in (*humanities.HUMANITIES, *humanities.PHILOSOPHY):  # Blocks E and F
    for kind, fn, is_mcq in (
        ("creator", humanities.creator, True),
        ("work_by", humanities.work_by, True),
        ("year", humanities.year, False),
        ("yes_no", humanities.yes_no, False),
    ):
        POOLS[f"{tab}_{kind}"] = _t(tab, lambda t, s, f=fn, tb=tab: f(t, s, tb), is_mcq)


def table_candidates(name: str, tables: dict, seed: int) -> Iterator[tuple[str, int, Candidate]]:
    pool = POOLS[name]
    for c in pool.make(tables, seed):
        yield pool.source, c.meta["row"], c


def numeric_mcq(problem: numeric.Problem, seed: int) -> Candidate:
    """A Block D style problem asked as MCQ with three nearby wrong numbers (Block A)."""
    import random
    from fractions import Fraction

    value = Fraction(problem.answer)
    rng = random.Random(f"{seed}:numeric_mcq:{problem.family}:{problem.index}")
    if value.denominator == 1:
        spread = max(4, abs(value.numerator) // 5)
        d = mcq.near_numbers(value.numerator, rng, spread=spread, lo=0)
        wrong = [str(x) for x in d]
    elif "/" in problem.answer:  # a proper fraction: other proper fractions close to it
        pool = sorted(
            {Fraction(a, b) for b in range(2, 13) for a in range(1, b)} - {value},
            key=lambda f: (abs(f - value), f),
        )
        wrong = [_same_kind(f, problem.answer) for f in mcq.pick(value, pool[:8], rng)]
    else:  # money: quarter-dollar steps around the answer
        step = Fraction(1, 4)
        offs = [k for k in range(-6, 7) if k and value + k * step > 0]
        wrong = [_same_kind(value + k * step, problem.answer) for k in mcq.pick(0, offs, rng)]
    return Candidate(
        key=f"numeric_mcq:{problem.family}:{problem.index}",
        question=problem.question,
        answer=problem.answer,
        distractors=wrong,
        category="arithmetic",
        meta={
            "generator": "numeric",
            "family": problem.family,
            "variant": problem.variant,
            "seed": problem.seed,
            "index": problem.index,
            "template": "numeric_mcq",
        },
    )


def _same_kind(x, like: str) -> str:
    if "/" in like:
        return f"{x.numerator}/{x.denominator}" if x.denominator != 1 else str(x.numerator)
    return numeric.fmt(x)
