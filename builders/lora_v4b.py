"""lora_v4b: the card's stage-5 "LoRA v4b" set: 6,000 synthetic instruction examples (a LoRA
experiment the card rejected). Synthetic here means generated from the curated fact tables and
the procedural numeric generators, so every answer is derived from data and checked before it
is kept; nothing comes from a model. Alpaca template (ffdata.records), decontaminated.

| task         | what it asks                                                  | response checked by            |
|--------------|---------------------------------------------------------------|--------------------------------|
| `qa`         | short factual questions (Block B style + knowledge tables)    | one short sentence naming the value |
| `explain`    | "in one sentence, what is X?" joining several table fields    | one line, one full stop, every field named |
| `extract`    | which listed items fit a group; people/years/things named in a text | items as the prompt lists them, in order |
| `rewrite`    | sentence -> JSON with given keys, JSON -> sentence, sort by year or number | JSON parsed and compared; order re-derived |
| `arithmetic` | Block D word problems, and year/number gaps from the tables, with steps | every step re-computed, last line "The answer is N." |

`targets.tasks` gives each task its count; they sum to `targets.total` (6,000). A task that
cannot fill its count stops the build, naming it and the shortfall (builders/_stage5.take).
Within a task, kinds take turns and each kind rotates 3+ phrasings, so no stem dominates.
"""

import json
import re
from fractions import Fraction
from itertools import combinations

from pydantic import model_validator

from builders._stage5 import Draft, Material, h, rotate, seeded, take
from ffdata.formats import is_numeric, is_short_fact
from ffdata.generators import facts, names, numeric, subjects
from ffdata.generators.mcq import subject as credit_subject
from ffdata.manifest import PositiveCount, SourceOptions, Strict
from ffdata.strict_formats import canonical_json, is_comma_list, is_json_object, is_numbered_list

VERSION = "1"
TASKS = ("qa", "explain", "extract", "rewrite", "arithmetic")
WORK_TABLES = ("literature", "music", "art", "philosophy")
TABLES = ("countries", "elements", "inventions", "discoveries", "persons", *WORK_TABLES,
          *subjects.KNOWLEDGE_TABLES)  # fmt: skip


class Targets(Strict):
    total: PositiveCount = 6000
    tasks: dict[str, PositiveCount]

    @model_validator(mode="after")
    def _sums(self):
        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; expected some of {list(TASKS)}")
        if sum(self.tasks.values()) != self.total:
            raise ValueError(f"the tasks sum to {sum(self.tasks.values())}, not total {self.total}")
        return self

    def rows_asked(self) -> int:
        return self.total


TARGETS, OPTIONS, SOURCE_OPTIONS = Targets, Strict, SourceOptions
MINUS = "−"  # the numeric generators' minus sign, which numeric.evaluate reads


def turns(*streams):
    """Items of several generators taking turns (an exhausted one drops out)."""
    streams = [iter(s) for s in streams]
    while streams:
        for s in list(streams):
            try:
                yield next(s)
            except StopIteration:
                streams.remove(s)


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _the(name: str) -> str:
    return f"the {name}" if name in subjects.THE_NAMES else name


def _fields(person: dict) -> str:
    f = person["fields"].split(";")
    return _a(f[0] if len(f) == 1 else ", ".join(f[:-1]) + " and " + f[-1])


def _draft(task, kind, instruction, response, fmt, rows, **meta) -> Draft:
    return Draft(task, instruction, response, fmt, kind, {"kind": kind, **meta}, tuple(rows))


