"""Answer-blind baselines: how far a model gets on a set's MCQ and yes/no items without knowing
anything, by a rule that looks only at the question and the options.

Each baseline gives every item a credit in [0, 1]: 1 when its pick is the key, 0 when not, and
1/k when it cannot choose between k options (a fair coin among them). A baseline's accuracy on
a group of items is the mean credit; its chance is what a blind uniform guess gets there (1/2 on
yes/no items, the mean of 1/n_options on MCQs); its gain is accuracy - chance. The 95% interval
is Wilson's. docs/audits.md explains each rule.

Groups are (part, block, pool): the shard part (validation is its own part), the record's block,
and the pool (meta.pool, else the category). Blocks with several pools also get an "(all)" row,
shown but not judged.
A manifest's `shortcuts: {max_gain, min_items}` makes the build fail when any group of at least
min_items items has a baseline whose gain exceeds max_gain (`check_build`).
"""

import csv
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ffdata.errors import FFDataError
from ffdata.formats import LETTERS, parse_mcq

DEFAULT_MAX_GAIN = 0.05
DEFAULT_MIN_ITEMS = 50
ALL_POOLS = "(all)"
Z95 = 1.959964
COLUMNS = ("part", "block", "pool", "baseline", "items", "accuracy", "chance", "gain",
           "ci_low", "ci_high", "ok")  # fmt: skip

_YES_NO = re.compile(r"^(Yes|No)\b")
_LETTER = re.compile(r"^\(?([A-J])(?:\)|\.|:|\s|$)")
_WORD = re.compile(r"[^\W_]+")
# Words every question and option may share: they say nothing about the answer.
_STOP = frozenset(
    "a an the of in on at to for by with from and or is are was were be been it its this that "
    "these those which what who whom whose when where why how did does do not no yes as".split()
)
# A number as options are written: "$1,050.50", "-3", "45%", "3/8"
_NUMBER = re.compile(
    r"^(?P<pre>[$€£]?)(?P<sign>-?)(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<dec>\d+))?(?P<suf>%?)$"
)
_FRACTION = re.compile(r"^(?P<sign>-?)(?P<num>\d+)/(?P<den>\d+)$")
_FORMATS = pa.array(["mcq_letter", "yes_no"])  # the record formats with a key to guess


@dataclass
class Item:
    part: str
    block: str
    pool: str
    question: str  # the stem (MCQ: without the options and the closing ask)
    options: list[str]  # yes/no items: ["Yes", "No"]
    key: int  # index of the right option
    yes_no: bool
    # the fixed rules' picks, computed once: an item is scored in its pool and in its block's "(all)"
    picks: dict = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def numbers(self) -> list[float] | None:
        """The options' values when every option is a number, else None."""
        values = [_number(o) for o in self.options]
        return None if self.yes_no or any(v is None for v in values) else values


