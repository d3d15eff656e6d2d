"""Lints for rendered repair/surgical items: the English and content defects issue 13 found.

`lint(record, tables)` returns the defect names one rendered item has (empty when clean):

| lint                  | fires on                                                              |
|-----------------------|-----------------------------------------------------------------------|
| plural_agreement      | "1 hours", "1 minutes" (a count of one with a plural noun)            |
| missing_article       | "capital of Dominican Republic", "Who composed Moonlight Sonata?"     |
| table_note            | a table key's note inside text: "Who composed William Tell (the opera)?" |
| double_preposition    | "dates from in 1717"                                                  |
| fraction_not_lowest   | "2/10 of a garden"                                                    |
| two_correct_options   | a who-made-it / associated-with MCQ whose distractor is also right    |
| key_only_format       | a numeric MCQ whose key is the only option written its way            |

Which names take "the" is the curated list in generators/names.py (never guessed), and the
table checks join the item's options against the fact tables. `stem(question)` groups questions
by wording (entities and numbers masked) for the "no stem above 5% of a block" rule.
"""

import json
import re
from collections import Counter
from math import gcd

from ffdata.formats import parse_mcq
from ffdata.generators import mcq, names, numeric

LINTS = (
    "plural_agreement",
    "missing_article",
    "table_note",
    "double_preposition",
    "fraction_not_lowest",
    "two_correct_options",
    "key_only_format",
)

# nouns that follow a count in generated text; "1 class" or "1 bus" end in s and are singular
_PLURAL_AFTER_ONE = re.compile(
    r"(?<![\d.,/])\b1 (hours|minutes|seconds|days|weeks|months|years|dollars|cents|students|"
    r"people|kilometres|kilometers|miles|metres|meters|items|pieces|times|"
    + "|".join(re.escape(p) for _, p in numeric.ITEMS)
    + r")\b"
)
# case-sensitive: "the symbol In in the periodic table", "the author of Of Mice and Men" are fine
_DOUBLE_PREP = re.compile(r"\b(?:from in|in in|of of|the the)\b")
_FRACTION = re.compile(r"(?<![\d/])(\d+)/(\d+)(?![\d/])")


_CACHE: dict[tuple[str, int], object] = {}


def _cached(name: str, tables, make):
    """Per fact-table object: the joins below are built once per build, not per item."""
    key = (name, id(tables))
    if key not in _CACHE:
        _CACHE[key] = make(tables)
    return _CACHE[key]


def _article_names(tables) -> tuple[list[str], set[str]]:
    """Names that take "the" in running text, longest first, and the words that may stand
    before them instead ("the painting Mona Lisa", "the opera William Tell")."""
    forms = {r["form"] for t in ("literature", "music", "art") for r in tables[t].rows}
    before = {w for f in forms for w in f.split()} | {"the", "The", "opera", "statue", "work"}
    need = set(names.COUNTRIES_WITH_THE)
    for title, mention in names.WORK_FORMS.values():
        if mention.startswith("the ") and mention[4:] == title:
            need.add(title)
    return sorted(need, key=len, reverse=True), before


def _article_missing(text: str, tables) -> bool:
    need, before = _cached("articles", tables, _article_names)
    for name in need:
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text):
            prev = text[: m.start()].split()[-2:]  # "the southern United States" is fine
            if not prev or (prev[-1] not in before and "the" not in prev):
                return True
        text = text.replace(name, "X")  # "Republic of the Congo" inside a longer name
    return False


def _noted_keys(tables) -> tuple[str, ...]:
    keys = []
    for t in ("literature", "music", "art", "philosophy", "inventions", "discoveries"):
        col = mcq.CREDIT_TABLES[t][0]
        keys += [r[col] for r in tables[t].rows if "(" in r[col]]
    return tuple(keys)


def _texts(record: dict) -> tuple[str, list[str]]:
    """(the prose of the item — question stem and sentence answers, options) of a record."""
    if record["format"] == "mcq_letter":
        try:
            question, options = parse_mcq(record["instruction"])
        except ValueError:
            return record["instruction"], []
        return question, options
    prose = record["instruction"]
    if record["format"] in ("short_fact", "yes_no", "numeric", "free"):
        prose += "\n" + record["response"]
    return prose, []