# --- qa -----------------------------------------------------------------------------------------
# The answer sentence of each knowledge-table relation ({E}: the entity, sentence-initial).
ANSWERS = {
    "moon_of": "{E} is a moon of {v}.",
    "planet_position": "{E} is the {v} planet from the Sun.",
    "animal_group": "The {e} is {a_v}.",
    "pathogen_type": "{E} is caused by {a_v}.",
    "deficiency_of": "{E} is caused by a lack of {v}.",
    "organ_makes": "{E} is made by the {v}.",
    "event_year": "{E} took place in {v}.",
    "built_by": "{E} was built by the {v}.",
    "headquarters": "{The_e} has its headquarters in {v}.",
    "character_in": "{E} is a character in {v}.",
    "instrument_family": "The {e} belongs to the {v} family.",
    "art_movement": "{E} is chiefly associated with {v}.",
    "school_of": "{E} is chiefly associated with {v}.",
    "currency_of": "The currency of {the_e} is the {v}.",
    "state_capital": "The capital of {e} is {v}.",
    "located_in": "{E} is in {the_v}.",
    "formula_of": "The chemical formula of {e} is {v}.",
    "element_block": "{E} is in the {v} of the periodic table.",
    "element_group": "{E} is in group {v} of the periodic table.",
    "si_unit": "The SI unit of {e} is the {v}.",
    "polygon_sides": "{A_e} has {v} sides.",
    "solid_faces": "{A_e} has {v} faces.",
}


def _slots(e: str, v: str) -> dict:
    s = {"e": e, "the_e": _the(e), "a_e": _a(e), "v": v, "a_v": _a(v), "the_v": _the(v)}
    return s | {k[0].upper() + k[1:]: names.cap(x) for k, x in s.items()}


def knowledge_qa(m: Material, seed):
    for table in subjects.KNOWLEDGE_TABLES:
        for r in m.rows(table):
            rel = subjects.RELATIONS[r["relation"]]
            slots = _slots(r["entity"], r["value"])
            q = names.cap(rotate(rel.ask, seed, "qa", table, r["_row"]).format(**slots))
            a = ANSWERS[r["relation"]].format(**slots)
            yield _draft("qa", r["relation"], q, a, "short_fact", [(table, r["_row"])],
                         value=r["value"])  # fmt: skip


def table_qa(m: Material, seed):
    """Block B's short-fact families (ffdata.generators.facts), under this set's seed."""
    t = m.tables
    makers = [facts.country_of_capital(t, seed), facts.continent_of(t, seed),
              facts.element_of_symbol(t, seed), facts.discoverer_of(t, seed),
              facts.credit_year(t, seed, "inventions"), facts.credit_year(t, seed, "discoveries"),
              facts.birth_year(t, seed)] + [facts.work_year(t, seed, w) for w in WORK_TABLES]  # fmt: skip
    for c in turns(*makers):
        table, row = c.meta["table"], c.meta["row"]
        yield _draft("qa", c.meta["template"], c.question, c.answer, "short_fact", [(table, row)])


def qa(m, seed):
    return turns(table_qa(m, seed), knowledge_qa(m, seed))


# --- explain ------------------------------------------------------------------------------------
EXPLAIN_ASK = (
    "In one sentence, what is {x}?",
    "Explain in a single sentence what {x} is.",
    "Describe {x} in one sentence.",
    "Give a one-sentence description of {x}.",
)
PERSON_ASK = (
    "Who was {x}? Answer in one sentence.",
    "In one sentence, who was {x}?",
    "Describe {x} in one sentence, with the years of birth and death.",
    "Give a one-sentence summary of who {x} was.",
)
CREDIT_ASK = (
    "In one sentence, explain who is credited with {x} and when.",
    "Who is credited with {x}, and in which year? Answer in one sentence.",
    "Summarize in one sentence who gave us {x} and when.",
)
COUNTRY_ASK = (
    "In one sentence, say where {x} is and what its capital is.",
    "Describe {x} in one sentence: its continent and its capital.",
    "Where is {x}, and what is its capital? Reply in one sentence.",
)
ELEMENT_ASK = (
    "Describe the element {x} in one sentence, giving its symbol and atomic number.",
    "In one sentence, what kind of element is {x}, and what are its symbol and atomic number?",
    "Summarize {x} in one sentence: symbol, atomic number and place in the periodic table.",
)
# forms that take no "a": plural sets and a mass noun ("an incidental music" is wrong)
FORM_READS = {"concertos": "a set of concertos", "violin concertos": "a set of violin concertos",
              "piano pieces": "a set of piano pieces", "incidental music": "incidental music"}  # fmt: skip
