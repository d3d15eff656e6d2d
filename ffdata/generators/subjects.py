"""Block A across subjects: MCQ over the curated knowledge tables, and the subject and fact
labels of every pool.

A knowledge table (`manifests/tables/<subject table>.csv`) holds one fact per row: `entity`,
`relation`, `value`, plus `source` and `licence`. RELATIONS says how a relation is asked: forward
("What is the currency of Japan?" -> the value, with other values of the relation as
distractors) and, where it has a `which` template, in reverse ("Which of these animals is a
reptile?" -> the entity, with entities of other values as distractors, so exactly one option is
right). Both forms state the same fact and carry the same fact id, so the builder keeps a fact
either in validation or in training, never both.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from ffdata.errors import FFDataError
from ffdata.generators.mcq import Candidate, near_numbers, pick


@dataclass(frozen=True)
class Relation:
    # Phrasings, one picked per item: {e} entity, {the_e} with "the" where names need it, {a_e}
    # with a/an; {v}, {a_v}, {the_v} the value likewise. Three or more, so no wording dominates.
    ask: tuple[str, ...]  # forward: the answer is the value
    which: tuple[str, ...] = ()  # reverse: the answer is the entity; () = not asked in reverse
    kind: str = "text"  # "text" | "year" (near years) | "count" (near small numbers)
    choices: tuple[str, ...] = ()  # the relation's full value set, when it is small and closed
    lo: int = 1  # bounds of a "count" relation's distractors
    hi: int | None = None


RELATIONS: dict[str, Relation] = {
    # astronomy
    "moon_of": Relation(
        ("{e} is a moon of which planet?", "Which planet does the moon {e} orbit?",
         "The moon {e} belongs to which planet?"),
        ("Which of these is a moon of {v}?", "Which of these moons orbits {v}?",
         "{v} has which of these moons?"),
    ),
    "planet_position": Relation(
        ("Counting outward from the Sun, what is the position of {e} among the planets?",
         "Where does {e} come in the order of the planets from the Sun?",
         "In the order of planets from the Sun, which place does {e} take?"),
        ("Which planet is the {v} planet from the Sun?",
         "Counting from the Sun, which planet comes {v}?",
         "Which planet is {v} in order of distance from the Sun?"),
    ),
    # biology
    "animal_group": Relation(
        ("To which group of animals does the {e} belong?", "What kind of animal is the {e}?",
         "The {e} is classified as which kind of animal?"),
        ("Which of these animals is {a_v}?", "Which of these is {a_v}?",
         "Which animal among these is {a_v}?"),
    ),
    # medicine and health
    "pathogen_type": Relation(
        ("What kind of pathogen causes {e}?", "{e} is caused by what kind of pathogen?",
         "What type of infectious agent causes {e}?"),
        ("Which of these illnesses is caused by {a_v}?", "Which of these infections does {a_v} cause?",
         "{a_v} is the cause of which of these illnesses?"),
    ),
    "deficiency_of": Relation(
        ("A lack of which nutrient causes {e}?", "{e} results from a deficiency of what?",
         "Which deficiency leads to {e}?"),
        ("Which disease is caused by a lack of {v}?", "A deficiency of {v} causes which disease?",
         "Which condition results from too little {v}?"),
    ),
    "organ_makes": Relation(
        ("Which organ of the human body produces {e}?", "In the human body, {e} is made by which organ?",
         "Which organ makes {e} in the human body?"),
    ),
    # history, law and government
    "event_year": Relation(
        ("In which year did {e} take place?", "When did {e} happen?",
         "What year saw {e}?"),
        kind="year",
    ),
    "built_by": Relation(
        ("Which civilization built {e}?", "{e} was built by which civilization?",
         "Who built {e}?"),
        ("Which of these was built by the {v}?", "Which of these sites did the {v} build?",
         "The {v} built which of these?"),
    ),
    "headquarters": Relation(
        ("In which city is the headquarters of {the_e}?", "Where does {the_e} have its headquarters?",
         "{the_e} is headquartered in which city?"),
        ("Which of these organizations has its headquarters in {v}?",
         "Which of these organizations is based in {v}?",
         "{v} is the seat of which of these organizations?"),
    ),
    # literature, music, art, philosophy
    "character_in": Relation(
        ("In which work does the character {e} appear?", "{e} is a character in which work?",
         "Which work features the character {e}?"),
        ("Which of these characters appears in {v}?", "Which of these is a character in {v}?",
         "{v} features which of these characters?"),
    ),
    "instrument_family": Relation(
        ("To which family of musical instruments does the {e} belong?",
         "The {e} is part of which instrument family?",
         "Which family of instruments is the {e} in?"),
        ("Which of these is {a_v} instrument?", "Which of these instruments belongs to the {v} family?",
         "Which of these counts as {a_v} instrument?"),
    ),
    "art_movement": Relation(
        ("With which art movement is {e} most closely associated?",
         "{e} is best known as an artist of which movement?",
         "Which art movement is {e} chiefly linked with?"),
        ("Which of these artists is most closely associated with {v}?",
         "Which of these artists is a leading figure of {v}?",
         "{v} is chiefly linked with which of these artists?"),
    ),
    "school_of": Relation(
        ("With which school of thought is {e} most closely associated?",
         "{e} is a leading figure of which school of thought?",
         "Which philosophical school is {e} chiefly linked with?"),
        ("Which of these thinkers is most closely associated with {v}?",
         "Which of these thinkers is a leading figure of {v}?",
         "{v} is chiefly linked with which of these thinkers?"),
    ),
    # economics
    "currency_of": Relation(
        ("What is the currency of {the_e}?", "Which currency is used in {the_e}?",
         "What money does {the_e} use?"),
        ("Which of these countries uses the {v}?", "The {v} is the currency of which of these countries?",
         "Which of these countries has the {v} as its currency?"),
    ),
    # geography
    "state_capital": Relation(
        ("What is the capital of the U.S. state of {e}?", "Which city is the capital of {e}, a U.S. state?",
         "The U.S. state of {e} has which capital?"),
        ("{v} is the capital of which U.S. state?", "Which U.S. state has {v} as its capital?",
         "Of which U.S. state is {v} the capital?"),
    ),
    "located_in": Relation(
        ("In which country is {e}?", "{e} is located in which country?",
         "Which country is home to {e}?"),
        ("Which of these is in {the_v}?", "Which of these landmarks is located in {the_v}?",
         "A visitor to {the_v} could see which of these?"),
    ),
    # chemistry
    "formula_of": Relation(
        ("What is the chemical formula of {e}?", "Which formula represents {e}?",
         "How is {e} written as a chemical formula?"),
        ("Which substance has the chemical formula {v}?", "{v} is the formula of which substance?",
         "Which compound is written {v}?"),
    ),
    "element_block": Relation(
        ("In which block of the periodic table is {e}?", "{e} belongs to which block of the periodic table?",
         "Which periodic-table block contains {e}?"),
        choices=("s-block", "p-block", "d-block", "f-block"),
    ),
    "element_group": Relation(
        ("In which group of the periodic table is {e}?", "{e} sits in which group of the periodic table?",
         "What is the group number of {e} in the periodic table?"),
        kind="count",
    ),
    # physics
    "si_unit": Relation(
        ("What is the SI unit of {e}?", "In SI units, {e} is measured in what?",
         "Which SI unit is used for {e}?"),
        ("Which quantity has the SI unit {v}?", "The {v} is the SI unit of which quantity?",
         "What does the SI unit called the {v} measure?"),
    ),
    # mathematics
    "polygon_sides": Relation(
        ("How many sides does {a_e} have?", "What is the number of sides of {a_e}?",
         "{a_e} has how many sides?"),
        ("Which polygon has {v} sides?", "What is a polygon with {v} sides called?",
         "A polygon with exactly {v} sides is called what?"),
        kind="count",
        lo=3,
    ),
    "solid_faces": Relation(
        ("How many faces does {a_e} have?", "What is the number of faces of {a_e}?",
         "{a_e} has how many faces?"),
        ("Which Platonic solid has {v} faces?", "What is the Platonic solid with {v} faces called?",
         "A Platonic solid with exactly {v} faces is called what?"),
        kind="count",
        lo=4,
    ),
}  # fmt: skip

# Table -> subject area (the `subject` label of every item drawn from it).
KNOWLEDGE_TABLES = {
    "astronomy": "astronomy",
    "biology": "biology",
    "health": "medicine and health",
    "history": "history",
    "government": "law and government",
    "literature_characters": "literature",
    "instruments": "music",
    "art_movements": "art",
    "schools": "philosophy",
    "currencies": "economics",
    "us_states": "geography",
    "landmarks": "geography",
    "compounds": "chemistry",
    "element_groups": "chemistry",
    "physics": "physics",
    "mathematics": "mathematics",
}

# Names read with "the" inside a sentence ("the currency of the United Kingdom").
THE_NAMES = {
    "United States", "United Kingdom", "Netherlands", "Philippines", "Czech Republic",
    "Dominican Republic", "Central African Republic", "Democratic Republic of the Congo",
    "Republic of the Congo", "Bahamas", "Gambia", "Maldives", "United Arab Emirates",
    "Solomon Islands", "Marshall Islands", "Comoros", "Seychelles", "Vatican City",
    "United Nations", "European Union", "International Monetary Fund", "World Bank",
    "World Health Organization", "World Trade Organization", "International Criminal Court",
    "International Court of Justice", "International Committee of the Red Cross",
    "African Union", "Organization of American States", "European Central Bank",
    "International Olympic Committee", "Food and Agriculture Organization",
    "International Atomic Energy Agency", "International Labour Organization",
    "Council of Europe", "Association of Southeast Asian Nations",
    "Organisation for Economic Co-operation and Development", "World Meteorological Organization",
    "Universal Postal Union", "International Telecommunication Union",
}  # fmt: skip


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _the(name: str) -> str:
    return f"the {name}" if name in THE_NAMES else name


def _fill(phrasings: tuple[str, ...], rng, e: str = "", v: str = "") -> str:
    """One of the phrasings (seeded), filled in; a sentence starts with a capital letter."""
    text = rng.choice(phrasings).format(
        e=e, the_e=_the(e), a_e=_a(e), v=v, a_v=_a(v), the_v=_the(v)
    )
    return text[0].upper() + text[1:]


def fact_id(table: str, row: int, family: str = "row") -> str:
    return f"{table}:{row}:{family}"


def _cand(table, r, template, question, answer, distractors, family) -> Candidate:
    return Candidate(
        key=f"{table}:{r['_row']}:{template}",
        question=question,
        answer=str(answer),
        distractors=[str(d) for d in distractors],
        category=KNOWLEDGE_TABLES.get(table, table),
        meta={
            "table": table,
            "row": r["_row"],
            "template": template,
            "facts": [fact_id(table, r["_row"], family)],
            "fact_entity": r.get("entity", ""),
        },
    )


def _rng(seed, *parts) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _relation(table, r) -> Relation:
    rel = RELATIONS.get(r["relation"])
    if rel is None:
        raise FFDataError(
            f"{table}.csv:{r['_line']}: field 'relation': unknown relation {r['relation']!r} "
            f"(known: {sorted(RELATIONS)})"
        )
    return rel


@lru_cache(maxsize=65536)
def _alike(option: str, answer: str) -> bool:
    """A distractor too close to the key to be fairly wrong: the same word ("pound" and "pound
    sterling") or nearly the same spelling ("rial" and "riyal", "krone" and "krona")."""
    a, b = option.casefold(), answer.casefold()
    if a == b:
        return False  # pick() leaves the key out itself
    return a in b or b in a or SequenceMatcher(None, a, b).ratio() >= 0.6


class Ranks:
    """The key's rank among its sorted numeric options (how many distractors fall below it),
    spread evenly over a pool: each item takes the least used rank it can have. A key at the
    bottom of its range (group 1, period 1) can only be the smallest option; the others make
    up for it, so no rank is a shortcut."""

    def __init__(self, k: int = 3):
        self.used = [0] * (k + 1)

    def take(self, value: int, lo: int, hi: int | None = None) -> int:
        top = min(len(self.used) - 1, value - lo)
        bottom = 0 if hi is None else max(0, len(self.used) - 1 - (hi - value))
        return self.between(bottom, top)

    def between(self, bottom: int, top: int) -> int:
        rank = min(range(bottom, top + 1), key=lambda r: (self.used[r], r))
        self.used[rank] += 1
        return rank


@lru_cache(maxsize=4096)
def _sides(answer: str, values: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Distinct other values shorter and longer than the key (same length and alike: neither)."""
    seen, shorter, longer = {answer.casefold()}, [], []
    for v in values:
        if v.casefold() in seen or _alike(v, answer):
            continue
        seen.add(v.casefold())
        if len(v) != len(answer):
            (shorter if len(v) < len(answer) else longer).append(v)
    return tuple(shorter), tuple(longer)


def length_ranks(answers: list[str], values) -> list[int | None]:
    """For each key, how many of its three distractors are shorter: spread as evenly as each
    key allows, the most constrained keys first ("bird" can only be the shortest animal
    group), so neither the shortest nor the longest option is a shortcut. None: too few values
    on a side, any three will do."""
    ranges = []
    for a in answers:
        shorter, longer = _sides(a, tuple(values))
        ranges.append((max(0, 3 - len(longer)), min(3, len(shorter))))
    return spread_ranks(ranges)


def spread_ranks(ranges: list[tuple[int, int]]) -> list[int | None]:
    """A rank within each (bottom, top) range, as evenly spread as the ranges allow: the
    narrowest ranges choose first. None where the range is empty."""
    ranks, out = Ranks(), [None] * len(ranges)
    for i in sorted(range(len(ranges)), key=lambda i: (ranges[i][1] - ranges[i][0], i)):
        bottom, top = ranges[i]
        if bottom <= top:
            out[i] = ranks.between(bottom, top)
    return out


def _by_length(answer: str, values, rng, rank: int | None) -> list[str]:
    """Three distractors, `rank` of them shorter than the key and the rest longer."""
    if rank is None:
        return pick(answer, [v for v in values if not _alike(v, answer)], rng)
    shorter, longer = (list(x) for x in _sides(answer, tuple(values)))
    rng.shuffle(shorter)
    rng.shuffle(longer)
    out = shorter[:rank] + longer[: 3 - rank]
    rng.shuffle(out)
    return out


def _near(value: str, rel: Relation, rng, ranks: Ranks) -> list[str]:
    """Nearby numbers, the key at the rank `ranks` gives it."""
    n = int(value)
    if rel.kind == "year":
        return [str(x) for x in near_numbers(n, rng, spread=15, lo=1, rank=ranks.take(n, 1))]
    rank = ranks.take(n, rel.lo, rel.hi)
    return [str(x) for x in near_numbers(n, rng, spread=3, lo=rel.lo, hi=rel.hi, rank=rank)]


# Tables whose every relation is a number or a closed choice set (no distractors picked by
# length): their `_ask` pool yields rows in a seeded order with the key's rank spread along it,
# and the builder keeps that order (Pool.ordered), so the prefix a quota draws is balanced, not
# only the whole table (element_groups_ask drew 76 numeric items with one rank at 21%). A test
# checks this list against the tables' relations.
RANK_ORDERED_TABLES = frozenset({"element_groups", "mathematics"})


def forward(tables, seed, table: str) -> Iterator[Candidate]:
    """ "What is the currency of Japan?" -> the value; distractors are other values."""
    rows = tables[table].rows
    if table in RANK_ORDERED_TABLES:
        rows = list(rows)
        random.Random(f"{seed}:subject_order:{table}").shuffle(rows)
    values: dict[str, list[str]] = {}
    for r in rows:
        values.setdefault(r["relation"], []).append(r["value"])
    ranks: dict[str, Ranks] = {}  # per relation
    by_length = {}  # row -> how many distractors are shorter than its key
    for relation, vals in values.items():
        rel_rows = [r for r in rows if r["relation"] == relation]
        for r, k in zip(rel_rows, length_ranks([r["value"] for r in rel_rows], vals), strict=True):
            by_length[r["_row"]] = k
    for r in rows:
        rel = _relation(table, r)
        rng = _rng(seed, "subject_ask", table, r["_row"])
        if rel.kind in ("year", "count"):
            d = _near(r["value"], rel, rng, ranks.setdefault(r["relation"], Ranks()))
        else:
            # a closed value set (the four blocks) is asked as it is
            if rel.choices:
                d = pick(r["value"], rel.choices, rng)
            else:
                d = _by_length(r["value"], values[r["relation"]], rng, by_length[r["_row"]])
        q = _fill(rel.ask, _rng(seed, "subject_phrase", table, r["_row"]), e=r["entity"])
        yield _cand(table, r, r["relation"], q, r["value"], d, "row")


def reverse(tables, seed, table: str) -> Iterator[Candidate]:
    """ "Which of these animals is a reptile?" -> the entity; every distractor is an entity
    of the same relation with another value, so exactly one option is right."""
    rows = tables[table].rows
    for r in rows:
        rel = _relation(table, r)
        if not rel.which:
            continue
        others = [
            x["entity"]
            for x in rows
            if x["relation"] == r["relation"] and x["value"].casefold() != r["value"].casefold()
        ]
        same = {x["entity"].casefold() for x in rows if x["relation"] == r["relation"]
                and x["value"].casefold() == r["value"].casefold()}  # fmt: skip
        others = [o for o in others if o.casefold() not in same]
        rng = _rng(seed, "subject_which", table, r["_row"])
        d = pick(r["entity"], others, rng)
        q = _fill(rel.which, _rng(seed, "subject_which_phrase", table, r["_row"]), v=r["value"])
        yield _cand(table, r, r["relation"] + "_which", q, r["entity"], d, "row")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def person_century(tables, seed, column: str) -> Iterator[Candidate]:
    """ "In which century was Jane Austen born?" from persons.csv (born/died years). Years
    ending in 00 are left out: whether 1900 is in the 19th or the 20th century is a convention.
    No option is after the 21st century (a future century would be wrong on its face); the
    key's rank among the options is spread evenly (ranks for the last centuries first)."""
    phrasings = {
        "born": ("In which century was {e} born?", "{e} was born in which century?",
                 "During which century was {e} born?"),
        "died": ("In which century did {e} die?", "{e} died in which century?",
                 "During which century did {e} die?"),
    }[column]  # fmt: skip
    rows = [r for r in tables["persons"].rows if r[column] and r[column] % 100]
    centuries = [(r[column] - 1) // 100 + 1 for r in rows]
    ranks = spread_ranks([(max(0, 3 - (21 - c)), min(3, c - 1)) for c in centuries])
    for r, century, rank in zip(rows, centuries, ranks, strict=True):
        rng = _rng(seed, "century", column, r["_row"])
        near = near_numbers(century, rng, spread=3, lo=1, hi=21, rank=rank)
        d = [f"{_ordinal(c)} century" for c in near]
        q = _fill(phrasings, _rng(seed, "century_phrase", column, r["_row"]), e=r["name"])
        c = _cand("persons", r, f"{column}_century", q, f"{_ordinal(century)} century", d, column)
        c.category = "history"
        c.meta["fact_entity"] = r["name"]
        # born and died in the same century: either answer gives the other away
        c.meta["facts"] = [fact_id("persons", r["_row"], f) for f in ("born", "died")]
        yield c


def country_in(tables, seed) -> Iterator[Candidate]:
    """ "Which of these countries is in Africa?" — distractors lie on other continents (countries
    spanning two continents have no continent in the table and are never options)."""
    rows = [r for r in tables["countries"].rows if r["continent"]]
    for r in rows:
        rng = _rng(seed, "country_in", r["_row"])
        others = [x["country"] for x in rows if x["continent"] != r["continent"]]
        d = pick(r["country"], others, rng)
        q = _fill(
            ("Which of these countries is in {v}?", "Which of these countries lies in {v}?",
             "Which of these is a country in {v}?"),
            _rng(seed, "country_in_phrase", r["_row"]),
            v=r["continent"],
        )  # fmt: skip
        c = _cand("countries", r, "country_in", q, r["country"], d, "continent")
        c.category = "geography"
        c.meta["fact_entity"] = r["country"]
        yield c


def element_period(tables, seed) -> Iterator[Candidate]:
    """ "In which period of the periodic table is iron?" from elements.csv (periods 1-7)."""
    ranks = Ranks()
    for r in tables["elements"].rows:
        rng = _rng(seed, "element_period", r["_row"])
        # periods above 7 do not exist, which makes them wrong, not implausible
        rank = ranks.take(r["period"], 1)
        d = [str(x) for x in near_numbers(r["period"], rng, spread=3, lo=1, rank=rank)]
        q = _fill(
            ("In which period of the periodic table is {e}?",
             "{e} is in which period of the periodic table?",
             "Which period (row) of the periodic table contains {e}?"),
            _rng(seed, "period_phrase", r["_row"]),
            e=r["name"].lower(),
        )  # fmt: skip
        c = _cand("elements", r, "period_of", q, r["period"], d, "period")
        c.category = "chemistry"
        c.meta["fact_entity"] = r["name"]
        yield c


# Subject of every pool that is not a knowledge-table pool, and the fact a pool's items state
# about their table row: items of the same (table, row, family) state the same fact. "row": all
# the row's facts (a credit question names the work, the person and often the year).
POOL_SUBJECTS = {
    "arc_easy": "science", "arc_challenge": "science", "arc_easy_hf": "science",
    "arc_challenge_hf": "science", "openbookqa_hf": "science",
    "gsm8k_mcq": "arithmetic", "numeric_mcq": "arithmetic",
    "capital_of": "geography", "country_of_capital": "geography", "continent_of": "geography",
    "country_in": "geography",
    "symbol_of": "chemistry", "atomic_number_of": "chemistry", "element_period": "chemistry", "element_of_number": "chemistry",
    "element_category": "chemistry", "element_of_symbol": "chemistry",
    "element_discoverer": "chemistry",
    "inventor_contrastive": "history", "scientist_contrastive": "history",
    "invention_year": "history", "discovery_year": "history", "inventor_yes_no": "history",
    "scientist_yes_no": "history", "person_field": "history", "birth_year": "history",
    "born_century": "history", "died_century": "history",
    "misconceptions": "misconceptions",
}  # fmt: skip
FACT_FAMILIES = {
    "capital_of": "capital", "country_of_capital": "capital",
    "continent_of": "continent", "country_in": "continent",
    "symbol_of": "symbol", "element_of_symbol": "symbol",
    "atomic_number_of": "number", "element_of_number": "number",
    "element_category": "category", "element_discoverer": "discovered_by",
    "element_period": "period",
    "person_field": "fields", "birth_year": "born", "born_century": "born",
    "died_century": "died",
}  # fmt: skip


def subject_of(pool_name: str, c: Candidate) -> str:
    """The subject label: a knowledge table's subject, a pool's, or (hub MMLU rows) the row's own
    MMLU subject; humanities pools are named after their table (literature_creator -> literature)."""
    table = c.meta.get("table")
    if table in KNOWLEDGE_TABLES:
        return KNOWLEDGE_TABLES[table]
    if pool_name in POOL_SUBJECTS:
        return POOL_SUBJECTS[pool_name]
    if pool_name == "mmlu_aux_hf":
        return c.category or "mmlu"
    if pool_name.startswith("numeric_"):
        return "arithmetic"
    return pool_name.split("_")[0]


def facts_of(pool_name: str, c: Candidate) -> list[str]:
    """The facts (table:row:family) an item states; [] for items not drawn from a table."""
    if "facts" in c.meta:
        return list(c.meta["facts"])
    table, row = c.meta.get("table"), c.meta.get("row")
    if table is None or row is None:
        return []
    return [fact_id(table, row, FACT_FAMILIES.get(pool_name, "row"))]
