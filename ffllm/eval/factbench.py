"""The project's factual bench: short questions with TRUTH lists, scored strictly.

Two benches, never mixed (each has its own prompt file, pinned counts and saved result):
- `card` (default, `factbench.jsonl`): 106 prompts in the card's six categories and counts,
  arithmetic 5, open-ended 1, person 25, science 25, geography 25, format compliance 25;
- `extended` (`factbench_extended.jsonl`): the project's first 116-prompt set.

Every prompt is rendered with the Alpaca-style template the models are trained on
(`ffdata.records.render_prompt`) and answered with greedy decoding, as the card recommends.

Scoring (strict):
- answers are cut at the end-of-text token or the next template header ("###");
- content categories: the first non-empty line, normalized (accents, case, punctuation,
  thousands separators), must contain one TRUTH entry as a whole phrase;
- format prompts: the whole answer must pass the prompt's format checker (FORMATS) AND be right:
  the letter, Yes/No, the number, the one word, each listed item naming exactly one TRUTH entry
  and no entry twice, the short sentence containing a TRUTH entry;
- anchor-entity over-attribution: answers naming Edison, Tesla, Einstein, ... where no TRUTH
  entry names them (the card's known weakness of pinning discoveries on famous names).
"""

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ffdata import formats, strict_formats
from ffdata.errors import FFDataError
from ffdata.hashing import sha256_file
from ffdata.records import render_prompt
from ffllm.eval.common import (
    check_checkpoint,
    load_model,
    load_result,
    pct,
    save_result,
    weights_sha256,
)

# The card's categories, in the card's order, with the names its table prints.
CATEGORIES = ("arithmetic", "open_ended", "person", "science", "geography", "format")
CATEGORY_NAMES = {
    "arithmetic": "arithmetic",
    "open_ended": "open-ended",
    "person": "person",
    "science": "science",
    "geography": "geography",
    "format": "format compliance",
}
BENCH_VERSION = "2"  # 2: the card bench, strict Yes/No, one_word, one-entry-per-item lists
MAX_NEW_TOKENS = 48


@dataclass(frozen=True)
class Bench:
    name: str
    file: Path
    counts: dict[str, int]  # prompts per category, checked on every load
    result_name: str  # <ckpt>/eval/<result_name>.json

    @property
    def total(self) -> int:
        return sum(self.counts.values())


_HERE = Path(__file__).parent
BENCHES = {
    "card": Bench(
        "card",
        _HERE / "factbench.jsonl",
        dict(arithmetic=5, open_ended=1, person=25, science=25, geography=25, format=25),
        "factbench",
    ),
    "extended": Bench(
        "extended",
        _HERE / "factbench_extended.jsonl",
        dict(arithmetic=18, open_ended=18, person=26, science=18, geography=18, format=18),
        "factbench-extended",
    ),
}
DEFAULT_BENCH = "card"
PROMPTS_FILE = BENCHES[DEFAULT_BENCH].file

# Famous names small models reach for whatever the question (normalized spellings).
ANCHORS = {
    "Edison": ("edison",),
    "Tesla": ("tesla",),
    "Einstein": ("einstein",),
    "Newton": ("newton",),
    "Shakespeare": ("shakespeare",),
    "da Vinci": ("da vinci", "leonardo"),
    "Darwin": ("darwin",),
    "Curie": ("curie",),
}

# Letters NFKD does not decompose ('Skłodowska', 'Ørsted', 'Straße').
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "ß": "ss", "æ": "ae"})