WHO_COL = {
    "literature": "author",
    "music": "composer",
    "art": "artist",
    "philosophy": "philosopher",
}


def _lifespan(p: dict | None) -> str:
    if p and p["born"] and p["died"] and p["born"] > 0:
        return f" ({p['born']}–{p['died']})"
    return ""


def explain_works(m: Material, seed):
    return turns(*(_explain_works(m, seed, table) for table in WORK_TABLES))


def _explain_works(m: Material, seed, table: str):
    persons = m["persons"].by_key
    for r in m.rows(table):
        who = r[WHO_COL[table]]
        mention = names.mention(table, r)
        if table == "philosophy":
            form = "work" if r["kind"] == "work" else "idea"
        else:
            form = r["form"]
        kind = FORM_READS.get(form, _a(form))
        when = f", {facts.EVENT[table].removeprefix('was ')} in {r['year']}" if r["year"] else ""
        verb = "associated with" if form == "idea" else "by"
        a = f"{names.cap(mention)} is {kind} {verb} {who}{_lifespan(persons.get((who,)))}{when}."
        q = rotate(EXPLAIN_ASK, seed, "explain", table, r["_row"]).format(x=mention)
        vals = [who] + ([str(r["year"])] if r["year"] else [])
        yield _draft("explain", table, q, a, "free", [(table, r["_row"])], mentions=vals)


def explain_credits(m: Material, seed):
    persons = m["persons"].by_key
    for table, col in (("inventions", "inventor"), ("discoveries", "scientist")):
        for r in m.rows(table):
            if not r["year"]:
                continue
            what, who = credit_subject(table, r), r[col]
            p = persons.get((who,))
            if p is None:  # a group credit ("the Wright brothers"): no person row to join
                a = f"{names.cap(_the_group(who))} {r['verb']} {what} in {r['year']}."
            else:
                born = f", born in {p['born']}," if p["born"] and p["born"] > 0 else ","
                a = f"{who}, {_fields(p)}{born} {r['verb']} {what} in {r['year']}."
            q = rotate(CREDIT_ASK, seed, "credit", table, r["_row"]).format(x=what)
            yield _draft("explain", table, q, a, "free", [(table, r["_row"])],
                         mentions=[who, str(r["year"])])  # fmt: skip


def _the_group(who: str) -> str:
    return f"the {who}" if who.endswith("brothers") else who


def explain_persons(m: Material, seed):
    for p in m.rows("persons"):
        if not _lifespan(p):
            continue
        a = f"{p['name']}{_lifespan(p)} was {_fields(p)}."
        q = rotate(PERSON_ASK, seed, "person", p["_row"]).format(x=p["name"])
        yield _draft("explain", "persons", q, a, "free", [("persons", p["_row"])],
                     mentions=[str(p["born"]), str(p["died"])])  # fmt: skip


def explain_places(m: Material, seed):
    for r in m.rows("countries"):
        if not (r["continent"] and r["capital"]):
            continue
        c = names.country(r["country"])
        a = f"{names.cap(c)} is a country in {r['continent']} whose capital is {r['capital']}."
        q = rotate(COUNTRY_ASK, seed, "country", r["_row"]).format(x=c)
        yield _draft("explain", "countries", q, a, "free", [("countries", r["_row"])],
                     mentions=[r["continent"], r["capital"]])  # fmt: skip
    for r in m.rows("elements"):
        name, sym, n, p = r["name"], r["symbol"], r["number"], r["period"]
        if r["category"]:
            a = f"{name} ({sym}) is {_a(r['category'])} with atomic number {n}, in period {p}."
        else:
            a = f"{name} ({sym}) has atomic number {n} and sits in period {p}."
        q = rotate(ELEMENT_ASK, seed, "element", r["_row"]).format(x=name.lower())
        yield _draft("explain", "elements", q, a, "free", [("elements", r["_row"])],
                     mentions=[sym, str(n), str(p)])  # fmt: skip


def explain(m, seed):
    return turns(explain_works(m, seed), explain_credits(m, seed), explain_persons(m, seed),
                 explain_places(m, seed))  # fmt: skip


