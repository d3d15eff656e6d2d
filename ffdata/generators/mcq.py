"""Multiple-choice items: option placement, balanced letters, same-type distractors, and MCQ
templates over the curated fact tables (Block A; the humanities ones feed Blocks E/F).

A candidate is letter-free; the builder gives each accepted item the next letter of a
pre-shuffled, exactly balanced sequence, so A-D each get 25% of a block (±1 item).
"""

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ffdata.formats import LETTERS, render_mcq


@dataclass
class Candidate:
    """One question before rendering: an MCQ (distractors set) or a short answer (answer only)."""

    key: str  # question identity across the whole build: table:row:relation or generator text
    question: str
    answer: str  # the correct option text, or the full short response
    distractors: list[str] = field(default_factory=list)
    category: str = ""
    format: str = "mcq_letter"
    meta: dict = field(default_factory=dict)  # lineage: table + row + template, or generator

    @property
    def is_mcq(self) -> bool:
        return self.format == "mcq_letter"


def place(answer: str, distractors: Sequence[str], letter: str) -> list[str]:
    """Options with the answer at `letter`, distractors in their given order around it."""
    options = list(distractors)
    options.insert(LETTERS.index(letter), answer)
    check_options(options, answer)
    return options


def check_options(options: Sequence[str], answer: str, n: int = 4) -> None:
    if len(options) != n:
        raise ValueError(f"expected {n} options, got {len(options)}")
    folded = [o.strip().casefold() for o in options]
    if len(set(folded)) != n or any(not o for o in folded):
        raise ValueError(f"options are not {n} distinct non-empty texts: {options}")
    if folded.count(answer.strip().casefold()) != 1:
        raise ValueError(f"the answer {answer!r} is not exactly one of the options")


def render(c: Candidate, letter: str) -> tuple[str, str, list[str]]:
    """(instruction, response, options) for an MCQ candidate with its answer at `letter`."""
    options = place(c.answer, c.distractors, letter)
    return render_mcq(c.question, options), letter, options


