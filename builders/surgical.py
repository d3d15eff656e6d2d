"""surgical: output-discipline examples (stage 6), balanced over four formats, every response
accepted by its format's verifier (ffdata.formats).

| format       | from                                   | response                       |
|--------------|----------------------------------------|--------------------------------|
| `yes_no`     | countries / elements tables (material) | "Yes" or "No" (half each)      |
| `mcq_letter` | ARC train (real rows)                  | the option letter              |
| `list_n`     | countries / elements tables (material) | exactly N numbered lines       |
| `numeric`    | GSM8K train (real rows)                | the final number only          |

Each instruction ends with an explicit format request. `targets.total` is split evenly over
`targets.formats` (largest remainder); a format that cannot fill its quota is an error.
Real rows are chosen by a seeded hash order; the rest are dropped as `over_quota`. Table rows are
material for generated items (sources `gen:yes_no`, `gen:list_n`), not one row per item, so they
are read with their sha256 check but not counted as input rows.
"""

import json
from collections import Counter
from typing import Literal

from builders.distill_v3 import largest_remainder
from ffdata.adapters import gsm8k_solution
from ffdata.errors import FFDataError
from ffdata.formats import is_list_n, is_mcq_letter, is_numeric, is_yes_no, render_mcq, verify
from ffdata.generators import names
from ffdata.hashing import stable_hash as _h
from ffdata.manifest import PositiveCount, SourceOptions, Strict
from ffdata.records import make_record
from ffdata.sources import open_source

VERSION = "2"
FORMATS = ("yes_no", "mcq_letter", "list_n", "numeric")


class Targets(Strict):  # checked before the build (ffdata.manifest.check_builder_keys)
    total: PositiveCount = 3000
    formats: list[Literal[FORMATS]] = list(FORMATS)
    numeric_sources: list[str] = ["gsm8k_train"]
    mcq_sources: list[str] = ["arc_easy_train", "arc_challenge_train"]

    def rows_asked(self) -> int:  # a set short of `total` is refused (check_shortfall)
        return self.total


TARGETS, OPTIONS, SOURCE_OPTIONS = Targets, Strict, SourceOptions  # it reads no options
ASK = {
    "yes_no": (
        "Answer with Yes or No.",
        "Reply with only Yes or No.",
        "Answer Yes or No, nothing else.",
    ),
    "numeric": (
        "Answer with only the final number.",
        "Respond with just the number, no words or units.",
        "Give only the numeric answer.",
    ),
}


def _table(ctx, name: str) -> list[dict]:
    _, rows = open_source(ctx.manifest.source(name), ctx.base_dir)
    return [r for _, r in rows]


def _record(ctx, fmt, source, row, instruction, response, category, meta):
    return make_record(
        set_name=ctx.set_name,
        block=fmt,
        source=source,
        source_row=row,
        seed=ctx.seed,
        instruction=instruction,
        response=response,
        format=fmt,
        category=category,
        meta=meta,
    )


# A plausible wrong continent for each (a near one, not a random pairing).
NEAR_CONTINENT = {
    "Africa": ("Asia", "Europe"),
    "Europe": ("Asia", "Africa"),
    "Asia": ("Europe", "Oceania", "Africa"),
    "North America": ("South America", "Europe"),
    "South America": ("North America", "Africa"),
    "Oceania": ("Asia", "South America"),
}

YES_NO_PHRASINGS = {
    "capital": (
        "Is {x} the capital of {c}?",
        "Is the capital of {c} {x}?",
        "Is {x} the capital city of {c}?",
        "Does {c} have {x} as its capital?",
        "Is it true that {x} is the capital of {c}?",
    ),
    "continent": (
        "Is {c} in {x}?",
        "Is {c} a country in {x}?",
        "Does {c} lie in {x}?",
        "Is {c} located on the continent of {x}?",
        "Is {c} part of {x}?",
    ),
    "symbol": (
        "Is {x} the chemical symbol for {e}?",
        "In the periodic table, is {e} written {x}?",
        "Does the symbol {x} stand for {e}?",
        "Is the chemical symbol of {e} {x}?",
        "Is it true that {x} is the symbol for {e}?",
    ),
    "number": (
        "Is the atomic number of {e} {x}?",
        "Does {e} have atomic number {x}?",
        "Does an atom of {e} have {x} protons?",
        "Is {e} element number {x}?",
        "Is it true that {e} has atomic number {x}?",
    ),
    "category": (
        "Is {e} {a} {x}?",
        "Is {e} one of the {xs}?",
        "Is {e} classified as {a} {x}?",
        "Does {e} belong to the {xs}?",
        "Is it true that {e} is {a} {x}?",
    ),
    "period": (
        "Is {e} in period {x} of the periodic table?",
        "Does {e} sit in period {x}?",
        "Is {e} a period {x} element?",
        "Is {e} found in period {x} of the periodic table?",
        "Is it true that {e} is in period {x}?",
    ),
}


