"""Block B: concise factual QA from the curated tables. Every answer is one sentence under 100
characters (checked by ffdata.formats.is_short_fact); every question is asked once.

The relations here are deliberately not the ones Block A asks as MCQ (A: capital of a country;
B: country of a capital), so the two blocks teach the same tables from different directions
without repeating a question.
"""

from ffdata.formats import is_short_fact
from ffdata.generators import names
from ffdata.generators.mcq import Candidate, rotation, year_question
from ffdata.generators.mcq import subject as credit_subject


def _short(table, row, relation, question, answer, category, **meta) -> Candidate:
    if not is_short_fact(answer):
        raise ValueError(f"{table} row {row['_row']}: answer is not a short fact: {answer!r}")
    return Candidate(
        key=f"{table}:{row['_row']}:{relation}",
        question=question,
        answer=answer,
        category=category,
        format="short_fact",
        meta={"table": table, "row": row["_row"], "template": relation, **meta},
    )


def country_of_capital(tables, seed):
    for r in tables["countries"].rows:
        cap, c = r["capital"], names.country(r["country"])
        q = rotation(
            [
                f"{cap} is the capital of which country?",
                f"Which country has {cap} as its capital?",
                f"Of which country is {cap} the capital?",
                f"{cap} is the capital city of what country?",
                f"Which nation's capital is {cap}?",
            ],
            seed, "countries", "country_of_capital", r,
        )  # fmt: skip
        a = f"{cap} is the capital of {c}."
        yield _short("countries", r, "country_of_capital", q, a, "geography")


def continent_of(tables, seed):
    for r in tables["countries"].rows:
        if r["continent"]:
            c = names.country(r["country"])
            q = rotation(
                [
                    f"On which continent is {c}?",
                    f"Which continent is {c} in?",
                    f"{names.cap(c)} lies on which continent?",
                    f"In which continent would you find {c}?",
                    f"What continent is {c} part of?",
                ],
                seed, "countries", "continent_of", r,
            )  # fmt: skip
            a = f"{names.cap(c)} is in {r['continent']}."
            yield _short("countries", r, "continent_of", q, a, "geography")


def element_of_symbol(tables, seed):
    for r in tables["elements"].rows:
        s = r["symbol"]
        q = rotation(
            [
                f"Which chemical element has the symbol {s}?",
                f"The chemical symbol {s} stands for which element?",
                f"Which element is written {s} in the periodic table?",
                f"What element does the symbol {s} represent?",
            ],
            seed, "elements", "element_of_symbol", r,
        )  # fmt: skip
        a = f"{s} is the symbol of {r['name'].lower()}."
        yield _short("elements", r, "element_of_symbol", q, a, "chemistry")


def discoverer_of(tables, seed):
    for r in tables["elements"].rows:
        if r["discovered_by"]:
            n = r["name"].lower()
            q = rotation(
                [
                    f"Who is credited with discovering the element {n}?",
                    f"Who discovered {n}?",
                    f"Which scientist is credited with the discovery of {n}?",
                ],
                seed, "elements", "discoverer_of", r,
            )  # fmt: skip
            a = f"{r['name']} was discovered by {r['discovered_by']}."
            yield _short("elements", r, "discoverer_of", q, a, "chemistry")


def credit_year(tables, seed, table: str):
    """ "In which year did Bell patent the telephone?" → "Alexander Graham Bell patented the
    telephone in 1876." (the MCQ form of this relation lives in mcq.year_of; pick one per block)."""
    category = {"inventions": "inventions", "discoveries": "science_history"}[table]
    who_col = {"inventions": "inventor", "discoveries": "scientist"}[table]
    for r in tables[table].rows:
        if not r["year"]:
            continue
        who = r[who_col]
        who = f"The {who}" if who.endswith("brothers") else who
        a = f"{who} {r['verb']} {credit_subject(table, r)} in {r['year']}."
        yield _short(table, r, "year", year_question(table, r, seed), a, category)


def birth_year(tables, seed):
    for r in tables["persons"].rows:
        if r["born"] and r["born"] > 1000:  # ancient birth years are too uncertain for a fact
            n = r["name"]
            q = rotation(
                [
                    f"In which year was {n} born?",
                    f"When was {n} born?",
                    f"What year was {n} born in?",
                    f"{n} was born in which year?",
                    f"In what year was {n} born?",
                    f"What is the birth year of {n}?",
                ],
                seed, "persons", "birth_year", r,
            )  # fmt: skip
            a = f"{n} was born in {r['born']}."
            yield _short("persons", r, "birth_year", q, a, "people")


EVENT = {  # (passive phrase, sentence verb) of a work's year
    "literature": "was first published",
    "music": "was completed or first performed",
    "art": "was completed",
    "philosophy": "was first published",
}


def work_year(tables, seed, table: str):
    """Short-answer years for the humanities tables (Blocks E/F)."""
    who_col = {
        "literature": "author",
        "music": "composer",
        "art": "artist",
        "philosophy": "philosopher",
    }[table]
    for r in tables[table].rows:
        if not r["year"]:
            continue
        what = credit_subject(table, r)
        verb = EVENT[table]
        a = f"{names.cap(what)} by {r[who_col]} {verb} in {r['year']}."
        if len(a) >= 100:
            a = f"It {verb} in {r['year']}."
        yield _short(table, r, "year", year_question(table, r, seed), a, table)