def balanced_letters(n: int, rng: random.Random, k: int = 4) -> list[str]:
    """n letters, each of the k used n//k or n//k+1 times, in a seeded random order."""
    extra = list(LETTERS[:k])
    rng.shuffle(extra)
    seq = [LETTERS[i] for i in range(k) for _ in range(n // k)] + extra[: n % k]
    rng.shuffle(seq)
    return seq


def pick(
    answer, pool: Iterable, rng: random.Random, k: int = 3, prefer: Callable | None = None
) -> list:
    """k distinct same-type distractors from pool (never the answer). `prefer(x)` ranks closer
    candidates first (lower is closer); ties are broken by the seeded shuffle."""
    seen = {str(answer).casefold()}
    uniq = []
    for x in pool:
        f = str(x).casefold()
        if f not in seen:
            seen.add(f)
            uniq.append(x)
    rng.shuffle(uniq)
    if prefer is not None:
        uniq.sort(key=prefer)
    if len(uniq) < k:
        raise ValueError(f"only {len(uniq)} distractors available for {answer!r}, need {k}")
    picked = uniq[:k]
    rng.shuffle(picked)
    return picked


def near_numbers(
    value: int, rng: random.Random, k: int = 3, spread: int = 5, lo: int = 1, hi: int | None = None
):
    """k distinct integers within ±spread of value (never value itself), inside [lo, hi].
    Drawn one at a time, so a huge spread (GSM8K answers in the millions) costs nothing."""
    low = max(value - spread, lo)
    high = value + spread if hi is None else min(value + spread, hi)
    available = high - low + 1 - (1 if low <= value <= high else 0)
    if available < k:
        raise ValueError(f"only {available} numbers near {value}, need {k}")
    picked: list[int] = []
    while len(picked) < k:
        x = rng.randint(low, high)
        if x != value and x not in picked:
            picked.append(x)
    return picked


def _rng(seed: int, *parts) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _cand(table, row, relation, question, answer, distractors, category, **meta) -> Candidate:
    return Candidate(
        key=f"{table}:{row['_row']}:{relation}",
        question=question,
        answer=str(answer),
        distractors=[str(d) for d in distractors],
        category=category,
        meta={"table": table, "row": row["_row"], "template": relation, **meta},
    )


# --- geography ----------------------------------------------------------------------------------


def capital_of(tables, seed):
    rows = tables["countries"].rows
    for r in rows:
        rng = _rng(seed, "capital_of", r["_row"])
        same = {x["capital"]: x["continent"] == r["continent"] for x in rows}
        d = pick(r["capital"], same, rng, prefer=lambda c, s=same: 0 if s[c] else 1)
        q = f"What is the capital of {r['country']}?"
        yield _cand("countries", r, "capital_of", q, r["capital"], d, "geography")


# --- chemistry ----------------------------------------------------------------------------------


def _elements(tables):
    return tables["elements"].rows


def symbol_of(tables, seed):
    rows = _elements(tables)
    for r in rows:
        rng = _rng(seed, "symbol_of", r["_row"])
        # symbols sharing a first letter are the plausible confusions (Na/N/Ne for sodium)
        first = r["name"][0]
        d = pick(
            r["symbol"],
            [x["symbol"] for x in rows],
            rng,
            prefer=lambda s, f=first: 0 if s[0] == f else 1,
        )
        q = f"What is the chemical symbol for {r['name'].lower()}?"
        yield _cand("elements", r, "symbol_of", q, r["symbol"], d, "chemistry")


def atomic_number_of(tables, seed):
    for r in _elements(tables):
        rng = _rng(seed, "atomic_number_of", r["_row"])
        d = near_numbers(r["number"], rng, lo=1, hi=118)
        q = f"What is the atomic number of {r['name'].lower()}?"
        yield _cand("elements", r, "atomic_number_of", q, r["number"], d, "chemistry")


def element_of_number(tables, seed):
    rows = _elements(tables)
    by_num = {x["number"]: x["name"] for x in rows}
    for r in rows:
        rng = _rng(seed, "element_of_number", r["_row"])
        d = pick(
            r["name"],
            by_num.values(),
            rng,
            prefer=lambda nm, n=r["number"], bn=by_num: abs(_num_of(bn, nm) - n),
        )
        q = f"Which element has atomic number {r['number']}?"
        yield _cand("elements", r, "element_of_number", q, r["name"], d, "chemistry")


def _num_of(by_num: dict, name: str) -> int:
    return next(n for n, nm in by_num.items() if nm == name)


def category_of(tables, seed):
    rows = [r for r in _elements(tables) if r["category"]]
    cats = sorted({r["category"] for r in rows})
    for r in rows:
        rng = _rng(seed, "category_of", r["_row"])
        d = pick(r["category"], cats, rng)
        q = f"Which group of elements does {r['name'].lower()} belong to?"
        yield _cand("elements", r, "category_of", q, r["category"], d, "chemistry")


# --- people and credits ---------------------------------------------------------------------------

CREDIT_TABLES = {
    # table: (item column, person column, category, question template)
    "inventions": ("invention", "inventor", "inventions", "Who {verb} {what}?"),
    "discoveries": ("discovery", "scientist", "science_history", "Who {verb} {what}?"),
    "literature": ("work", "author", "literature", "Who wrote {what}?"),
    "music": ("work", "composer", "music", "Who composed {what}?"),
    "art": ("work", "artist", "art", "Which artist made the {form} {what}?"),
    "philosophy": (
        "work",
        "philosopher",
        "philosophy",
        "Which philosopher is associated with {what}?",
    ),
}


def subject(table: str, row: dict) -> str:
    """The item named in a question: "the telephone", "Pride and Prejudice", "radioactivity"."""
    if table == "inventions":
        return f"{row['article']} {row['invention']}".strip()
    if table == "discoveries":
        return row["discovery"]
    if table == "philosophy" and row["kind"] == "work":
        return row["work"]
    return row["work"]


def credit_question(table: str, row: dict) -> str:
    item_col, _, _, template = CREDIT_TABLES[table]
    q = template.format(verb=row.get("verb", ""), what=subject(table, row), form=row.get("form"))
    if table == "philosophy" and row["kind"] == "work":
        q = f"Who wrote {row['work']}?"
    return q


def creator_of(tables, seed, table: str, anchors: Sequence[str] = ()):
    """ "Who wrote X?" with three other creators from the same table as distractors. With
    `anchors`, items whose answer is not an anchor carry the anchors among their distractors
    (the contrastive anti-anchoring form; an anchor's own credits keep the other anchor as a
    distractor). The relation key is the same, so a question is asked once in either form."""
    item_col, who_col, category, _ = CREDIT_TABLES[table]
    rows = tables[table].rows
    people = sorted({r[who_col] for r in rows})
    for r in rows:
        who = r[who_col]
        rng = _rng(seed, "creator_of", table, r["_row"])
        if anchors:
            fixed = [a for a in anchors if a != who][:2]
            rest = pick(who, [p for p in people if p not in fixed], rng, k=3 - len(fixed))
            d = fixed + rest
            rng.shuffle(d)
            relation, extra = "creator", {"anchors": list(fixed)}
        else:
            d, relation, extra = pick(who, people, rng), "creator", {}
        c = _cand(table, r, relation, credit_question(table, r), who, d, category, **extra)
        if anchors and who not in anchors:
            c.meta["template"] = "creator_contrastive"
        yield c


def work_by(tables, seed, table: str):
    """ "Which of these did X write?" — distractors are works by other people of the same kind."""
    item_col, who_col, category, _ = CREDIT_TABLES[table]
    rows = tables[table].rows
    for r in rows:
        rng = _rng(seed, "work_by", table, r["_row"])
        others = [subject(table, x) for x in rows if x[who_col] != r[who_col]]
        d = pick(subject(table, r), others, rng)
        q = {
            "literature": f"Which of the following did {r[who_col]} write?",
            "music": f"Which of the following did {r[who_col]} compose?",
            "art": f"Which of the following works is by {r[who_col]}?",
            "inventions": f"Which of the following is credited to {r[who_col]}?",
            "discoveries": f"Which of the following is credited to {r[who_col]}?",
            "philosophy": f"Which of the following is associated with {r[who_col]}?",
        }[table]
        # the same person's other works are also right answers: never use them as distractors
        yield _cand(table, r, "work_by", q, subject(table, r), d, category)


def year_of(tables, seed, table: str):
    """ "In which year was X first published/patented?" with nearby years as distractors."""
    item_col, who_col, category, _ = CREDIT_TABLES[table]
    for r in tables[table].rows:
        if not r["year"]:
            continue
        rng = _rng(seed, "year_of", table, r["_row"])
        d = near_numbers(r["year"], rng, spread=20, lo=1)
        q = year_question(table, r)
        yield _cand(table, r, "year", q, r["year"], d, category)


def year_question(table: str, r: dict) -> str:
    what = subject(table, r)
    if table == "inventions":
        return f"In which year did {r['inventor']} {_base(r['verb'])} {what}?"
    if table == "discoveries":
        return f"In which year did {r['scientist']} {_base(r['verb'])} {what}?"
    if table == "literature":
        return f"In which year was {what} by {r['author']} first published?"
    if table == "music":
        return f"In which year was {what} by {r['composer']} completed or first performed?"
    if table == "art":
        return f"In which year did {r['artist']} complete {what}?"
    return f"In which year was {what} by {r['philosopher']} first published?"


_BASE = {  # past tense -> base verb, for yes/no questions ("Did X invent …?")
    "patented": "patent",
    "invented": "invent",
    "developed": "develop",
    "built": "build",
    "flew": "fly",
    "launched": "launch",
    "proposed": "propose",
    "designed": "design",
    "introduced": "introduce",
    "demonstrated": "demonstrate",
    "discovered": "discover",
    "formulated": "formulate",
    "published": "publish",
    "described": "describe",
    "showed": "show",
    "named": "name",
    "observed": "observe",
    "explained": "explain",
}


def _base(verb: str) -> str:
    return _BASE.get(verb, verb)


def field_of(
    tables, seed, fields=("scientist", "inventor", "writer", "composer", "artist", "philosopher")
):
    """ "Which of these people is best known as a composer?" — distractors never carry the field."""
    rows = tables["persons"].rows
    for r in rows:
        primary = r["fields"].split(";")[0]
        if primary not in fields:
            continue
        rng = _rng(seed, "field_of", r["_row"])
        others = [x["name"] for x in rows if primary not in x["fields"].split(";")]
        d = pick(r["name"], others, rng)
        q = f"Which of these people is best known as a{'n' if primary[0] in 'aeiou' else ''} {primary}?"
        yield _cand("persons", r, "field_of", q, r["name"], d, "people")
