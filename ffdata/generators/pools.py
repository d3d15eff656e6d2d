"""Named pools of candidate items: what a manifest quota (`targets.<block>.<pool>: n`) draws from.

A pool yields (source name, source row, Candidate) in a deterministic order; the builder
shuffles it with the set seed (an `ordered` pool keeps its order: yes/no pools interleave true and
false statements so that any quota is balanced), skips questions already used anywhere in the
build, and takes what its quota asks. `source` is the manifest source the item is charged to (a table, a JSONL
file, a hub dataset or a generator), so the build record reconciles per source.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

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
    # the generator's order is part of the design (yes/no: true and false interleaved, so any
    # quota drawn from the front is balanced): builders take it as is instead of shuffling
    ordered: bool = False


def _t(table: str, make: Callable, mcq_: bool = True, ordered: bool = False) -> Pool:
    return Pool("table", make, source=table, mcq=mcq_, ordered=ordered)


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
    "inventor_yes_no": _t(
        "inventions", lambda t, s: anchors.yes_no(t, s, "inventions"), False, ordered=True
    ),
    "scientist_yes_no": _t(
        "discoveries", lambda t, s: anchors.yes_no(t, s, "discoveries"), False, ordered=True
    ),
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
        POOLS[f"{tab}_{kind}"] = _t(
            tab, lambda t, s, f=fn, tb=tab: f(t, s, tb), is_mcq, ordered=kind == "yes_no"
        )


def table_candidates(name: str, tables: dict, seed: int) -> Iterator[tuple[str, int, Candidate]]:
    pool = POOLS[name]
    for c in pool.make(tables, seed):
        yield pool.source, c.meta["row"], c


def numeric_mcq(problem: numeric.Problem, seed: int) -> Candidate:
    """A Block D style problem asked as MCQ (Block A). Wrong options are the answers of typical
    slips (numeric.mistakes), topped up with near values, all written in the key's format (same
    decimals, proper fractions in lowest terms); the key's rank among the sorted options is drawn
    uniformly, so neither "pick a middle value" nor "pick the odd format" finds it."""
    rng = random.Random(f"{seed}:numeric_mcq:{problem.family}:{problem.index}")
    value, key = Fraction(problem.answer), problem.answer
    shape = _shape(key)
    slips = numeric.mistakes(problem.family, problem.variant, problem.question)
    fill = _near(value, shape, rng)
    seen, below, above = {key}, [], []
    for x in [*slips, *fill]:
        text = _render(x, shape)
        if text is None or text in seen:
            continue
        seen.add(text)
        (below if x < value else above).append(text)
    # the key's rank cycles with the problem's place in the stream the builder draws in order
    # (family by family, index by index), so any prefix of it, such as the ~100 validation
    # items, has each rank a quarter of the time, not only the whole pool
    place = problem.index * len(numeric.FAMILIES) + numeric.FAMILIES.index(problem.family)
    wrong = mcq.ranked(key, below, above, rng, rank=place % 4)
    if all(_look(w) != _look(key) for w in wrong):  # the key alone in its format: swap one in
        for i, w in enumerate(wrong):
            side = below if Fraction(w) < value else above
            alike = [x for x in side if _look(x) == _look(key) and x not in wrong]
            if alike:
                wrong[i] = alike[0]
                break
    return Candidate(
        key=f"numeric_mcq:{problem.family}:{problem.index}",
        question=problem.question,
        answer=key,
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


def _look(text: str) -> tuple:
    """How an option is written: a fraction's denominator parity, a decimal's places."""
    if "/" in text:
        return ("fraction", int(text.split("/")[1]) % 2)
    return ("number", len(text.partition(".")[2]))


def _shape(text: str) -> str:
    if "/" in text:
        return "fraction"
    return "decimal" if "." in text else "integer"


def _render(x: Fraction, shape: str) -> str | None:
    """x written like the key, or None where it cannot be (or is not a sensible answer)."""
    if x <= 0:
        return None
    if shape == "fraction":
        return f"{x.numerator}/{x.denominator}" if x < 1 and x.denominator > 1 else None
    if shape == "integer":
        return str(x.numerator) if x.denominator == 1 else None
    cents = round(x * 100)  # money: a slip's result rounded to the cent, two decimals always
    return f"{cents // 100}.{cents % 100:02d}" if cents > 0 else None


def _near(value: Fraction, shape: str, rng: random.Random) -> list[Fraction]:
    """Filler near the key when the slips leave a side short, in a seeded order."""
    if shape == "fraction":  # proper fractions with the same denominator, then small ones
        d = value.denominator
        out = [Fraction(a, d) for a in range(1, d) if gcd(a, d) == 1]
        out += [Fraction(a, b) for b in range(2, 13) for a in range(1, b) if gcd(a, b) == 1]
        out.sort(key=lambda f: (f.denominator != d, abs(f - value)))
        return out[:14]
    step = Fraction(1) if shape == "integer" else Fraction(1, 4)
    spread = max(6, int(value / step) // 5)
    offs = [k for k in range(-spread, spread + 1) if k]
    rng.shuffle(offs)
    return [value + k * step for k in offs[:24]]


# --- Block A across subjects (knowledge tables) and Block B misconceptions ----------------------
from ffdata.generators import misconceptions, subjects  # noqa: E402

for _tab in subjects.KNOWLEDGE_TABLES:
    POOLS[f"{_tab}_ask"] = _t(
        _tab,
        lambda t, s, tb=_tab: subjects.forward(t, s, tb),
        ordered=_tab in subjects.RANK_ORDERED_TABLES,
    )
    POOLS[f"{_tab}_which"] = _t(_tab, lambda t, s, tb=_tab: subjects.reverse(t, s, tb))
POOLS["born_century"] = _t("persons", lambda t, s: subjects.person_century(t, s, "born"))
POOLS["died_century"] = _t("persons", lambda t, s: subjects.person_century(t, s, "died"))
POOLS["country_in"] = _t("countries", subjects.country_in)
POOLS["element_period"] = _t("elements", subjects.element_period)
POOLS["misconceptions"] = _t("misconceptions", misconceptions.items, False)
