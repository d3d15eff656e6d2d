"""format_only: the card's stage-5 "format-only" LoRA sets (v1, v3): template-structured items
that teach answer-format discipline and nothing else. The content is easy, checkable table
facts (capitals, symbols, currencies, authors); what varies is the shape the answer must take,
and every response passes the strict verifier of that shape (ffdata.strict_formats).

| format          | response                                   | v1 | v3 |
|-----------------|--------------------------------------------|----|----|
| `answer_line`   | `Answer: Nairobi`                          | x  | x  |
| `letter`        | `C` (MCQ in the render_mcq layout)         | x  | x  |
| `yes_no`        | `Yes` / `No`, nothing else                 | x  | x  |
| `one_word`      | `mammal`                                   | x  | x  |
| `json`          | `{"capital": "Nairobi", "continent": "Africa"}` (the keys asked, in order) | x | x |
| `numbered_list` | `1. Paris\\n2. Rome` (exactly the N asked)  | x  | x  |
| `number_only`   | `26`                                       |    | x  |
| `comma_list`    | `Paris, Rome, Lima` (exactly N)            |    | x  |
| `bullet_list`   | `- Paris\\n- Rome` (exactly N)              |    | x  |

`targets.phrasing`: `fixed` (v1) states each format with one sentence, always after the question;
`varied` (v3) rotates four sentences per format and puts the request before or after the question.
`targets.total` is split evenly over `targets.formats` (largest remainder).

No answer-blind shortcut: yes/no items come in (true, false) pairs per relation, a false one
naming a plausible wrong value (a capital of the same continent, a symbol with the same first
letter); MCQ keys take the letters A-D in turn (a seeded permutation per four items) and their
length rank among the options in turn, and no option shares a word with the question; the
manifest's `shortcuts:` gate checks both on the built shards.
"""

from typing import Literal

from builders._stage5 import Draft, Material, h, rotate, seeded, take
from builders.distill_v3 import largest_remainder
from builders.surgical import NEAR_CONTINENT
from ffdata.formats import LETTERS, render_mcq
from ffdata.generators import names
from ffdata.manifest import PositiveCount, SourceOptions, Strict
from ffdata.strict_formats import canonical_json, check

VERSION = "1"
FORMATS = ("answer_line", "letter", "yes_no", "one_word", "json", "numbered_list",
           "number_only", "comma_list", "bullet_list")  # fmt: skip
TABLES = ("countries", "elements", "currencies", "us_states", "biology", "instruments",
          "astronomy", "mathematics", "literature", "persons")  # fmt: skip


class Targets(Strict):  # checked before the build (ffdata.manifest.check_builder_keys)
    total: PositiveCount
    formats: list[Literal[FORMATS]]
    phrasing: Literal["fixed", "varied"] = "fixed"

    def rows_asked(self) -> int:
        return self.total


TARGETS, OPTIONS, SOURCE_OPTIONS = Targets, Strict, SourceOptions

# The record format each strict format is stored under (ffdata.records.FORMATS): letter and
# yes/no items are what the shortcut panel reads.
RECORD_FORMAT = {"letter": "mcq_letter", "yes_no": "yes_no", "numbered_list": "list_n",
                 "bullet_list": "list_n", "number_only": "numeric"}  # fmt: skip