# --- parsing ------------------------------------------------------------------------------------
def _meta(text: str | None) -> dict:
    try:
        meta = json.loads(text or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def items_from_table(table, part: str) -> tuple[list[Item], int]:
    """The MCQ and yes/no items of one part's rows; also how many such rows could not be read
    (an MCQ prompt not in the render_mcq layout, a response without a letter or Yes/No)."""
    if "format" not in table.column_names or "instruction" not in table.column_names:
        return [], 0
    table = table.filter(pc.is_in(table.column("format"), value_set=_FORMATS))
    cols = {c: table.column(c).to_pylist() if c in table.column_names else [None] * table.num_rows
            for c in ("format", "instruction", "response", "block", "category", "meta")}  # fmt: skip
    items, unread = [], 0
    for fmt, instruction, response, block, category, meta_text in zip(*cols.values(), strict=True):
        meta = _meta(meta_text)
        pool = str(meta.get("pool") or category or block or "")
        response = (response or "").strip()
        if fmt == "yes_no":
            m = _YES_NO.match(response)
            if not m:
                unread += 1
                continue
            items.append(Item(part, block or "", pool, instruction or "", ["Yes", "No"],
                              0 if m.group(1) == "Yes" else 1, True))  # fmt: skip
            continue
        try:
            question, options = parse_mcq(instruction or "")
        except ValueError:
            unread += 1
            continue
        m = _LETTER.match(response)
        key = LETTERS.index(m.group(1)) if m else len(options)
        if key >= len(options):
            unread += 1
            continue
        items.append(Item(part, block or "", pool, question, options, key, False))
    return items, unread


def items_from_files(files: Iterable[tuple[str, Path]]) -> tuple[list[Item], int]:
    """Items of (part, parquet path) shards, in the order given."""
    items, unread = [], 0
    for part, path in files:
        columns = [c for c in ("format", "instruction", "response", "block", "category", "meta")
                   if c in pq.read_schema(path).names]  # fmt: skip
        got, bad = items_from_table(pq.read_table(path, columns=columns), part)
        items += got
        unread += bad
    return items, unread


# --- the baselines ------------------------------------------------------------------------------
def _credit(picks: list[int], key: int) -> float:
    """Credit of a rule that cannot tell `picks` apart: a uniform choice among them."""
    return (key in picks) / len(picks) if picks else 0.0


def _argbest(values: list[float], best=max) -> list[int]:
    target = best(values)
    return [i for i, v in enumerate(values) if v == target]


def _number(text: str) -> float | None:
    text = text.strip()
    if m := _NUMBER.match(text):
        value = float(m["int"].replace(",", "") + ("." + m["dec"] if m["dec"] else ""))
        return -value if m["sign"] else value
    if (m := _FRACTION.match(text)) and int(m["den"]):
        value = int(m["num"]) / int(m["den"])
        return -value if m["sign"] else value
    return None


def number_format(text: str) -> tuple:
    """How a number is written, not its value: currency sign, percent, decimal places,
    thousands separators, a fraction and its denominator's parity, the sign."""
    text = text.strip()
    if m := _FRACTION.match(text):
        return ("fraction", "odd" if int(m["den"]) % 2 else "even", bool(m["sign"]))
    m = _NUMBER.match(text)
    if not m:
        return ("other",)
    return (m["pre"], m["suf"], len(m["dec"] or ""), "," in m["int"], bool(m["sign"]))


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOP}


# A rule: item -> the options it picks among (None: the rule does not apply to this item).
Rule = Callable[[Item], list[int] | None]


def _longest(item: Item):
    return None if item.yes_no else _argbest([len(o.strip()) for o in item.options])


def _shortest(item: Item):
    return None if item.yes_no else _argbest([len(o.strip()) for o in item.options], min)


def _most_central(item: Item):
    values = item.numbers
    if values is None:
        return None
    mean = sum(values) / len(values)
    return _argbest([-abs(v - mean) for v in values])


def _only_of_format(item: Item):
    """The one option written differently from all the others (which share one way), if any."""
    if item.numbers is None:
        return None
    kinds = Counter(number_format(o) for o in item.options)
    if len(kinds) != 2 or min(kinds.values()) != 1 or len(item.options) < 3:
        return None
    odd = min(kinds, key=kinds.get)
    return [i for i, o in enumerate(item.options) if number_format(o) == odd]


def _most_words_shared(item: Item):
    if item.yes_no:
        return None
    stem = _words(item.question)
    return _argbest([len(_words(o) & stem) for o in item.options])


def _anchor_rules(anchors: frozenset[str]) -> dict[str, Rule]:
    def split(item: Item):
        if item.yes_no:
            return None, None
        named = [i for i, o in enumerate(item.options) if o.strip() in anchors]
        if not named or len(named) == len(item.options):
            return None, None
        return named, [i for i in range(len(item.options)) if i not in named]

    return {"pick_the_anchor": lambda it: split(it)[0], "avoid_the_anchor": lambda it: split(it)[1]}


FIXED_RULES: dict[str, Rule] = {
    "always_yes": lambda it: [0] if it.yes_no else None,
    "always_no": lambda it: [1] if it.yes_no else None,
    "longest_option": _longest,
    "shortest_option": _shortest,
    "most_central_number": _most_central,
    "only_of_its_format": _only_of_format,
    "most_words_shared": _most_words_shared,
}
ORDER = ("always_yes", "always_no", "most_frequent_letter", "longest_option", "shortest_option",
         "most_central_number", "most_frequent_rank", "only_of_its_format", "pick_the_anchor",
         "avoid_the_anchor", "most_words_shared")  # fmt: skip


def _rank(item: Item) -> int | None:
    """The key's position among the options sorted by value (0 = smallest)."""
    values = item.numbers
    if values is None:
        return None
    return sorted(values).index(values[item.key])