# --- extract ------------------------------------------------------------------------------------
def _plural(word: str) -> str:
    if word.endswith(("fish", "sheep")):
        return word
    return word + ("es" if word.endswith(("s", "sh", "ch")) else "s")


def _groups(m: Material) -> dict[str, dict[str, list[str]]]:
    """kind -> group -> members (names without commas, so a comma list stays readable)."""
    g: dict[str, dict[str, list[str]]] = {k: {} for k in
                                          ("countries", "elements", "animals", "instruments", "people")}  # fmt: skip
    for r in m.rows("countries"):
        if r["continent"]:
            g["countries"].setdefault(r["continent"], []).append(r["country"])
    for r in m.rows("elements"):
        if r["category"]:
            g["elements"].setdefault(r["category"], []).append(r["name"])
    for r in m.rows("biology"):
        g["animals"].setdefault(r["value"], []).append(r["entity"])
    for r in m.rows("instruments"):
        g["instruments"].setdefault(r["value"], []).append(r["entity"])
    for p in m.rows("persons"):
        for f in p["fields"].split(";"):
            g["people"].setdefault(f, []).append(p["name"])
    return {k: {grp: [x for x in v if "," not in x] for grp, v in gs.items() if len(v) >= 3}
            for k, gs in g.items()}  # fmt: skip


FILTER_ASK = {
    "countries": ("Which of these countries are in {g}: {xs}?",
                  "From this list, pick the countries that lie in {g}: {xs}.",
                  "Here are some countries: {xs}. Which of them are in {g}?"),
    "elements": ("Which of these elements are {gs}: {xs}?",
                 "From this list, pick the {gs}: {xs}.",
                 "Here are some chemical elements: {xs}. Which of them are {gs}?"),
    "animals": ("Which of these animals are {gs}: {xs}?",
                "From this list, pick the {gs}: {xs}.",
                "Here are some animals: {xs}. Which of them are {gs}?"),
    "instruments": ("Which of these instruments belong to the {g} family: {xs}?",
                    "From this list, pick the {g} instruments: {xs}.",
                    "Here are some instruments: {xs}. Which of them are {g} instruments?"),
    "people": ("Which of these people were {gs}: {xs}?",
               "From this list, pick the {gs}: {xs}.",
               "Here are some people: {xs}. Which of them were {gs}?"),
}  # fmt: skip
FILTER_TAIL = ("Answer with a comma-separated list in the order given.",
               "List them separated by commas, keeping the order of the question.",
               "Reply with their names, comma-separated, in the same order.")  # fmt: skip
ROW_OF = {"countries": ("countries", "country"), "elements": ("elements", "name"),
          "animals": ("biology", "entity"), "instruments": ("instruments", "entity"),
          "people": ("persons", "name")}  # fmt: skip


def extract_filter(m: Material, seed, wanted: int):
    groups = _groups(m)
    rowmap = {k: {r[col]: r["_row"] for r in m.rows(t)} for k, (t, col) in ROW_OF.items()}
    kinds, outside = sorted(groups), {}
    for k in range(wanted):
        kind = kinds[k % len(kinds)]
        gs = sorted(groups[kind])
        g = gs[h(seed, "fg", k) % len(gs)]
        members = groups[kind][g]
        if (kind, g) not in outside:  # everything of the kind outside the group, once per group
            rest = {x for o, v in groups[kind].items() if o != g for x in v}
            outside[kind, g] = sorted(rest - set(members))
        others = outside[kind, g]
        n_in, size = 1 + h(seed, "fin", k) % 3, 5 + h(seed, "fsize", k) % 2
        picked_in = seeded(members, seed, "fi", k)[:n_in]
        picked_out = seeded(others, seed, "fo", k)[: size - n_in]
        listed = seeded(picked_in + picked_out, seed, "forder", k)
        rows = [(ROW_OF[kind][0], rowmap[kind][x]) for x in listed]
        shown = {x: names.country(x) if kind == "countries" else x for x in listed}  # the Bahamas
        answer = [shown[x] for x in listed if x in picked_in]
        listed = [shown[x] for x in listed]
        ask = rotate(FILTER_ASK[kind], seed, "fask", k)
        q = f"{ask.format(g=g, gs=_plural(g), xs=', '.join(listed))} {rotate(FILTER_TAIL, seed, 'ftail', k)}"
        yield _draft("extract", f"filter_{kind}", q, ", ".join(answer), "free", rows,
                     listed=listed, answer=answer)  # fmt: skip


