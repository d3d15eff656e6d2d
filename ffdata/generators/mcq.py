"""Multiple-choice items: option placement, balanced letters, same-type distractors, and MCQ
templates over the curated fact tables (Block A; the humanities ones feed Blocks E/F).

A candidate is letter-free; the builder gives each accepted item the next letter of a
pre-shuffled, exactly balanced sequence, so A-D each get 25% of a block (±1 item).
"""

import hashlib
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ffdata.formats import LETTERS, render_mcq
from ffdata.generators import names


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
    value: int,
    rng: random.Random,
    k: int = 3,
    spread: int = 5,
    lo: int = 1,
    hi: int | None = None,
    rank: int | None = None,
):
    """k distinct integers near value (never value itself), inside [lo, hi]. They are drawn from
    a window of 2*spread+1 integers placed at a random offset around the value, so the value sits
    anywhere in it: the key is then like one more draw from the window, and neither its rank
    among the sorted options nor its distance to their mean tells it apart. Drawn one at a time,
    so a huge spread (GSM8K answers in the millions) costs nothing. `rank`: how many of the k
    fall below the value (a caller rotating it over a pool gets exactly uniform ranks); windows
    are redrawn until it holds, which keeps the draws alike given the rank."""
    for _ in range(64 if rank is not None else 1):
        picked = _window_draw(value, rng, k, spread, lo, hi)
        if rank is None or sum(x < value for x in picked) == rank:
            break
    return picked


def _window_draw(value, rng, k, spread, lo, hi) -> list[int]:
    width = 2 * spread
    start = value - rng.randint(0, width)
    if hi is not None:
        start = min(start, hi - width)
    start = max(start, lo)
    end = start + width if hi is None else min(start + width, hi)
    if end - start < k:
        raise ValueError(f"only {end - start} numbers near {value}, need {k}")
    picked: list[int] = []
    while len(picked) < k:
        x = rng.randint(start, end)
        if x != value and x not in picked:
            picked.append(x)
    return picked


def ranked(
    key, wrong_below: list, wrong_above: list, rng: random.Random, k: int = 3, rank=None
) -> list:
    """k wrong values around `key` with the key's rank among the k+1 sorted options drawn
    uniformly from the ranks the candidates allow (or `rank`, or the allowed rank nearest to
    it). Each side lists its candidates best first (plausible mistakes before filler), so the
    nearest-to-key are not preferred."""
    ranks = [r for r in range(k + 1) if r <= len(wrong_below) and k - r <= len(wrong_above)]
    if not ranks:
        raise ValueError(f"not enough wrong values around {key!r}")
    r = rng.choice(ranks) if rank is None else min(ranks, key=lambda x: (abs(x - rank), x))
    picked = wrong_below[:r] + wrong_above[: k - r]
    rng.shuffle(picked)
    return picked


def rotation(templates: Sequence[str], seed, table: str, relation: str, row: dict) -> str:
    """One of a question family's phrasings, rotating with the table row, so the phrasings share
    the family evenly (no single stem dominates a block)."""
    offset = int(hashlib.sha256(f"{seed}:{table}:{relation}".encode()).hexdigest()[:8], 16)
    return templates[(row["_row"] + offset) % len(templates)]


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
        c = names.country(r["country"])
        q = rotation(
            [
                f"What is the capital of {c}?",
                f"Which city is the capital of {c}?",
                f"What city serves as the capital of {c}?",
                f"The capital of {c} is which city?",
            ],
            seed, "countries", "capital_of", r,
        )  # fmt: skip
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
        n = r["name"].lower()
        q = rotation(
            [
                f"What is the chemical symbol for {n}?",
                f"Which symbol stands for {n} in the periodic table?",
                f"Which of these is the chemical symbol of {n}?",
            ],
            seed, "elements", "symbol_of", r,
        )  # fmt: skip
        yield _cand("elements", r, "symbol_of", q, r["symbol"], d, "chemistry")