def normalize(text: str) -> str:
    """Lower-case ASCII words and numbers: 'Röntgen' -> 'rontgen', '1,000.' -> '1000'."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # thousands separators
    text = re.sub(r"[^a-z0-9.]+", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep only decimal points
    return " ".join(text.split())


def contains_phrase(answer: str, phrase: str) -> bool:
    """Whole-phrase match on normalized text: 'bell' matches 'Graham Bell.', not 'bellow'."""
    a, p = normalize(answer), normalize(phrase)
    return bool(p) and f" {p} " in f" {a} "


# ---------------------------------------------------------------- format checkers


# A model's answer may close with a full stop; otherwise these are the strict checkers the
# format-only sets are verified with.
def is_yes_no_only(text: str) -> bool:
    """ "Yes" or "No", a full stop at most: the prompt asks for nothing else."""
    return strict_formats.is_yes_no_strict(text.removesuffix("."))


def is_one_word(text: str) -> bool:
    """One word of letters (hyphenated or with an apostrophe), a full stop at most."""
    return strict_formats.is_one_word(text.removesuffix("."))


# Every checker accepts exactly its format (tests/test_eval_factbench.py tries near misses).
FORMATS = {
    "mcq_letter": formats.is_mcq_letter,  # one capital letter among the options
    "yes_no": is_yes_no_only,
    "numeric": formats.is_numeric,  # a bare number, no words or units
    "list_n": formats.is_list_n,  # exactly n lines, "1. …" numbered from 1, or "- …"
    "one_word": is_one_word,
    "short_fact": formats.is_short_fact,  # one sentence under 100 characters
}


# ---------------------------------------------------------------- prompts


def get_bench(name: str) -> Bench:
    if name not in BENCHES:
        raise FFDataError(f"unknown factbench {name!r}; expected one of {sorted(BENCHES)}")
    return BENCHES[name]


def load_bench(name: str = DEFAULT_BENCH) -> list[dict]:
    """A named bench's prompts, refused unless its categories have exactly its counts."""
    bench = get_bench(name)
    return load_prompts(bench.file, counts=bench.counts)


def load_prompts(path: str | Path = PROMPTS_FILE, counts: dict[str, int] | None = None):
    path = Path(path)
    prompts, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            p = _check_prompt(line, f"{path}:{lineno}")
            if p["id"] in seen:
                raise FFDataError(f"{path}:{lineno}: field 'id': duplicate {p['id']!r}")
            seen.add(p["id"])
            prompts.append(p)
    if counts is not None:
        got = Counter(p["category"] for p in prompts)
        for c in CATEGORIES:
            if got[c] != counts.get(c, 0):
                raise FFDataError(
                    f"{path}: category {c!r} has {got[c]} prompts; this bench needs "
                    f"{counts.get(c, 0)}"
                )
    return prompts


def _check_prompt(line: str, where: str) -> dict:
    try:
        p = json.loads(line)
    except json.JSONDecodeError as e:
        raise FFDataError(f"{where}: malformed JSON: {e.msg}") from None
    for field in ("id", "category", "prompt", "truth"):
        if not p.get(field):
            raise FFDataError(f"{where}: field {field!r} is missing or empty")
    if p["category"] not in CATEGORIES:
        raise FFDataError(f"{where}: field 'category': unknown {p['category']!r}")
    if not isinstance(p["truth"], list) or not all(
        isinstance(t, str) and normalize(t) for t in p["truth"]
    ):
        raise FFDataError(f"{where}: field 'truth' must be a list of non-empty strings")
    if (p["category"] == "format") != ("format" in p):
        raise FFDataError(f"{where}: field 'format' is required for format prompts, and only there")
    if "format" in p and p["format"] not in FORMATS:
        raise FFDataError(f"{where}: field 'format' must be one of {sorted(FORMATS)}")
    if p.get("format") == "yes_no" and p["truth"] not in (["Yes"], ["No"]):
        raise FFDataError(f'{where}: field \'truth\' of a yes_no prompt is ["Yes"] or ["No"]')
    if p.get("format") == "mcq_letter" and not (
        len(p["truth"]) == 1 and p["truth"][0] in formats.LETTERS
    ):
        raise FFDataError(f"{where}: field 'truth' of an mcq_letter prompt is one option letter")
    if p.get("format") == "list_n" and not isinstance(p.get("n"), int):
        raise FFDataError(f"{where}: field 'n' (list length) is required for list_n")
    return p