PASSAGE_ASK = {
    "people": ("List the people the text names, in order, as a numbered list.",
               "Who is mentioned in the text? Give a numbered list in order of appearance.",
               "Extract every person named in the text, in the order they appear, numbered."),
    "years": ("List the years the text mentions, in order, separated by commas.",
              "Extract every year in the text, in order, as a comma-separated list.",
              "Which years appear in the text? Give them in order, comma-separated."),
    "things": ("List what the text says was invented or discovered, in order, as a numbered list.",
               "Extract the inventions and discoveries named in the text, numbered, in order.",
               "What was invented or discovered, according to the text? Numbered list, in order."),
}  # fmt: skip


def extract_passage(m: Material, seed, wanted: int):
    credits = []
    for table, col in (("inventions", "inventor"), ("discoveries", "scientist")):
        for r in m.rows(table):
            if r["year"]:
                who = _the_group(r[col])
                what = credit_subject(table, r)
                credits.append((table, r["_row"], who, what, r["year"], r["verb"]))
    for k in range(wanted):
        chosen = [credits[h(seed, "pp", k, j) % len(credits)] for j in range(3)]
        if len({c[2] for c in chosen}) < 3 or len({c[4] for c in chosen}) < 3:
            continue
        text = " ".join(f"{names.cap(who)} {verb} {what} in {year}."
                        for _, _, who, what, year, verb in chosen)  # fmt: skip
        ask = ("people", "years", "things")[k % 3]
        q = f"{rotate(PASSAGE_ASK[ask], seed, 'pask', k)}\n\nText: {text}"
        if ask == "years":
            items = [str(c[4]) for c in chosen]
            resp = ", ".join(items)
        else:
            items = [names.cap(c[2]) if ask == "people" else c[3] for c in chosen]
            resp = "\n".join(f"{i}. {x}" for i, x in enumerate(items, start=1))
        yield _draft("extract", f"passage_{ask}", q, resp, "free", [(c[0], c[1]) for c in chosen],
                     answer=items)  # fmt: skip


def extract(m, seed, wanted):
    return turns(extract_filter(m, seed, wanted), extract_passage(m, seed, wanted))


# --- rewrite ------------------------------------------------------------------------------------
TO_JSON_ASK = ("Convert this sentence into a JSON object with the keys {keys}:\n{s}",
               "Extract {keys} from the sentence below as a JSON object.\n{s}",
               "Rewrite the following as one line of JSON (keys: {keys}).\n{s}")  # fmt: skip
FROM_JSON_ASK = ("Write one sentence that states the facts in this JSON object:\n{j}",
                 "Turn this record into a single plain English sentence:\n{j}",
                 "Rewrite the JSON below as one sentence.\n{j}")  # fmt: skip


def _records(m: Material):
    """(table, row, sentence, {key: value}) for records that read as one sentence."""
    for r in m.rows("elements"):
        s = f"{r['name']} has the chemical symbol {r['symbol']} and atomic number {r['number']}."
        yield "elements", r["_row"], s, {"element": r["name"], "symbol": r["symbol"],
                                          "atomic_number": r["number"]}  # fmt: skip
    for r in m.rows("countries"):
        if r["continent"]:
            c = names.country(r["country"])
            s = f"{names.cap(c)} is in {r['continent']}, and its capital is {r['capital']}."
            yield "countries", r["_row"], s, {"country": r["country"], "continent": r["continent"],
                                               "capital": r["capital"]}  # fmt: skip
    for table in ("literature", "music", "art"):
        for r in m.rows(table):
            if r["year"]:
                who = r[WHO_COL[table]]
                t = names.title(table, r)
                s = f"{names.cap(names.mention(table, r))} is by {who} and dates from {r['year']}."
                yield table, r["_row"], s, {"title": t, WHO_COL[table]: who, "year": r["year"]}