ASK_FIXED = {
    "answer_line": 'Reply with one line in the form "Answer: <answer>".',
    "yes_no": "Answer with Yes or No only.",
    "one_word": "Answer in one word.",
    "json": "Reply with only a JSON object with the keys {keys}.",
    "numbered_list": "Answer as a numbered list of {n} lines, nothing else.",
    "number_only": "Reply with the number only.",
    "comma_list": "Answer with the {n} items separated by commas, nothing else.",
    "bullet_list": 'Answer as {n} lines, each starting with "- ", nothing else.',
}
ASK_VARIED = {
    "answer_line": (
        'Reply with one line in the form "Answer: <answer>".',
        'Give your reply as "Answer: " followed by the answer, and nothing more.',
        'Format: a single line starting with "Answer: ".',
        'Write only "Answer: " and then the answer.',
    ),
    "letter": (
        "Reply with a single capital letter.",
        "Only the option letter is wanted.",
        "Pick one option; write its letter alone.",
        "Respond with just one letter.",
    ),
    "yes_no": (
        "Answer with Yes or No only.",
        "Reply Yes or No, without any other word.",
        "Say only Yes or No.",
        "One word: Yes or No.",
    ),
    "one_word": (
        "Answer in one word.",
        "Reply with a single word.",
        "Use exactly one word.",
        "One word only, no punctuation.",
    ),
    "json": (
        "Reply with only a JSON object with the keys {keys}.",
        "Return a JSON object whose keys are {keys}, in that order, and nothing else.",
        "Output one line of JSON with exactly the keys {keys}.",
        "Give the result as a JSON object (keys: {keys}); no other text.",
    ),
    "numbered_list": (
        "Answer as a numbered list of {n} lines, nothing else.",
        "Write {n} numbered lines (1., 2., ...), one item per line.",
        "Give exactly {n} lines numbered from 1, and no other text.",
        "Format the answer as a numbered list with {n} entries.",
    ),
    "number_only": (
        "Reply with the number only.",
        "Give just the number, with no words.",
        "Only digits, please: no units or sentence.",
        "Answer with a bare number.",
    ),
    "comma_list": (
        "Answer with the {n} items separated by commas, nothing else.",
        "Write the {n} answers on one line, separated by commas.",
        "Give a comma-separated list of {n} items and no closing full stop.",
        "One line, {n} items, commas between them.",
    ),
    "bullet_list": (
        'Answer as {n} lines, each starting with "- ", nothing else.',
        "Write a bulleted list of {n} items, one per line, using a dash for each bullet.",
        'Give exactly {n} lines of the form "- item".',
        "Format the answer as {n} dash bullets, one per line.",
    ),
}


# --- facts: (relation, table, row, question, value) -------------------------------------------
def _countries(m: Material) -> list[dict]:
    return [r for r in m.rows("countries") if r["capital"] and r["country"]]


def text_facts(m: Material, seed) -> list[tuple[str, str, int, str, str]]:
    """Questions with a short text answer, in a seeded order."""
    out = []
    for r in _countries(m):
        c = names.country(r["country"])
        out.append(
            ("capital", "countries", r["_row"], f"What is the capital of {c}?", r["capital"])
        )
        if r["continent"]:
            q = f"On which continent is {c}?"
            out.append(("continent", "countries", r["_row"], q, r["continent"]))
    for r in m.rows("elements"):
        e = r["name"].lower()
        out.append(("symbol", "elements", r["_row"], f"What is the chemical symbol of {e}?",
                    r["symbol"]))  # fmt: skip
        out.append(("element_of_symbol", "elements", r["_row"],
                    f"Which chemical element has the symbol {r['symbol']}?", r["name"]))  # fmt: skip
    for r in m.rows("currencies"):
        q = f"What is the currency of {names.country(r['entity'])}?"
        out.append(("currency", "currencies", r["_row"], q, r["value"]))
    for r in m.rows("us_states"):
        q = f"What is the capital of the U.S. state of {r['entity']}?"
        out.append(("state_capital", "us_states", r["_row"], q, r["value"]))
    for r in m.rows("biology"):
        q = f"To which group of animals does the {r['entity']} belong?"
        out.append(("animal_group", "biology", r["_row"], q, r["value"]))
    for r in m.rows("instruments"):
        q = f"To which family of instruments does the {r['entity']} belong?"
        out.append(("instrument_family", "instruments", r["_row"], q, r["value"]))
    for r in m.rows("astronomy"):
        if r["relation"] == "moon_of":
            q = f"Which planet does the moon {r['entity']} orbit?"
            out.append(("moon_of", "astronomy", r["_row"], q, r["value"]))
    for r in m.rows("literature"):
        q = f"Who wrote {names.mention('literature', r)}?"
        out.append(("author", "literature", r["_row"], q, r["author"]))
    return seeded(out, seed, "text_facts")