def clean_answer(text: str) -> str:
    """The answer proper: up to the next template header, trimmed."""
    return text.split("###", 1)[0].strip()


def first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _list_items(text: str) -> list[str]:
    return [re.sub(r"^(?:\d+\.|-)\s*", "", ln).strip() for ln in text.split("\n")]


def _in(answer: str, truth: list[str]) -> bool:
    """The whole answer, normalized, is one TRUTH entry."""
    return normalize(answer) in {normalize(t) for t in truth}


def _right(fmt: str, answer: str, truth: list[str]) -> bool:
    """Whether an answer already in its format carries the TRUTH."""
    if fmt == "mcq_letter":
        return answer in truth
    if fmt in ("yes_no", "numeric", "one_word"):
        return _in(answer, truth)
    if fmt == "list_n":  # each item names exactly one entry, no entry twice
        named = [[t for t in truth if contains_phrase(item, t)] for item in _list_items(answer)]
        return all(len(n) == 1 for n in named) and len({n[0] for n in named}) == len(named)
    return any(contains_phrase(answer, t) for t in truth)  # short_fact


def score_answer(prompt: dict, answer: str) -> dict:
    """correct / format_ok / anchors for one cleaned answer."""
    truth = prompt["truth"]
    fmt = prompt.get("format")
    out: dict = {"id": prompt["id"], "category": prompt["category"], "answer": answer}
    if fmt:
        ok = FORMATS[fmt](answer, **({"n": prompt["n"]} if fmt == "list_n" else {}))
        correct = ok and _right(fmt, answer, truth)
        out["format_ok"] = ok
    else:
        line = first_line(answer)
        correct = any(contains_phrase(line, t) for t in truth)
    out["correct"] = bool(correct)
    named = first_line(answer) if not fmt else answer
    out["anchors"] = [
        name
        for name, spellings in ANCHORS.items()
        if any(contains_phrase(named, s) for s in spellings)
        and not any(contains_phrase(t, s) for t in truth for s in spellings)
    ]
    return out


# ---------------------------------------------------------------- running


def generate(model, tokenizer, prompts: list[str], batch_size: int = 16) -> list[str]:
    """Greedy completions, batched with left padding; decoded text after the prompt."""
    import torch

    tokenizer.padding_side = "left"
    eos = tokenizer.eos_token_id
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        enc = tokenizer(batch, return_tensors="pt", padding=True).to(model.device)
        with torch.no_grad():
            gen = model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=MAX_NEW_TOKENS,
                use_cache=True,  # whatever the checkpoint's generation_config.json says
                eos_token_id=eos,
                pad_token_id=eos,
            )
        for row in gen[:, enc["input_ids"].shape[1] :]:
            ids = row.tolist()
            if eos in ids:
                ids = ids[: ids.index(eos)]
            out.append(tokenizer.decode(ids))
    return out


def run_factbench(
    model, tokenizer, prompts: list[dict] | None = None, batch_size: int = 16, bench=None
) -> dict:
    """Score `prompts` (default: the card bench's); `bench` names them in the label."""
    if prompts is None:
        prompts, bench = load_bench(DEFAULT_BENCH), DEFAULT_BENCH
    raw = generate(model, tokenizer, [render_prompt(p["prompt"]) for p in prompts], batch_size)
    answers = [score_answer(p, clean_answer(r)) for p, r in zip(prompts, raw, strict=True)]
    return summarize(answers, bench)