def _two_correct(meta: dict, options: list[str], key: str, tables) -> bool:
    table, row = meta.get("table"), meta.get("row")
    if table not in mcq.CREDIT_TABLES or meta.get("template") not in ("creator", "work_by"):
        return False
    rows = tables[table].rows
    r = next((x for x in rows if x["_row"] == row), None)
    if r is None:
        return False
    who_col = mcq.CREDIT_TABLES[table][1]
    wrong = [o for o in options if o != key]
    if meta["template"] == "creator":
        mine = mcq.option(table, r)
        also = set(names.SAME_TITLE.get(mine, ()))
        also |= {x[who_col] for x in rows if names.titles_clash(mine, mcq.option(table, x))}
        return any(o in also for o in wrong)
    who = r[who_col]
    own = [mcq.option(table, x) for x in rows if x[who_col] == who]
    for o in wrong:
        if o in own or who in names.SAME_TITLE.get(o, ()):
            return True
        if any(names.titles_clash(o, t) for t in own):
            return True
    return False


def _look(option: str) -> tuple | None:
    o = option.strip().replace(",", "")
    if re.fullmatch(r"\d+/\d+", o):
        return ("fraction", int(o.split("/")[1]) % 2)
    m = re.fullmatch(r"(\$?)-?\d+(?:\.(\d+))?(%?)", o)
    return (m[1], len(m[2] or ""), m[3]) if m else None


def _key_only_format(options: list[str], key: str) -> bool:
    looks = [_look(o) for o in options]
    if not options or any(v is None for v in looks):
        return False
    counts = Counter(looks)
    return counts[_look(key)] == 1 and len(counts) == 2


def lint(record: dict, tables) -> list[str]:
    """The defects of one rendered record (a row of a built set, meta as JSON text or dict)."""
    meta = record.get("meta") or {}
    meta = json.loads(meta) if isinstance(meta, str) else meta
    prose, options = _texts(record)
    key = meta.get("correct", "")
    found = []
    if _PLURAL_AFTER_ONE.search(prose):
        found.append("plural_agreement")
    if _article_missing(prose, tables):
        found.append("missing_article")
    if any(k in prose or k in options for k in _cached("notes", tables, _noted_keys)):
        found.append("table_note")
    if _DOUBLE_PREP.search(prose):
        found.append("double_preposition")
    if any(gcd(int(a), int(b)) > 1 for a, b in _FRACTION.findall(prose + " " + " ".join(options))):
        found.append("fraction_not_lowest")
    if options and _two_correct(meta, options, key, tables):
        found.append("two_correct_options")
    if options and key and _key_only_format(options, key):
        found.append("key_only_format")
    return found


# --- stems --------------------------------------------------------------------------------------
_NUMBERISH = re.compile(r"\$?\d[\d,.:/]*\d|\$?\d")
_ENGLISH_SYMBOLS = frozenset({"I", "In", "No", "As", "Be", "He", "At", "Am", "Ho", "Pa", "Re"})


def _vocab(tables) -> re.Pattern:
    words = set(numeric.SLOT_WORDS)
    columns = {
        "countries": ("country", "capital", "continent"),
        "elements": ("name", "category"),
        "persons": ("name",),
        "inventions": ("invention", "inventor"),
        "discoveries": ("discovery", "scientist"),
        "literature": ("work", "author", "form"),
        "music": ("work", "composer", "form"),
        "art": ("work", "artist", "form"),
        "philosophy": ("work", "philosopher"),
    }
    for t, cols in columns.items():
        for r in tables.get(t).rows if t in tables else ():
            for c in cols:
                if r.get(c):
                    words |= {str(r[c]), str(r[c]).lower()}
            if t in names.WORK_COLUMN:
                words |= {names.title(t, r), names.mention(t, r)}
            if t == "inventions":
                words.add(mcq.subject(t, r))
    if "elements" in tables:
        words |= {r["symbol"] for r in tables["elements"].rows} - _ENGLISH_SYMBOLS
    alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True) if w)
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)")


def stem(question: str, tables) -> str:
    """A question's wording with its entities and numbers masked ("Who wrote X?")."""
    first = question.split("\n")[0]
    masked = _cached("vocab", tables, _vocab).sub("X", first)
    masked = _NUMBERISH.sub("#", masked)
    return re.sub(r"X(?:\W+X)+", "X", masked)