def _plural(category: str) -> str:
    return category[:-1] + "es" if category.endswith("gas") else category + "s"


def _facts(countries, elements, seed) -> list[tuple[str, int, object, object, dict]]:
    """(relation, row, true value, plausible wrong value, slots) — one per fact."""
    out = []
    caps = [c for c in countries if c["capital"] and c["country"]]
    for i, c in enumerate(caps):
        slots = {"c": names.country(c["country"])}
        near = [x["capital"] for x in caps if x["continent"] == c["continent"] and x is not c]
        near = near or [x["capital"] for x in caps if x is not c]
        out.append(("capital", i, c["capital"], near[_h(seed, "cap", i) % len(near)], slots))
        if c["continent"] in NEAR_CONTINENT:
            alt = NEAR_CONTINENT[c["continent"]]
            out.append(("continent", i, c["continent"], alt[_h(seed, "cont", i) % len(alt)], slots))
    by_number = {int(e["number"]): e for e in elements}
    for i, e in enumerate(elements):
        num, slots = int(e["number"]), {"e": e["name"].lower()}
        # wrong symbol: one that a reader could confuse — same first letter, else a neighbour's
        same = [x["symbol"] for x in elements if x["symbol"][0] == e["name"][0] and x is not e]
        nbrs = [by_number[k]["symbol"] for k in (num - 1, num + 1) if k in by_number]
        pool = same or nbrs
        out.append(("symbol", i, e["symbol"], pool[_h(seed, "sym", i) % len(pool)], slots))
        offs = [k for k in (-3, -2, -1, 1, 2, 3) if 1 <= num + k <= 118]
        out.append(("number", i, num, num + offs[_h(seed, "num", i) % len(offs)], slots))
        if e["category"]:
            near_cats = [
                by_number[k]["category"]
                for k in sorted(by_number, key=lambda k: (abs(k - num), k))
                if by_number[k]["category"] not in ("", e["category"])
            ]
            out.append(("category", i, e["category"], near_cats[0], slots))
        p = int(e["period"])
        wrong_p = p + (1 if p == 1 or (p < 7 and _h(seed, "per", i) % 2) else -1)
        out.append(("period", i, p, wrong_p, slots))
    return out


def yes_no_items(ctx, countries, elements) -> list[dict]:
    """One statement per fact (a capital, a continent, an element's symbol, number, category or
    period), true or false by a seeded alternation; a false one names a plausible wrong value (a
    capital of the same continent, a neighbouring element's symbol), never a random pairing."""
    seed, items = ctx.seed, []
    facts = _facts(countries, elements, seed)
    order = sorted(range(len(facts)), key=lambda k: _h(seed, "truth", *facts[k][:2]))
    truth = {k: pos % 2 == 0 for pos, k in enumerate(order)}
    for k, (relation, i, right, wrong, slots) in enumerate(facts):
        x = right if truth[k] else wrong
        phr = YES_NO_PHRASINGS[relation]
        template = phr[_h(seed, "phrase", relation, i) % len(phr)]
        fill = {**slots, "x": x}
        if relation == "category":
            fill |= {"a": "an" if str(x)[0] in "aeiou" else "a", "xs": _plural(str(x))}
        stem = template.format(**fill)
        ask = ASK["yes_no"][_h(seed, "ask", stem) % 3]
        meta = {"truth": truth[k], "relation": relation, "row": i, "asked": x}
        items.append(
            _record(
                ctx, "yes_no", "gen:yes_no", k, f"{names.cap(stem)} {ask}",
                "Yes" if truth[k] else "No", relation, meta,
            )
        )  # fmt: skip
    return items