def number_facts(m: Material, seed) -> list[tuple[str, str, int, str, str]]:
    out = []
    for r in m.rows("elements"):
        e = r["name"].lower()
        out.append(("atomic_number", "elements", r["_row"], f"What is the atomic number of {e}?",
                    str(r["number"])))  # fmt: skip
        out.append(("period", "elements", r["_row"],
                    f"In which period of the periodic table is {e}?", str(r["period"])))  # fmt: skip
    for r in m.rows("literature"):
        if r["year"]:
            q = f"In which year was {names.mention('literature', r)} first published?"
            out.append(("year", "literature", r["_row"], q, str(r["year"])))
    for r in m.rows("mathematics"):
        what = {"polygon_sides": "sides", "solid_faces": "faces"}[r["relation"]]
        a = ("an " if r["entity"][0] in "aeiou" else "a ") + r["entity"]
        out.append((r["relation"], "mathematics", r["_row"], f"How many {what} does {a} have?",
                    r["value"]))  # fmt: skip
    return seeded(out, seed, "number_facts")


# --- asking -----------------------------------------------------------------------------------
def ask(fmt: str, question: str, phrasing: str, seed, key, **slots) -> str:
    """The question with its format request: v1 one fixed sentence after it; v3 one of four,
    before or after it. MCQ prompts keep render_mcq's closing line (what evaluators parse)."""
    if phrasing == "fixed":
        return question if fmt == "letter" else f"{question}\n{ASK_FIXED[fmt].format(**slots)}"
    request = rotate(ASK_VARIED[fmt], seed, "ask", fmt, key).format(**slots)
    if fmt == "letter" or h(seed, "place", fmt, key) % 2:
        return f"{request}\n{question}"  # letter: the options and their closing line follow
    return f"{question}\n{request}"