def _keys(keys) -> str:
    q = [f'"{k}"' for k in keys]
    return ", ".join(q[:-1]) + " and " + q[-1]


def rewrite_json(m: Material, seed):
    for i, (table, row, s, rec) in enumerate(seeded(list(_records(m)), seed, "records")):
        if i % 2:
            q = rotate(TO_JSON_ASK, seed, "tojson", table, row).format(keys=_keys(rec), s=s)
            yield _draft("rewrite", "to_json", q, canonical_json(rec), "free", [(table, row)],
                         keys=list(rec), expected=rec)  # fmt: skip
        else:
            q = rotate(FROM_JSON_ASK, seed, "fromjson", table, row).format(j=canonical_json(rec))
            yield _draft("rewrite", "from_json", q, s, "free", [(table, row)],
                         mentions=[str(v) for v in rec.values() if k_ok(v)])  # fmt: skip


def k_ok(v) -> bool:
    return not (isinstance(v, str) and v in names.COUNTRIES_WITH_THE)  # "the X" reads differently


SORT_ASK = {
    "year": ("Put these in chronological order, earliest first, as a numbered list with each "
             "year in brackets: {xs}.",
             "Order these events from earliest to latest. Give a numbered list, each with its "
             "year in brackets: {xs}.",
             "Sort the following by date, oldest first, numbered, with the year after each in "
             "brackets: {xs}."),
    "born": ("Order these people by year of birth, earliest first, as a numbered list with the "
             "year in brackets: {xs}.",
             "Who was born first? Sort these people by birth year, numbered, year in brackets: {xs}.",
             "Sort these people from the earliest born to the latest, numbered, with each birth "
             "year in brackets: {xs}."),
    "number": ("Sort these elements by atomic number, smallest first, as a numbered list with the "
               "atomic number in brackets: {xs}.",
               "Order these elements from the lowest atomic number to the highest, numbered, each "
               "with its atomic number in brackets: {xs}.",
               "Arrange these chemical elements by atomic number (ascending), numbered, number in "
               "brackets: {xs}."),
}  # fmt: skip


def rewrite_sort(m: Material, seed, wanted: int):
    pools = {"year": [], "born": [], "number": []}
    for table in ("inventions", "discoveries"):
        for r in m.rows(table):
            if r["year"]:
                pools["year"].append((table, r["_row"], credit_subject(table, r), r["year"]))
    for table in ("history", "government"):
        for r in m.rows(table):
            if r["relation"] == "event_year":
                pools["year"].append((table, r["_row"], r["entity"], int(r["value"])))
    for p in m.rows("persons"):
        if p["born"] and p["born"] > 0:
            pools["born"].append(("persons", p["_row"], p["name"], p["born"]))
    for r in m.rows("elements"):
        pools["number"].append(("elements", r["_row"], r["name"].lower(), r["number"]))
    kinds = sorted(pools)
    for k in range(wanted):
        kind = kinds[k % 3]
        pool = pools[kind]
        n = 3 + h(seed, "sn", k) % 3
        chosen = [pool[h(seed, "sp", k, j) % len(pool)] for j in range(n)]
        if len({c[3] for c in chosen}) < n or len({c[2] for c in chosen}) < n:
            continue  # ties have no single order
        xs = "; ".join(c[2] for c in chosen)
        q = rotate(SORT_ASK[kind], seed, "sask", k).format(xs=xs)
        ordered = sorted(chosen, key=lambda c: c[3])
        resp = "\n".join(f"{i}. {c[2]} ({c[3]})" for i, c in enumerate(ordered, start=1))
        yield _draft("rewrite", f"sort_{kind}", q, resp, "list_n", [(c[0], c[1]) for c in chosen],
                     n=n)  # fmt: skip


def rewrite(m, seed, wanted):
    return turns(rewrite_json(m, seed), rewrite_sort(m, seed, wanted))