LIST_PHRASINGS = {
    "countries": (
        "List exactly {n} countries in {g}, one per line, numbered.",
        "Name {n} countries that are in {g}. Give one per line, numbered 1 to {n}.",
        "Write a numbered list of {n} countries in {g}, one per line.",
        "Give exactly {n} countries located in {g} as a numbered list, one per line.",
        "Which countries are in {g}? List exactly {n}, numbered, one per line.",
        "Name exactly {n} countries on the continent of {g}, numbered, one on each line.",
        "Produce a numbered list of {n} {g} countries, one per line and nothing else.",
        "I need {n} countries from {g}: write them as a numbered list, one per line.",
    ),
    "category": (
        'List exactly {n} chemical elements in the category "{g}", one per line, numbered.',
        "Name {n} {gs}. Give one per line, numbered 1 to {n}.",
        "Write a numbered list of {n} elements that are {gs}, one per line.",
        "Give exactly {n} examples of {gs} as a numbered list, one per line.",
        "Which elements are {gs}? List exactly {n}, numbered, one per line.",
        "Name exactly {n} chemical elements classed as {gs}, numbered, one on each line.",
        "Produce a numbered list of {n} {gs}, one per line and nothing else.",
        "I need {n} {gs}: write them as a numbered list, one per line.",
    ),
    "period": (
        "List exactly {n} chemical elements in period {g} of the periodic table, one per line, "
        "numbered.",
        "Name {n} elements of period {g}. Give one per line, numbered 1 to {n}.",
        "Write a numbered list of {n} elements from period {g}, one per line.",
        "Give exactly {n} period {g} elements as a numbered list, one per line.",
        "Which elements are in period {g}? List exactly {n}, numbered, one per line.",
        "Name exactly {n} elements found in period {g} of the periodic table, numbered, one on "
        "each line.",
        "Produce a numbered list of {n} elements in period {g}, one per line and nothing else.",
        "I need {n} elements from period {g}: write them as a numbered list, one per line.",
    ),
}


def list_items(ctx, countries, elements, wanted: int) -> list[dict]:
    """Numbered lists over table groups (countries of a continent, elements of a category or a
    period); kinds take turns and each kind's phrasings rotate, so no prompt stem dominates."""
    seed = ctx.seed
    groups: dict[str, dict[str, list[str]]] = {k: {} for k in LIST_PHRASINGS}
    for c in countries:
        if c["continent"]:
            groups["countries"].setdefault(c["continent"], []).append(c["country"])
    for e in elements:
        if e["category"]:
            groups["category"].setdefault(e["category"], []).append(e["name"])
        groups["period"].setdefault(str(e["period"]), []).append(e["name"])
    keys = {kind: sorted(g for g, v in gs.items() if len(v) >= 6) for kind, gs in groups.items()}
    kinds = sorted(LIST_PHRASINGS)
    items, asks, seen, turns = [], Counter(), set(), dict.fromkeys(kinds, 0)
    for k in range(wanted * 6):
        kind = kinds[k % len(kinds)]
        group = keys[kind][_h(seed, "group", k) % len(keys[kind])]
        n = 2 + _h(seed, "n", k) % 5
        members = sorted(groups[kind][group], key=lambda m: _h(seed, "pick", k, m))[:n]
        phr = LIST_PHRASINGS[kind]
        ask = phr[turns[kind] % len(phr)].format(n=n, g=group, gs=_plural(group))
        response = "\n".join(f"{i}. {m}" for i, m in enumerate(members, start=1))
        if asks[ask] >= 2 or (ask, response) in seen:  # a prompt at most twice, never the same
            continue
        asks[ask] += 1
        seen.add((ask, response))
        turns[kind] += 1
        items.append(_record(ctx, "list_n", "gen:list_n", k, ask, response, kind, {"n": n}))
        if len(items) >= wanted + wanted // 10:  # a margin for verifier/decontam drops
            break
    return items


def numeric_items(ctx, source: str) -> list[dict]:
    items = []
    for idx, row in ctx.read_source(source):
        solved = gsm8k_solution(str(row.get("answer", "")))
        if not isinstance(row.get("question"), str) or solved is None:
            raise FFDataError(f"source {source!r} row {idx}: needs 'question' and '#### N' answer")
        ask = ASK["numeric"][_h(ctx.seed, "ask", source, idx) % 3]
        items.append(
            _record(
                ctx,
                "numeric",
                source,
                idx,
                f"{row['question'].strip()}\n{ask}",
                solved[1],
                "gsm8k",
                {},
            )  # fmt: skip
        )
    return items