def atomic_number_of(tables, seed):
    for r in _elements(tables):
        rng = _rng(seed, "atomic_number_of", r["_row"])
        rank = (r["_row"] + _rng(seed, "atomic_rank").randrange(4)) % 4  # rotates: uniform
        d = near_numbers(r["number"], rng, lo=1, hi=118, rank=rank)
        n = r["name"].lower()
        q = rotation(
            [
                f"What is the atomic number of {n}?",
                f"How many protons does an atom of {n} have?",
                f"Which atomic number does {n} have?",
            ],
            seed, "elements", "atomic_number_of", r,
        )  # fmt: skip
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
        k = r["number"]
        q = rotation(
            [
                f"Which element has atomic number {k}?",
                f"Which element has {k} protons in its nucleus?",
                f"Atomic number {k} belongs to which element?",
            ],
            seed, "elements", "element_of_number", r,
        )  # fmt: skip
        yield _cand("elements", r, "element_of_number", q, r["name"], d, "chemistry")


def _num_of(by_num: dict, name: str) -> int:
    return next(n for n, nm in by_num.items() if nm == name)


def category_of(tables, seed):
    rows = [r for r in _elements(tables) if r["category"]]
    cats = sorted({r["category"] for r in rows})
    for r in rows:
        rng = _rng(seed, "category_of", r["_row"])
        d = pick(r["category"], cats, rng)
        n = r["name"].lower()
        q = rotation(
            [
                f"Which group of elements does {n} belong to?",
                f"In which category of the periodic table is {n}?",
                f"How is {n} classified in the periodic table?",
            ],
            seed, "elements", "category_of", r,
        )  # fmt: skip
        yield _cand("elements", r, "category_of", q, r["category"], d, "chemistry")


# --- people and credits ---------------------------------------------------------------------------