# --- arithmetic ---------------------------------------------------------------------------------
def numeric_problems(seed):
    """Block D families in turn (index by index), each checked by numeric.check."""
    index = 0
    while True:
        for fam in numeric.FAMILIES:
            p = numeric.generate(fam, seed, index)
            yield _draft("arithmetic", f"numeric_{fam}", p.question, p.response, "numeric", [],
                         checked=not numeric.check(p))  # fmt: skip
        index += 1


# {a}, {b}: clauses ("Bell patented the telephone", "the Battle of Hastings took place")
GAP_ASK = ("How many years passed between the year {a} and the year {b}?",
           "Work out how many years lie between the year {a} and the year {b}.",
           "How many years separate the year {a} from the year {b}?")  # fmt: skip


def _steps(lines: list[str], x: int, y: int, op: str) -> str:
    z = x - y if op == MINUS else x + y
    return "\n".join([*lines, f"{x} {op} {y} = {z}.", f"The answer is {z}."])


def table_arithmetic(m: Material, seed, wanted: int):
    events = []
    for table, col in (("inventions", "inventor"), ("discoveries", "scientist")):
        for r in m.rows(table):
            if r["year"]:
                clause = f"{_the_group(r[col])} {r['verb']} {credit_subject(table, r)}"
                events.append((table, r["_row"], clause, r["year"]))
    for table in ("history", "government"):
        for r in m.rows(table):
            if r["relation"] == "event_year":
                events.append((table, r["_row"], f"{r['entity']} took place", int(r["value"])))
    elements = m.rows("elements")
    persons = [p for p in m.rows("persons") if _lifespan(p)]
    shapes = [r for r in m.rows("mathematics") if r["relation"] == "polygon_sides"]
    pairs = list(combinations(range(len(shapes)), 2))
    for k in range(wanted):
        kind = k % 4
        if kind == 0:
            e1, e2 = (events[h(seed, "gap", k, j) % len(events)] for j in range(2))
            if e1[3] == e2[3]:
                continue
            q = rotate(GAP_ASK, seed, "gask", k).format(a=e1[2], b=e2[2])
            hi, lo = max(e1[3], e2[3]), min(e1[3], e2[3])
            lines = [f"{names.cap(e[2])} in {e[3]}." for e in (e1, e2)]
            yield _draft("arithmetic", "year_gap", q, _steps(lines, hi, lo, MINUS), "numeric",
                         [(e1[0], e1[1]), (e2[0], e2[1])])  # fmt: skip
        elif kind == 1:
            a, b = (elements[h(seed, "protons", k, j) % len(elements)] for j in range(2))
            if a["number"] <= b["number"]:
                a, b = b, a
            if a["number"] == b["number"]:
                continue
            x, y = a["name"].lower(), b["name"].lower()
            q = rotate((f"How many more protons does an atom of {x} have than an atom of {y}?",
                        f"By how much does the atomic number of {x} exceed that of {y}?",
                        f"What is the difference between the atomic numbers of {x} and {y}?"),
                       seed, "pask", k)  # fmt: skip
            lines = [f"{names.cap(x)} has atomic number {a['number']}.",
                     f"{names.cap(y)} has atomic number {b['number']}."]  # fmt: skip
            yield _draft("arithmetic", "atomic_gap", q, _steps(lines, a["number"], b["number"], MINUS),
                         "numeric", [("elements", a["_row"]), ("elements", b["_row"])])  # fmt: skip
        elif kind == 2:
            p = persons[h(seed, "life", k) % len(persons)]
            q = rotate((f"How many years passed between the birth and the death of {p['name']}?",
                        f"{p['name']} lived from which year to which? Give the number of years "
                        "between the two.",
                        f"Count the years from {p['name']}'s birth year to the year of death."),
                       seed, "lask", k)  # fmt: skip
            lines = [f"{p['name']} was born in {p['born']}.", f"{p['name']} died in {p['died']}."]
            yield _draft("arithmetic", "lifespan", q, _steps(lines, p["died"], p["born"], MINUS),
                         "numeric", [("persons", p["_row"])])  # fmt: skip
        else:
            i, j = pairs[h(seed, "sides", k) % len(pairs)]
            s1, s2 = shapes[i], shapes[j]
            q = rotate((f"How many sides do {_a(s1['entity'])} and {_a(s2['entity'])} have altogether?",
                        f"Add the number of sides of {_a(s1['entity'])} to that of {_a(s2['entity'])}.",
                        f"What is the total number of sides of {_a(s1['entity'])} and "
                        f"{_a(s2['entity'])}?"), seed, "sask", k)  # fmt: skip
            lines = [f"{names.cap(_a(s['entity']))} has {s['value']} sides." for s in (s1, s2)]
            yield _draft("arithmetic", "sides_sum", q,
                         _steps(lines, int(s1["value"]), int(s2["value"]), "+"), "numeric",
                         [("mathematics", s1["_row"]), ("mathematics", s2["_row"])])  # fmt: skip


