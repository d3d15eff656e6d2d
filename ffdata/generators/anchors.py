"""Anti-anchoring: the model over-credits a few famous names (Edison for any invention).

`manifests/tables/anchors.csv` maps a category to its anchor entities and the table whose credits
it covers. Two item kinds come from it:
- contrastive MCQ (mcq.creator_of with anchors): the right answer is not an anchor and the
  anchors sit among the distractors;
- yes/no checks: "Did Thomas Edison invent the telephone?" -> "No. Alexander Graham Bell
  patented the telephone in 1876." and, so that "No" is not a reflex, true credits of the anchor
  itself -> "Yes. ...".
"""

from ffdata.formats import is_yes_no
from ffdata.generators.mcq import _BASE as BASE
from ffdata.generators.mcq import CREDIT_TABLES, Candidate, creator_of, subject

ASK = {"literature": "write", "music": "compose", "art": "create"}
DONE = {"literature": "wrote", "music": "composed", "art": "created"}


def anchors_by_table(tables) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in tables["anchors"].rows:
        out.setdefault(r["table"], []).append(r["anchor"])
    return out


def category_of_table(tables, table: str) -> str:
    return next(r["category"] for r in tables["anchors"].rows if r["table"] == table)


def contrastive_mcq(tables, seed, table: str):
    anchors = anchors_by_table(tables)[table]
    for c in creator_of(tables, seed, table, anchors=anchors):
        c.meta["anchor_category"] = category_of_table(tables, table)
        yield c


def _verbs(table: str, row: dict) -> tuple[str, str]:
    """(question verb, statement verb) for a credit row."""
    if table in ("inventions", "discoveries"):
        return BASE.get(row["verb"], row["verb"]), row["verb"]
    if table == "philosophy":
        return ("write", "wrote") if row["kind"] == "work" else ("propose", "proposed")
    return ASK[table], DONE[table]


def yes_no(tables, seed, table: str):
    """Per credit row: "Did <anchor> <verb> <thing>?" for each anchor of the table's category."""
    _, who_col, category, _ = CREDIT_TABLES[table]
    anchors = anchors_by_table(tables)[table]
    anchor_category = category_of_table(tables, table)
    for r in tables[table].rows:
        who, what = r[who_col], subject(table, r)
        ask, done = _verbs(table, r)
        if table == "inventions":  # the question asks plainly; the answer keeps the exact credit
            ask = "discover" if r["verb"] == "discovered" else "invent"
        if who.endswith("brothers"):
            who = f"the {who}"
        when = f" in {r['year']}" if r.get("year") else ""
        for anchor in anchors:
            q = f"Did {anchor} {ask} {what}?"
            if r[who_col] == anchor:
                a = f"Yes. {who} {done} {what}{when}."
            else:
                a = f"No. {who[0].upper() + who[1:]} {done} {what}{when}."
            if len(a) >= 100 or not is_yes_no(a):
                a = "Yes." if r[who_col] == anchor else f"No. It was {who}."
            yield Candidate(
                key=f"{table}:{r['_row']}:yes_no:{anchor}",
                question=q,
                answer=a,
                category=category,
                format="yes_no",
                meta={
                    "table": table,
                    "row": r["_row"],
                    "template": "anchor_yes_no",
                    "anchor": anchor,
                    "anchor_category": anchor_category,
                    "correct": r[who_col],
                    "label": "yes" if r[who_col] == anchor else "no",
                },
            )