def mcq_items(ctx, source: str) -> list[dict]:
    items = []
    for idx, row in ctx.read_source(source):
        try:
            labels, texts = row["choices"]["label"], row["choices"]["text"]
            letter = "ABCDEFGHIJ"[labels.index(row["answerKey"])]
            question = row["question"]
        except (KeyError, ValueError, TypeError, IndexError):
            raise FFDataError(
                f"source {source!r} row {idx}: needs question, choices{{label,text}}, answerKey"
            ) from None
        meta = {"n_options": len(texts), "arc_id": row.get("id")}
        items.append(
            _record(
                ctx, "mcq_letter", source, idx, render_mcq(question, texts), letter, "arc", meta
            )
        )
    return items


def _balanced_yes_no(records: list[dict], n: int, seed) -> list[dict]:
    """n items, half Yes and half No within every relation: (Yes, No) pairs are made per
    relation (category) in the given order, and pairs are taken in a seeded order."""
    pairs = []
    for relation in sorted({r["category"] for r in records}):
        rel = [r for r in records if r["category"] == relation]
        yes = [r for r in rel if r["response"] == "Yes"]
        no = [r for r in rel if r["response"] == "No"]
        pairs += list(zip(yes, no, strict=False))
    pairs.sort(key=lambda p: _h(seed, "pair", p[0]["id"]))
    out = [r for p in pairs[: n // 2] for r in p]
    if n % 2:
        out += [pairs[n // 2][0]] if len(pairs) > n // 2 else []
    return out


def _passes(rec: dict) -> bool:
    fmt, text = rec["format"], rec["response"]
    if fmt == "mcq_letter":
        return is_mcq_letter(text, n_options=int(json.loads(rec["meta"])["n_options"]))
    if fmt == "list_n":
        return is_list_n(text, n=int(json.loads(rec["meta"])["n"]))
    return {"yes_no": is_yes_no, "numeric": is_numeric}[fmt](text) and verify(fmt, text)


def build(ctx) -> None:
    t = ctx.manifest.targets
    formats = list(t.get("formats", FORMATS))
    quotas = largest_remainder(int(t.get("total", 3000)), {f: 1.0 for f in formats})
    countries, elements = _table(ctx, "countries"), _table(ctx, "elements")
    pools = {
        "yes_no": yes_no_items(ctx, countries, elements),
        "list_n": list_items(ctx, countries, elements, quotas.get("list_n", 0)),
        "numeric": [r for s in t.get("numeric_sources", ["gsm8k_train"]) for r in numeric_items(ctx, s)],
        "mcq_letter": [
            r for s in t.get("mcq_sources", ["arc_easy_train", "arc_challenge_train"])
            for r in mcq_items(ctx, s)
        ],
    }  # fmt: skip
    for fmt in formats:
        pool = pools[fmt]
        for rec in pool:  # generated items are inputs too: each is kept or dropped below
            if rec["source"].startswith("gen:"):
                ctx.generated(rec["source"], pool=fmt)
        if fmt != "list_n":  # lists keep their seeded order, in which phrasings rotate evenly
            pool.sort(key=lambda r: _h(ctx.seed, fmt, r["source"], r["source_row"]))
        ok = []
        for rec in pool:
            if not _passes(rec):
                ctx.drop(rec["source"], rec["source_row"], "verifier_failed", rec["response"][:80])
            else:
                ok.append(rec)
        keep = ctx.keep_batch(ok)
        clean = [r for r, k in zip(ok, keep, strict=True) if k]
        if fmt == "yes_no":
            chosen = {r["id"] for r in _balanced_yes_no(clean, quotas[fmt], ctx.seed)}
        else:
            chosen = {r["id"] for r in clean[: quotas[fmt]]}
        if len(chosen) < quotas[fmt]:
            raise FFDataError(
                f"surgical: format {fmt!r} has {len(chosen)} usable items for a quota of {quotas[fmt]}"
            )
        for rec in clean:
            if rec["id"] in chosen:
                ctx.emit(fmt, rec)
            else:
                ctx.drop(rec["source"], rec["source_row"], "over_quota")
    ctx.set_targets({**t, "quotas": quotas})