CREDIT_TABLES = {
    # table: (item column, person column, category, plain question template)
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
    """The item inside a sentence: "the telephone", "the Moonlight Sonata", "radioactivity"."""
    if table == "inventions":
        return f"{row['article']} {row['invention']}".strip()
    if table == "discoveries":
        return row["discovery"]
    return names.mention(table, row)


def option(table: str, row: dict) -> str:
    """The item as an answer option (no article, no table note)."""
    if table in ("inventions", "discoveries"):
        return subject(table, row)
    return names.title(table, row)


def credit_questions(table: str, row: dict) -> list[str]:
    """Phrasings of "who made it" for a credit row (at least three per table and kind)."""
    what = subject(table, row)
    if table in ("inventions", "discoveries"):
        v = row["verb"]
        return [
            f"Who {v} {what}?",
            f"Which of these people {v} {what}?",
            f"{names.cap(what)}: who {v} it?",
        ]
    if table == "literature":
        return [
            f"Who wrote {what}?",
            f"Who is the author of {what}?",
            f"Which writer wrote {what}?",
        ]
    if table == "music":
        return [
            f"Who composed {what}?",
            f"Who is the composer of {what}?",
            f"Which composer wrote {what}?",
        ]
    if table == "art":
        t, form = names.title(table, row), row["form"]
        return [
            f"Which artist made the {form} {t}?",
            f"Who created the {form} {t}?",
            f"Who is the artist of the {form} {t}?",
        ]
    if row["kind"] == "work":
        return [
            f"Who wrote {what}?",
            f"Which philosopher wrote {what}?",
            f"Who is the author of {what}?",
            f"Which of these thinkers wrote {what}?",
            f"{names.cap(what)} is a book by which philosopher?",
        ]
    return [
        f"Which philosopher is associated with {what}?",
        f"Which thinker is known for {what}?",
        f"Whose idea is {what}?",
    ]


def credit_question(table: str, row: dict) -> str:
    return credit_questions(table, row)[0]


def also_made(tables, table: str, row: dict) -> set[str]:
    """People who could also be a right answer to "who made <row>": anyone in the table with a
    work whose title a reader could take for this one, and curated same-title authors."""
    _, who_col, _, _ = CREDIT_TABLES[table]
    mine = option(table, row)
    out = set(names.SAME_TITLE.get(mine, ()))
    for x in tables[table].rows:
        if x[who_col] != row[who_col] and names.titles_clash(mine, option(table, x)):
            out.add(x[who_col])
    return out


def eponymous(table: str, row: dict) -> bool:
    """The item is named after its maker ("the diesel engine", "Pascal's wager"): asking who made
    it gives the answer away, so who-made-it items and credit statements leave it out."""

    def words(text: str) -> set[str]:
        return set(re.findall(r"[^\W_]{3,}", text.casefold())) - _PARTICLES

    return bool(words(row[CREDIT_TABLES[table][1]]) & words(option(table, row)))


_PARTICLES = frozenset({"the", "and", "van", "von", "der", "des", "del", "young", "younger"})


def creator_of(tables, seed, table: str):
    """ "Who wrote X?" with three other creators of the same table as distractors, each drawn by
    their share of the table's rows (a famous name is a wrong option only as often as its share
    of the credits puts it there), never someone who also made a work of that title."""
    _, who_col, category, _ = CREDIT_TABLES[table]
    rows = tables[table].rows
    for r in rows:
        if eponymous(table, r):
            continue
        who = r[who_col]
        rng = _rng(seed, "creator_of", table, r["_row"])
        banned = also_made(tables, table, r) | {who}
        weighted = [x[who_col] for x in rows if x[who_col] not in banned]
        rng.shuffle(weighted)
        d = list(dict.fromkeys(weighted))[:3]  # successive draws by row share, no repeats
        if len(d) < 3:
            raise ValueError(f"{table} row {r['_row']}: fewer than 3 other creators")
        q = rotation(credit_questions(table, r), seed, table, "creator", r)
        yield _cand(table, r, "creator", q, who, d, category)


def work_by(tables, seed, table: str):
    """ "Which of these did X write?" — distractors are works by other people, never a work of
    that person under another name ("Meditations" for Descartes, "Confessions" for Rousseau)."""
    item_col, who_col, category, _ = CREDIT_TABLES[table]
    rows = tables[table].rows
    for r in rows:
        rng = _rng(seed, "work_by", table, r["_row"])
        who = r[who_col]
        own = [option(table, x) for x in rows if x[who_col] == who]
        others = [
            option(table, x)
            for x in rows
            if x[who_col] != who
            and who not in names.SAME_TITLE.get(option(table, x), ())
            and not any(names.titles_clash(option(table, x), t) for t in own)
        ]
        # titles of a similar length, so the longest or shortest option is not the key
        size = len(option(table, r))
        d = pick(option(table, r), others, rng, prefer=lambda t, n=size: abs(len(t) - n) // 8)
        q = rotation(
            {
                "literature": [
                    f"Which of the following did {who} write?",
                    f"Which of these books is by {who}?",
                    f"{who} is the author of which of these?",
                ],
                "music": [
                    f"Which of the following did {who} compose?",
                    f"Which of these pieces is by {who}?",
                    f"{who} composed which of these works?",
                ],
                "art": [
                    f"Which of the following works is by {who}?",
                    f"Which of these did {who} create?",
                    f"{who} made which of these works of art?",
                ],
                "philosophy": [
                    f"Which of the following is associated with {who}?",
                    f"Which of these comes from {who}?",
                    f"{who} is known for which of these?",
                    f"Which of these belongs to the thought of {who}?",
                    f"What among these is credited to {who}?",
                    f"Which of these would you attribute to {who}?",
                ],
            }[table],
            seed, table, "work_by", r,
        )  # fmt: skip
        yield _cand(table, r, "work_by", q, option(table, r), d, category)


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


# What a work's year marks, by humanities table ("first published in 1851")
WORK_EVENT = {
    "literature": "first published",
    "music": "completed or first performed",
    "art": "completed",
    "philosophy": "first published",
}


def year_questions(table: str, r: dict) -> list[str]:
    what = subject(table, r)
    if table in ("inventions", "discoveries"):
        who, verb = r["inventor" if table == "inventions" else "scientist"], r["verb"]
        if who.endswith("brothers"):
            who = f"the {who}"
        return [
            f"In which year did {who} {_base(verb)} {what}?",
            f"When did {who} {_base(verb)} {what}?",
            f"What year did {who} {_base(verb)} {what}?",
        ]
    who = r[CREDIT_TABLES[table][1]]
    event = WORK_EVENT[table]
    return [
        f"In which year was {what} by {who} {event}?",
        f"When was {what} by {who} {event}?",
        f"What year was {what} by {who} {event}?",
    ]


def year_question(table: str, r: dict, seed=0) -> str:
    return rotation(year_questions(table, r), seed, table, "year", r)


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
        a = f"a{'n' if primary[0] in 'aeiou' else ''} {primary}"
        q = rotation(
            [
                f"Which of these people is best known as {a}?",
                f"Which of these people was {a}?",
                f"Who among these is famous as {a}?",
            ],
            seed, "persons", "field_of", r,
        )  # fmt: skip
        yield _cand("persons", r, "field_of", q, r["name"], d, "people")
