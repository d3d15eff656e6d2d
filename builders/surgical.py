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

import hashlib
import json

from builders.distill_v3 import largest_remainder
from ffdata.adapters import gsm8k_solution
from ffdata.errors import FFDataError
from ffdata.formats import is_list_n, is_mcq_letter, is_numeric, is_yes_no, render_mcq, verify
from ffdata.records import make_record
from ffdata.sources import open_source

VERSION = "1"
FORMATS = ("yes_no", "mcq_letter", "list_n", "numeric")
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


def _h(*parts) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


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


def yes_no_items(ctx, countries, elements) -> list[dict]:
    seed, items = ctx.seed, []
    caps = [c for c in countries if c["capital"] and c["country"]]
    conts = sorted({c["continent"] for c in countries if c["continent"]})
    facts = []  # (question stem, true?, category)
    for i, c in enumerate(caps):
        other = caps[(i + 1 + _h(seed, "cap", i) % (len(caps) - 1)) % len(caps)]["capital"]
        facts.append((f"Is {c['capital']} the capital of {c['country']}?", True, "capital"))
        if other != c["capital"]:
            facts.append((f"Is {other} the capital of {c['country']}?", False, "capital"))
        if c["continent"] in conts:
            wrong = conts[(conts.index(c["continent"]) + 1 + _h(seed, "cont", i) % 5) % len(conts)]
            facts.append((f"Is {c['country']} in {c['continent']}?", True, "continent"))
            facts.append((f"Is {c['country']} in {wrong}?", False, "continent"))
    for i, e in enumerate(elements):
        other = elements[(i + 1 + _h(seed, "el", i) % (len(elements) - 1)) % len(elements)]
        facts.append((f"Is {e['symbol']} the chemical symbol for {e['name']}?", True, "element"))
        if other["symbol"] != e["symbol"]:
            facts.append(
                (f"Is {other['symbol']} the chemical symbol for {e['name']}?", False, "element")
            )
    for k, (stem, truth, cat) in enumerate(facts):
        ask = ASK["yes_no"][_h(seed, "ask", stem) % 3]
        items.append(
            _record(
                ctx,
                "yes_no",
                "gen:yes_no",
                k,
                f"{stem} {ask}",
                "Yes" if truth else "No",
                cat,
                {"truth": truth},
            )  # fmt: skip
        )
    return items


def list_items(ctx, countries, elements, wanted: int) -> list[dict]:
    seed = ctx.seed
    groups = {}
    for c in countries:
        if c["continent"]:
            groups.setdefault(("countries", c["continent"]), []).append(c["country"])
    for e in elements:
        if e["category"]:
            groups.setdefault(("elements", e["category"]), []).append(e["name"])
    keys = sorted(k for k, v in groups.items() if len(v) >= 6)
    items, seen = [], set()
    for k in range(wanted * 3):
        kind, group = keys[_h(seed, "group", k) % len(keys)]
        n = 2 + _h(seed, "n", k) % 5
        members = sorted(groups[(kind, group)], key=lambda m: _h(seed, "pick", k, m))[:n]
        if kind == "countries":
            ask = f"List exactly {n} countries in {group}, one per line, numbered."
        else:
            ask = f'List exactly {n} chemical elements in the category "{group}", one per line, numbered.'
        response = "\n".join(f"{i}. {m}" for i, m in enumerate(members, start=1))
        if (ask, response) in seen:
            continue
        seen.add((ask, response))
        items.append(_record(ctx, "list_n", "gen:list_n", k, ask, response, kind, {"n": n}))
        if len(items) >= wanted * 2:
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
        pool.sort(key=lambda r: _h(ctx.seed, fmt, r["source"], r["source_row"]))
        ok = []
        for rec in pool:
            if not _passes(rec):
                ctx.drop(rec["source"], rec["source_row"], "verifier_failed", rec["response"][:80])
            else:
                ok.append(rec)
        keep = ctx.keep_batch(ok)
        clean = [r for r, k in zip(ok, keep, strict=True) if k]
        if fmt == "yes_no":  # half Yes, half No
            half = quotas[fmt] // 2
            yes = [r for r in clean if r["response"] == "Yes"][: quotas[fmt] - half]
            no = [r for r in clean if r["response"] == "No"][:half]
            chosen = {r["id"] for r in yes + no}
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