def summarize(answers: list[dict], bench: str | None = None) -> dict:
    """Totals per category (all six, in the card's order, even when empty) and overall."""
    cats = {}
    for c in CATEGORIES:
        rows = [a for a in answers if a["category"] == c]
        correct = sum(a["correct"] for a in rows)
        cats[c] = {
            "prompts": len(rows),
            "correct": correct,
            "acc": correct / len(rows) if rows else None,
        }
    fmt_rows = [a for a in answers if "format_ok" in a]
    over = [a for a in answers if a["anchors"]]
    correct = sum(a["correct"] for a in answers)
    name = f"{bench} bench" if bench else "custom prompts"
    return {
        "benchmark": "factbench",
        "bench_version": BENCH_VERSION,
        "prompts": len(answers),
        "correct": correct,
        "acc": correct / len(answers) if answers else 0.0,
        "categories": cats,
        "format_compliance": {
            "prompts": len(fmt_rows),
            "ok": sum(a["format_ok"] for a in fmt_rows),
        },
        "anchor_overattribution": {
            "count": len(over),
            "by_anchor": dict(sorted(Counter(n for a in over for n in a["anchors"]).items())),
            "ids": [a["id"] for a in over],
        },
        "decoding": {"greedy": True, "max_new_tokens": MAX_NEW_TOKENS, "template": "alpaca"},
        "answers": answers,
        "label": f"factbench v{BENCH_VERSION}, {name} ({len(answers)} prompts, greedy, "
        "Alpaca template)",
    }


def bench_record(name: str) -> dict:
    """What a result says of its bench: name, file, its sha256 and the counts per category."""
    bench = get_bench(name)
    return {
        "name": bench.name,
        "file": bench.file.name,
        "prompts_sha256": sha256_file(bench.file),
        "counts": {c: bench.counts[c] for c in CATEGORIES},
    }


def is_current(result: dict, bench: str) -> bool:
    """Whether a saved result is of this bench as it is now (same prompt file and rules)."""
    return (
        result.get("benchmark") == "factbench"
        and result.get("bench") == bench_record(bench)
        and result.get("bench_version") == BENCH_VERSION
    )


def evaluate_factbench(
    ckpt: str | Path,
    *,
    bench: str = DEFAULT_BENCH,
    batch_size: int = 16,
    device: str = "cpu",
    reuse: bool = True,
) -> dict:
    """Run a named bench on a checkpoint, saved as <ckpt>/eval/<bench's result_name>.json."""
    ckpt = check_checkpoint(ckpt)
    record = bench_record(bench)
    expect = {
        "weights_sha256": weights_sha256(ckpt),
        "bench": record,
        "prompts_sha256": record["prompts_sha256"],
        "bench_version": BENCH_VERSION,
    }
    result_name = get_bench(bench).result_name
    if reuse and (saved := load_result(ckpt, result_name, expect)):
        return saved
    prompts = load_bench(bench)
    model, tok = load_model(ckpt, device=device)
    result = run_factbench(model, tok, prompts, batch_size, bench=bench)
    result.update(expect)
    save_result(ckpt, result_name, result)
    return result


# ---------------------------------------------------------------- the card's table


def format_factbench(result: dict) -> str:
    """The card's table: category | prompts | correct | accuracy, its six categories in its
    order, a total row; then format compliance and anchor over-attribution."""
    lines = [
        f"**{result['label']}**",
        "",
        "| category | prompts | correct | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for c in CATEGORIES:  # fixed order (saved JSON has sorted keys)
        v = result["categories"].get(c, {"prompts": 0, "correct": 0, "acc": None})
        lines.append(
            f"| {CATEGORY_NAMES[c]} | {v['prompts']} | {v['correct']} | {pct(v['acc'], 1)} |"
        )
    lines.append(
        f"| **total** | **{result['prompts']}** | **{result['correct']}** "
        f"| **{pct(result['acc'], 1)}** |"
    )
    fc, ao = result["format_compliance"], result["anchor_overattribution"]
    lines += [
        "",
        f"Format compliance (the format checkers alone): {fc['ok']}/{fc['prompts']}. "
        f"Anchor-entity over-attribution: {ao['count']} answers"
        + (
            f" ({', '.join(f'{k} ×{v}' for k, v in ao['by_anchor'].items())})"
            if ao["count"]
            else ""
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"
