"""Block B: concise factual QA from the curated tables. Every answer is one sentence under 100
characters (checked by ffdata.formats.is_short_fact); every question is asked once.

The relations here are deliberately not the ones Block A asks as MCQ (A: capital of a country;
B: country of a capital), so the two blocks teach the same tables from different directions
without repeating a question.
"""

from ffdata.formats import is_short_fact
from ffdata.generators.mcq import Candidate, year_question
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
        q = f"{r['capital']} is the capital of which country?"
        a = f"{r['capital']} is the capital of {r['country']}."
        yield _short("countries", r, "country_of_capital", q, a, "geography")


def continent_of(tables, seed):
    for r in tables["countries"].rows:
        if r["continent"]:
            q = f"On which continent is {r['country']}?"
            a = f"{r['country']} is in {r['continent']}."
            yield _short("countries", r, "continent_of", q, a, "geography")


def element_of_symbol(tables, seed):
    for r in tables["elements"].rows:
        q = f"Which chemical element has the symbol {r['symbol']}?"
        a = f"{r['symbol']} is the symbol of {r['name'].lower()}."
        yield _short("elements", r, "element_of_symbol", q, a, "chemistry")


def discoverer_of(tables, seed):
    for r in tables["elements"].rows:
        if r["discovered_by"]:
            q = f"Who is credited with discovering the element {r['name'].lower()}?"
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
        a = f"{r[who_col]} {r['verb']} {credit_subject(table, r)} in {r['year']}."
        yield _short(table, r, "year", year_question(table, r), a, category)


def birth_year(tables, seed):
    for r in tables["persons"].rows:
        if r["born"] and r["born"] > 1000:  # ancient birth years are too uncertain for a fact
            q = f"In which year was {r['name']} born?"
            a = f"{r['name']} was born in {r['born']}."
            yield _short("persons", r, "birth_year", q, a, "people")


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
        verb = {
            "literature": "was first published",
            "music": "dates from",
            "art": "was completed",
            "philosophy": "was first published",
        }[table]
        a = f"{what[0].upper() + what[1:]} by {r[who_col]} {verb} in {r['year']}."
        if len(a) >= 100:
            a = f"It {verb.replace('dates', 'dates')} in {r['year']}."
        yield _short(table, r, "year", year_question(table, r), a, table)
