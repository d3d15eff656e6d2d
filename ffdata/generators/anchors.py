"""Anti-anchoring: the model over-credits a few famous names (Edison for any invention).

`manifests/tables/anchors.csv` maps a category to its anchor entities and the table whose credits
it covers. Two item kinds come from it, built so that no answer-blind rule beats chance:
- who-made-it MCQ (mcq.creator_of): wrong options are other people of the same table, drawn by
  their share of the table's rows, so an anchor is a wrong option (or the key) only as often as
  its own credits would put it there — "avoid the famous name" gains nothing;
- yes/no statements: each fact is stated once, half of them true and half false. True ones
  credit the real person (anchors included, about their real works); false ones name a plausible
  wrong person (near in time, anchors at their table share) or a plausible wrong year or kind.
  The stream interleaves true and false, so any quota drawn from its front is balanced.
"""

import random

from ffdata.formats import is_yes_no
from ffdata.generators import names
from ffdata.generators.mcq import _BASE as BASE
from ffdata.generators.mcq import (
    CREDIT_TABLES,
    WORK_EVENT,
    Candidate,
    creator_of,
    eponymous,
    rotation,
    subject,
)

ASK = {"literature": "write", "music": "compose", "art": "create"}
DONE = {"literature": "wrote", "music": "composed", "art": "created"}
PASSIVE = {"flew": "flown", "showed": "shown", "wrote": "written", "built": "built"}
ROLE = {"literature": "author", "music": "composer", "art": "artist", "philosophy": "author"}


def anchors_by_table(tables) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in tables["anchors"].rows:
        out.setdefault(r["table"], []).append(r["anchor"])
    return out


def category_of_table(tables, table: str) -> str:
    return next(r["category"] for r in tables["anchors"].rows if r["table"] == table)


def contrastive_mcq(tables, seed, table: str):
    """Who-made-it MCQ over an anchored table (pool names keep "contrastive" for history)."""
    category = category_of_table(tables, table)
    anchors = set(anchors_by_table(tables)[table])
    for c in creator_of(tables, seed, table):
        c.meta["anchor_category"] = category
        c.meta["anchors"] = sorted(anchors & set(c.distractors))
        yield c


def _verbs(table: str, row: dict) -> tuple[str, str]:
    """(question verb, statement verb) for a credit row."""
    if table == "inventions":  # the question asks plainly; the answer keeps the exact credit
        return ("discover" if row["verb"] == "discovered" else "invent"), row["verb"]
    if table == "discoveries":
        return BASE.get(row["verb"], row["verb"]), row["verb"]
    if table == "philosophy":
        return ("write", "wrote") if row["kind"] == "work" else ("propose", "proposed")
    return ASK[table], DONE[table]


def _who(name: str) -> str:
    return f"the {name}" if name.endswith("brothers") else name


def _credit_questions(table: str, row: dict, who: str) -> list[str]:
    ask, done = _verbs(table, row)
    what = subject(table, row)
    passive = PASSIVE.get(done, done)
    if table == "inventions":
        passive = "discovered" if ask == "discover" else "invented"
    qs = [
        f"Did {who} {ask} {what}?",
        f"Was {what} {passive} by {who}?",
        f"Is it true that {who} {done} {what}?",
        f"Was it {who} who {done} {what}?",
    ]
    if table in ROLE and not (table == "philosophy" and row["kind"] == "idea"):
        qs.append(f"Is {who} the {ROLE[table]} of {what}?")
    else:
        qs.append(f"Is {what} credited to {who}?")
    return qs


def _statement(table: str, row: dict) -> str:
    """The true credit as one sentence: "Alexander Graham Bell patented the telephone in 1876"."""
    _, who_col, _, _ = CREDIT_TABLES[table]
    _, done = _verbs(table, row)
    when = f" in {row['year']}" if row.get("year") else ""
    return f"{names.cap(_who(row[who_col]))} {done} {subject(table, row)}{when}"


def _answer(truth: bool, because: str, short: str) -> str:
    a = f"{'Yes' if truth else 'No'}. {because}."
    if len(a) >= 100 or not is_yes_no(a):
        a = f"{'Yes' if truth else 'No'}. {short}."
    return a


def _wrong_person(table: str, row: dict, rows: list[dict], rng: random.Random) -> str:
    """A plausible wrong credit: someone else in the table, near in time, each person weighted by
    their rows (so anchors appear at their table share)."""
    _, who_col, _, _ = CREDIT_TABLES[table]
    who = row[who_col]
    others = [r for r in rows if r[who_col] != who]
    if row.get("year"):
        dated = [r for r in others if r.get("year")]
        dated.sort(key=lambda r: (abs(r["year"] - row["year"]), r["_row"]))
        others = dated[:12] or others
    return rng.choice(others)[who_col]