def _fitted(items: list[Item]) -> dict[str, list[tuple[Item, float]]]:
    """Baselines fitted on the group itself: always the most frequent key letter, and (numeric
    options) always the most frequent sorted rank. This is the prior a model learns from the
    training pool, so it is fitted on the pool it is scored on."""
    out = {}
    mcq = [it for it in items if not it.yes_no]
    if mcq:
        letter = Counter(it.key for it in mcq).most_common(1)[0][0]
        out["most_frequent_letter"] = [(it, float(it.key == letter)) for it in mcq]
    ranked = [(it, r) for it in mcq if (r := _rank(it)) is not None]
    if ranked:
        rank = Counter(r for _, r in ranked).most_common(1)[0][0]
        out["most_frequent_rank"] = [(it, float(r == rank)) for it, r in ranked]
    return out


# --- the panel ----------------------------------------------------------------------------------
def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion p observed on n items."""
    if n == 0:
        return (0.0, 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Row:
    part: str
    block: str
    pool: str
    baseline: str
    items: int
    accuracy: float
    chance: float
    ok: bool | None  # None: fewer than min_items items, not judged

    @property
    def gain(self) -> float:
        return self.accuracy - self.chance

    def values(self) -> tuple:
        lo, hi = wilson(self.accuracy, self.items)
        return (self.part, self.block, self.pool, self.baseline, self.items,
                round(self.accuracy, 4), round(self.chance, 4), round(self.gain, 4),
                round(lo, 4), round(hi, 4), self.ok)  # fmt: skip


def _picks(item: Item, name: str, rule: Rule) -> list[int] | None:
    if name not in FIXED_RULES:  # the anchor rules depend on the anchors: not cached
        return rule(item)
    if name not in item.picks:
        item.picks[name] = rule(item)
    return item.picks[name]


def _group_rows(key, items, anchors, max_gain, min_items) -> list[Row]:
    rules = dict(FIXED_RULES)
    if anchors:
        rules.update(_anchor_rules(anchors))
    scored: dict[str, list[tuple[Item, float]]] = _fitted(items)
    for name, rule in rules.items():
        credits = [(it, _credit(picks, it.key)) for it in items
                   if (picks := _picks(it, name, rule)) is not None]  # fmt: skip
        if credits:
            scored[name] = credits
    rows = []
    for name in ORDER:
        if name not in scored:
            continue
        credits = scored[name]
        n = len(credits)
        accuracy = sum(c for _, c in credits) / n
        chance = sum(1 / len(it.options) for it, _ in credits) / n
        # judged per pool; a block's "(all)" row is shown, not judged: it mixes pools of unlike
        # items, where a fitted rule (most frequent letter or rank) reads noise as a cue
        ok = None if n < min_items or key[2] == ALL_POOLS else accuracy - chance <= max_gain + 1e-9
        rows.append(Row(*key, name, n, accuracy, chance, ok))
    return rows


def panel(
    items: list[Item],
    anchors: Iterable[str] = (),
    max_gain: float = DEFAULT_MAX_GAIN,
    min_items: int = DEFAULT_MIN_ITEMS,
) -> list[Row]:
    """Every baseline on every (part, block, pool) group, and on (part, block, "(all)") where
    a block has several pools."""
    anchors = frozenset(a.strip() for a in anchors)
    groups: dict[tuple[str, str, str], list[Item]] = {}
    for it in items:
        groups.setdefault((it.part, it.block, it.pool), []).append(it)
        groups.setdefault((it.part, it.block, ALL_POOLS), []).append(it)
    rows = []
    for key in sorted(groups):
        pools = {k[2] for k in groups if k[:2] == key[:2] and k[2] != ALL_POOLS}
        if key[2] == ALL_POOLS and len(pools) < 2:
            continue  # the one pool's rows say it already
        rows += _group_rows(key, groups[key], anchors, max_gain, min_items)
    return rows


def anchors_for(targets: dict | None, manifest: dict | None, project_dir: Path) -> list[str]:
    """The anchor names of a set: the builder's targets.anchor_table_share ({category: {name:
    share}}), else the `anchor` column of a manifest source whose path ends in anchors.csv."""
    shares = (targets or {}).get("anchor_table_share")
    if isinstance(shares, dict):
        names = [n for v in shares.values() if isinstance(v, dict) for n in v]
        if names:
            return sorted(names)
    for source in (manifest or {}).get("sources", []):
        path = source.get("path") or ""
        if path.endswith("anchors.csv") and (project_dir / path).exists():
            with open(project_dir / path, encoding="utf-8", newline="") as f:
                return sorted({r["anchor"] for r in csv.DictReader(f) if r.get("anchor")})
    return []


def failures(rows: list[Row]) -> list[Row]:
    """Judged rows that beat chance by more than allowed, largest gain first."""
    return sorted((r for r in rows if r.ok is False), key=lambda r: (-r.gain, r.values()))


def describe(row: Row) -> str:
    where = f"pool {row.block}/{row.pool}" + (
        f" (part {row.part})" if row.part != row.block else ""
    )
    return (f"{row.baseline} scores {row.accuracy:.1%} on {where}, {row.items} items, "
            f"chance {row.chance:.1%}")  # fmt: skip


def check_build(manifest, files, targets: dict, project_dir: Path) -> list[Row]:
    """The build gate (manifest.shortcuts): raise one FFDataError naming the worst baseline, its
    pool and accuracy. `files`: (part, Parquet path) of the staged shards, before publishing."""
    spec = manifest.shortcuts
    files = [(part, Path(p)) for part, p in files if str(p).endswith(".parquet")]
    items, _ = items_from_files(files)
    anchors = anchors_for(targets, manifest.model_dump(mode="json"), project_dir)
    rows = panel(items, anchors, spec.max_gain, spec.min_items)
    bad = failures(rows)
    if bad:
        more = f"; {len(bad) - 1} more (ffdata audit {manifest.name})" if len(bad) > 1 else ""
        raise FFDataError(
            f"{manifest.name}: answer-blind shortcut: {describe(bad[0])}, "
            f"{bad[0].gain * 100:.1f} points over chance (shortcuts.max_gain {spec.max_gain} "
            f"on pools of >= {spec.min_items} items){more}; the set was not published"
        )
    return rows


# --- the key's balance (issue 13's targets) ---------------------------------------------------
BALANCE_COLUMNS = ("part", "block", "pool", "yes_no_items", "yes_share", "numeric_items",
                   "rank_shares", "key_only_of_its_format", "ok")  # fmt: skip
BALANCE_TOLERANCE = 0.03


def key_balance(items: list[Item], min_items: int = DEFAULT_MIN_ITEMS) -> list[tuple]:
    """Per (part, block, pool): the Yes share of its yes/no items; the key's share at each
    position of the options sorted by value (numeric MCQ); how many keys are the only option of
    their format. ok: Yes share 50% ± 3 points and each rank within 3 points of 1/n_options,
    each judged on at least min_items items (None: nothing to judge), and no such key."""
    groups: dict[tuple[str, str, str], list[Item]] = {}
    for it in items:
        groups.setdefault((it.part, it.block, it.pool), []).append(it)
    rows = []
    for key in sorted(groups):
        group = groups[key]
        yes_no = [it for it in group if it.yes_no]
        ranked = [(it, r) for it in group if (r := _rank(it)) is not None]
        if not yes_no and not ranked:
            continue
        yes = sum(it.key == 0 for it in yes_no) / len(yes_no) if yes_no else None
        shares, checks = None, []
        if len(yes_no) >= min_items:
            checks.append(abs(yes - 0.5) <= BALANCE_TOLERANCE + 1e-9)
        if ranked:
            width = max(len(it.options) for it, _ in ranked)
            got = [sum(r == k for _, r in ranked) / len(ranked) for k in range(width)]
            want = [sum(1 / len(it.options) for it, _ in ranked if len(it.options) > k)
                    / len(ranked) for k in range(width)]  # fmt: skip
            shares = [round(g, 4) for g in got]
            if len(ranked) >= min_items:
                checks += [abs(g - w) <= BALANCE_TOLERANCE + 1e-9
                           for g, w in zip(got, want, strict=True)]  # fmt: skip
        odd = sum(_only_of_format(it) == [it.key] for it in group)
        ok = (all(checks) and not odd) if checks or odd else None
        rows.append((*key, len(yes_no), None if yes is None else round(yes, 4), len(ranked),
                     shares, odd, ok))  # fmt: skip
    return rows