def _keys_text(keys: list[str]) -> str:
    quoted = [f'"{k}"' for k in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _draft(fmt, question, response, relation, rows, **meta) -> Draft:
    return Draft(fmt, question, response, RECORD_FORMAT.get(fmt, "free"), relation,
                 {"strict_format": fmt, "pool": fmt, "relation": relation, **meta}, rows)  # fmt: skip


def answer_line(m, seed, phrasing):
    for rel, table, row, q, v in text_facts(m, seed ^ 1):
        if not v.endswith("."):
            yield _draft("answer_line", ask("answer_line", q, phrasing, seed, q), f"Answer: {v}",
                         rel, ((table, row),))  # fmt: skip


def one_word(m, seed, phrasing):
    for rel, table, row, q, v in text_facts(m, seed ^ 2):
        if check("one_word", v, {}):
            yield _draft("one_word", ask("one_word", q, phrasing, seed, q), v, rel, ((table, row),))


def number_only(m, seed, phrasing):
    for rel, table, row, q, v in number_facts(m, seed ^ 3):
        yield _draft("number_only", ask("number_only", q, phrasing, seed, q), v, rel,
                     ((table, row),))  # fmt: skip


def _words(text: str) -> set[str]:
    return {w for w in "".join(c if c.isalnum() else " " for c in text.casefold()).split()}


def letter(m, seed, phrasing):
    """MCQ over facts whose key can take any length rank among its options: the k-th kept item
    gets rank k % 4 (how many distractors are shorter) and the letter of a seeded permutation of
    A-D per four items, so both are balanced exactly over what the set keeps."""
    facts = [f for f in text_facts(m, seed ^ 4) if f[0] not in ("continent",)]
    values: dict[str, list[str]] = {}
    for rel, *_, v in facts:
        values.setdefault(rel, []).append(v)
    for rel, table, row, q, key in facts:
        stem = _words(q) - {"the", "of", "a", "an", "is", "what", "which", "to", "in", "does"}
        if _words(key) & stem:
            continue
        pool = sorted({v for v in values[rel] if v.casefold() != key.casefold()
                       and not (_words(v) & stem) and v not in key and key not in v})  # fmt: skip
        by_len: dict[int, list[str]] = {}
        for v in seeded(pool, seed, "mcq", q):
            by_len.setdefault(len(v), []).append(v)
        shorter = seeded([by_len[n][0] for n in sorted(by_len) if n < len(key)], seed, "s", q)
        longer = seeded([by_len[n][0] for n in sorted(by_len) if n > len(key)], seed, "l", q)
        if len(shorter) < 3 or len(longer) < 3:
            continue  # it could not take every rank

        def settle(k, q=q, key=key, rel=rel, src=(table, row), shorter=shorter, longer=longer):
            rank = k % 4
            wrong = seeded(shorter[:rank] + longer[: 3 - rank], seed, "order", q)
            at = LETTERS.index(seeded(list(LETTERS[:4]), seed, "letters", k // 4)[k % 4])
            options = wrong[:at] + [key] + wrong[at:]
            prompt = ask("letter", render_mcq(q, options), phrasing, seed, q)
            return _draft("letter", prompt, LETTERS[at], rel, (src,), n_options=4,
                          length_rank=rank)  # fmt: skip

        draft = _draft("letter", q, "", rel, ((table, row),))
        draft.settle = settle
        yield draft


def yes_no(m, seed, phrasing):
    """(true, false) pairs per relation, pairs in a seeded order: any even prefix is half Yes."""
    countries = _countries(m)
    continent = {r["country"]: r["continent"] for r in countries}
    by_cont: dict[str, list[str]] = {}
    for r in countries:
        if r["continent"] and "," not in r["capital"]:
            by_cont.setdefault(r["continent"], []).append(r["capital"])
    elements = m.rows("elements")
    groups = sorted({r["value"] for r in m.rows("biology")})

    def wrong(rel, table, row, v, name) -> str | None:
        if rel == "capital":
            alt = [c for c in by_cont.get(continent.get(name, ""), []) if c != v]
        elif rel == "continent":
            alt = list(NEAR_CONTINENT.get(v, ()))
        elif rel == "symbol":
            alt = [e["symbol"] for e in elements if e["symbol"][0] == v[0] and e["symbol"] != v]
        elif rel == "animal_group":
            alt = [g for g in groups if g != v]
        else:
            return None
        return alt[h(seed, "wrong", rel, row) % len(alt)] if alt else None

    templates = {
        "capital": "Is {x} the capital of {c}?",
        "continent": "Is {c} in {x}?",
        "symbol": "Is {x} the chemical symbol of {e}?",
        "animal_group": "Is the {e} {a} {x}?",
    }
    pending: dict[str, list] = {}
    pairs = []
    for r in countries:
        for rel in ("capital", "continent"):
            v = r["capital"] if rel == "capital" else r["continent"]
            if v and "," not in v:
                pending.setdefault(rel, []).append(("countries", r["_row"], v, r["country"]))
    for r in elements:
        pending.setdefault("symbol", []).append(("elements", r["_row"], r["symbol"], r["name"]))
    for r in m.rows("biology"):
        pending.setdefault("animal_group", []).append(
            ("biology", r["_row"], r["value"], r["entity"])
        )
    for rel, facts in pending.items():
        facts = seeded(facts, seed, "yn", rel)
        for k in range(0, len(facts) - 1, 2):
            pairs.append((rel, facts[k], facts[k + 1]))
    for rel, true_fact, false_fact in seeded(pairs, seed, "pairs"):
        if wrong(rel, *false_fact) is None:
            continue  # no plausible wrong value: leave the pair out, so Yes and No stay even
        for truth, (table, row, v, name) in ((True, true_fact), (False, false_fact)):
            x = v if truth else wrong(rel, table, row, v, name)
            q = templates[rel].format(
                x=x, c=names.country(name), e=name.lower(),
                a="an" if x[0] in "aeiou" else "a",
            )  # fmt: skip
            yield _draft("yes_no", ask("yes_no", q, phrasing, seed, q), "Yes" if truth else "No",
                         rel, ((table, row),), truth=truth, asked=x)  # fmt: skip


def json_items(m, seed, phrasing):
    out = []
    for r in _countries(m):
        if r["continent"]:
            c = names.country(r["country"])
            out.append((f"Give the capital and the continent of {c}.", ["capital", "continent"],
                        [r["capital"], r["continent"]], "country", ("countries", r["_row"])))  # fmt: skip
    for r in m.rows("elements"):
        e = r["name"].lower()
        if h(seed, "json_keys", r["_row"]) % 2:
            keys, vals = ["symbol", "atomic_number"], [r["symbol"], r["number"]]
            q = f"Give the chemical symbol and the atomic number of {e}."
        else:
            keys, vals = (
                ["symbol", "atomic_number", "period"],
                [r["symbol"], r["number"], r["period"]],
            )
            q = f"Give the chemical symbol, the atomic number and the period of {e}."
        out.append((q, keys, vals, "element", ("elements", r["_row"])))
    for r in m.rows("literature"):
        if r["year"]:
            q = (f"Who wrote {names.mention('literature', r)}, and in which year was it first "
                 "published?")  # fmt: skip
            out.append(
                (q, ["author", "year"], [r["author"], r["year"]], "work", ("literature", r["_row"]))
            )
    for q, keys, vals, rel, src in seeded(out, seed, "json"):
        prompt = ask("json", q, phrasing, seed, q, keys=_keys_text(keys))
        yield _draft("json", prompt, canonical_json(dict(zip(keys, vals, strict=True))), rel,
                     (src,), keys=keys)  # fmt: skip


LIST_ASKS = {
    "capital": ("Give the capitals of these countries, in the order listed: {xs}.", "countries"),
    "symbol": ("Give the chemical symbols of these elements, in the order listed: {xs}.", "elements"),
    "currency": ("Name the currencies of these countries, in the order listed: {xs}.", "currencies"),
    "state_capital": ("Give the capitals of these U.S. states, in the order listed: {xs}.", "us_states"),
    "author": ("Name the authors of these works, in the order listed: {xs}.", "literature"),
}  # fmt: skip


def _and(items: list[str]) -> str:
    return "; ".join(items)  # titles may hold "and" or commas: semicolons keep items apart


def lists(m, seed, phrasing, fmt: str, wanted: int):
    """Look up N entities (2-5) and give their values in the order listed, as the format asks."""
    facts: dict[str, list] = {}
    for rel, table, row, _, v in text_facts(m, seed ^ 5):
        if rel in LIST_ASKS and "," not in v:
            facts.setdefault(rel, []).append((table, row, v))
    entity = {}
    for r in _countries(m):
        entity[("countries", r["_row"])] = names.country(r["country"])
    for r in m.rows("elements"):
        entity[("elements", r["_row"])] = r["name"].lower()
    for r in m.rows("currencies"):
        entity[("currencies", r["_row"])] = names.country(r["entity"])
    for r in m.rows("us_states"):
        entity[("us_states", r["_row"])] = r["entity"]
    for r in m.rows("literature"):
        entity[("literature", r["_row"])] = names.title("literature", r)
    rels = sorted(facts)
    for k in range(wanted * 2):
        rel = rels[h(seed, fmt, "rel", k) % len(rels)]
        n = 2 + h(seed, fmt, "n", k) % 4
        pool = facts[rel]
        chosen = [pool[h(seed, fmt, "pick", k, j) % len(pool)] for j in range(n)]
        if len({(t, r) for t, r, _ in chosen}) < n:
            continue
        xs = [entity[(t, r)] for t, r, _ in chosen]
        vals = [v for *_, v in chosen]
        q = LIST_ASKS[rel][0].format(xs=_and(xs))
        if fmt == "numbered_list":
            resp = "\n".join(f"{i}. {v}" for i, v in enumerate(vals, start=1))
        elif fmt == "bullet_list":
            resp = "\n".join(f"- {v}" for v in vals)
        else:
            resp = ", ".join(vals)
        rows = tuple((t, r) for t, r, _ in chosen)
        yield _draft(fmt, ask(fmt, q, phrasing, seed, q, n=n), resp, rel, rows, n=n)


def drafts(m: Material, seed, fmt: str, phrasing: str, quota: int):
    if fmt in ("numbered_list", "comma_list", "bullet_list"):
        return lists(m, seed, phrasing, fmt, quota)
    return {"answer_line": answer_line, "one_word": one_word, "number_only": number_only,
            "letter": letter, "yes_no": yes_no, "json": json_items}[fmt](m, seed, phrasing)  # fmt: skip


def verify(d: Draft) -> bool:
    return check(d.meta["strict_format"], d.response, d.meta)


def build(ctx) -> None:
    t = Targets.model_validate(ctx.manifest.targets)
    quotas = largest_remainder(t.total, dict.fromkeys(t.formats, 1.0))
    m = Material(ctx, TABLES)
    seen: set[str] = set()
    for fmt in t.formats:
        take(ctx, fmt, drafts(m, ctx.seed, fmt, t.phrasing, quotas[fmt]), quotas[fmt], verify, seen)
    m.finish(reference=("persons",))
    ctx.set_targets({**ctx.manifest.targets, "quotas": quotas})