def _year_facts(table: str, row: dict, rng: random.Random):
    """(question templates, answer) for a year statement; the false year is near the real one."""
    year = row["year"]
    wrong = year + rng.choice([-1, 1]) * rng.randint(2, 15)
    what, who = subject(table, row), _who(row[CREDIT_TABLES[table][1]])
    if table in ("inventions", "discoveries"):
        _, done = _verbs(table, row)
        base = BASE.get(done, done)
        qs = [
            f"Did {who} {base} {what} in {{year}}?",
            f"Was it in {{year}} that {who} {done} {what}?",
            f"Is {{year}} the year {who} {done} {what}?",
            f"Is it true that {who} {done} {what} in {{year}}?",
        ]
    else:
        event = WORK_EVENT[table]
        qs = [
            f"Was {what} by {who} {event} in {{year}}?",
            f"Is {{year}} the year {what} by {who} was {event}?",
            f"Was it in {{year}} that {what} by {who} was {event}?",
            f"Is it true that {what} by {who} was {event} in {{year}}?",
        ]
    # the year's own sentence (not the credit's), so no two statements share an answer
    if table in ("inventions", "discoveries"):
        _, done = _verbs(table, row)
        event = PASSIVE.get(done, done)
    because = f"{names.cap(what)} was {event} in {year}"
    return qs, wrong, because, f"It was {year}"


ART_KINDS = ("sculpture", "painting")


def _art_kind(row: dict) -> str:
    return "sculpture" if row["form"] == "sculpture" else "painting"


def _birth_century(person: dict) -> int:
    return (person["born"] - 1) // 100 + 1


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def yes_no(tables, seed, table: str):
    """One statement per fact of the table — the credit of each row; the year of each dated row;
    for art whether a work is a painting or a sculpture; for philosophy the century each
    philosopher was born in — half true, half false, in an order that alternates the two."""
    _, who_col, category, _ = CREDIT_TABLES[table]
    rows = tables[table].rows
    anchors = anchors_by_table(tables)[table]
    meta0 = {"anchor_category": category_of_table(tables, table), "table": table}
    facts = []  # (relation, row, build(truth, rng) -> (question, answer, meta))

    def credit(r):
        def build(truth, rng):
            who = r[who_col] if truth else _wrong_person(table, r, rows, rng)
            q = rotation(_credit_questions(table, r, _who(who)), seed, table, "yn_credit", r)
            a = _answer(truth, _statement(table, r), f"It was {_who(r[who_col])}")
            return q, a, {"named": who, "anchor": who if who in anchors else ""}

        return build

    def year(r):
        def build(truth, rng):
            qs, wrong, because, short = _year_facts(table, r, rng)
            q = rotation(qs, seed, table, "yn_year", r).format(year=r["year"] if truth else wrong)
            return q, _answer(truth, because, short), {}

        return build

    def art_kind(r):
        def build(truth, rng):
            kind = _art_kind(r) if truth else next(k for k in ART_KINDS if k != _art_kind(r))
            what = names.mention("art", r)
            qs = [
                f"Is {what} a {kind}?",
                f"Is {what} by {r['artist']} a {kind}?",
                f"Was {what} made as a {kind}?",
            ]
            because = f"{names.cap(what)} is a {r['form']} by {r['artist']}"
            q = rotation(qs, seed, table, "yn_kind", r)
            return q, _answer(truth, because, f"It is a {r['form']}"), {}

        return build

    def century(p):
        def build(truth, rng):
            c = _birth_century(p)
            asked = c if truth else c + rng.choice([-1, 1])
            qs = [
                f"Was {p['name']} born in the {_ordinal(asked)} century?",
                f"Is it true that {p['name']} was born in the {_ordinal(asked)} century?",
                f"Did {p['name']} come into the world in the {_ordinal(asked)} century?",
            ]
            q = rotation(qs, seed, table, "yn_century", p)
            return q, _answer(truth, f"{p['name']} was born in {p['born']}", "No"), {}

        return build

    for r in rows:
        if not eponymous(table, r):  # "Did Rudolf Diesel invent the diesel engine?" tells itself
            facts.append(("credit", r, credit(r)))
    for r in rows:
        if r.get("year"):
            facts.append(("year", r, year(r)))
    if table == "art":
        facts += [("kind", r, art_kind(r)) for r in rows]
    if table == "philosophy":
        persons = tables["persons"].by_key
        seen = set()
        for r in rows:
            p = persons.get((r[who_col],))
            if p and p["born"] and p["born"] > 1000 and p["name"] not in seen:
                seen.add(p["name"])
                facts.append(("century", r, century(p)))
    yield from _balanced(facts, seed, table, category, meta0)


def _balanced(facts, seed, table, category, meta0):
    """Split each relation's facts half true / half false (seeded), then interleave true and false
    so every prefix of the stream is balanced; relations keep their order (credits first)."""
    trues, falses = [], []
    for relation in dict.fromkeys(f[0] for f in facts):
        group = [f for f in facts if f[0] == relation]
        random.Random(f"{seed}:yes_no:{table}:{relation}").shuffle(group)
        # odd groups: alternate which side gets the extra one, so the totals stay even
        half = (len(group) + (len(trues) <= len(falses))) // 2
        trues += group[:half]
        falses += group[half:]
    order = random.Random(f"{seed}:yes_no:{table}:order")
    stream = []
    for i in range(max(len(trues), len(falses))):
        pair = [(True, trues[i])] if i < len(trues) else []
        pair += [(False, falses[i])] if i < len(falses) else []
        order.shuffle(pair)
        stream += pair
    for truth, (relation, r, build) in stream:
        rng = random.Random(f"{seed}:yes_no:{table}:{relation}:{r['_row']}")
        q, a, extra = build(truth, rng)
        yield Candidate(
            key=f"{table}:{r['_row']}:yes_no:{relation}",
            question=q,
            answer=a,
            category=category,
            format="yes_no",
            meta={
                **meta0,
                "row": r["_row"],
                "template": f"yes_no_{relation}",
                "label": "yes" if truth else "no",
                **extra,
            },
        )