def arithmetic(m, seed, wanted):
    # the table kinds together take the same share as the numeric families
    return turns(numeric_problems(seed), table_arithmetic(m, seed, wanted))


# --- verification ------------------------------------------------------------------------------
_TERM = r"(?:\d+/\d+|\d+(?:\.\d+)?)"
_STEP = re.compile(rf"({_TERM}(?: [+−×÷] {_TERM})+) = ({_TERM})")


def steps_hold(response: str) -> bool:
    """Steps + "The answer is N.": every "x ± y = z." line re-computed, N the last result."""
    if not is_numeric(response, allow_steps=True):
        return False
    last = None
    for line in response.split("\n")[:-1]:
        for expr, result in _STEP.findall(line):
            if numeric.evaluate(expr) != Fraction(result):
                return False
            last = result
    return last is not None and response.endswith(f"The answer is {last}.")


def _in_order(items: list[str], text: str) -> bool:
    at = -1
    for x in items:
        at = text.find(x, at + 1)
        if at < 0:
            return False
    return True


def verify(d: Draft) -> bool:
    meta, resp, kind = d.meta, d.response, d.meta["kind"]
    one_line = resp and "\n" not in resp and resp == resp.strip()
    if d.task == "qa":
        return is_short_fact(resp) and meta.get("value", "").casefold() in resp.casefold()
    if d.task == "explain" or kind == "from_json":
        return bool(one_line) and resp.endswith(".") and all(x in resp for x in meta["mentions"])
    if kind.startswith("filter_"):
        answer = meta["answer"]
        return (
            is_comma_list(resp, len(answer))
            and resp.split(", ") == answer
            and all(x in meta["listed"] for x in answer)
        )
    if kind == "passage_years":
        return is_comma_list(resp, 3) and _in_order(resp.split(", "), d.instruction)
    if kind.startswith("passage_"):
        items = [ln.split(". ", 1)[1] for ln in resp.split("\n")]
        return is_numbered_list(resp, 3) and _in_order(items, d.instruction)
    if kind == "to_json":
        return is_json_object(resp, meta["keys"]) and json.loads(resp) == meta["expected"]
    if kind.startswith("sort_"):
        if not is_numbered_list(resp, meta["n"]):
            return False
        keys = [int(re.search(r"\((\d+)\)$", ln).group(1)) for ln in resp.split("\n")]
        return keys == sorted(keys)
    if d.task == "arithmetic":
        return meta.get("checked", True) and steps_hold(resp)
    raise ValueError(f"no verifier for {d.task}/{kind}")


def build(ctx) -> None:
    t = Targets.model_validate(ctx.manifest.targets)
    m = Material(ctx, TABLES)
    seed, seen = ctx.seed, set()
    streams = {
        "qa": lambda n: qa(m, seed),
        "explain": lambda n: explain(m, seed),
        "extract": lambda n: extract(m, seed, 2 * n),
        "rewrite": lambda n: rewrite(m, seed, 2 * n),
        "arithmetic": lambda n: arithmetic(m, seed, 2 * n),  # take() stops at the quota
    }
    for task in TASKS:
        if task in t.tasks:
            take(ctx, task, streams[task](t.tasks[task]), t.tasks[task], verify, seen)
    m.finish(reference=("persons",))
    ctx.set_targets({**ctx.manifest.targets})
