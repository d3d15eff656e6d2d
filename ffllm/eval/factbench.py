"""The project's factual bench: short questions with TRUTH lists, scored strictly.

Prompts live in `factbench.jsonl` next to this file (id, category, prompt, truth, and for the
format category the expected `format` and list length `n`). Every prompt is rendered with the
Alpaca-style template the models are trained on (`ffdata.records.render_prompt`) and answered
with greedy decoding, as the card recommends.

Scoring:
- answers are cut at the end-of-text token or the next template header ("###");
- content categories: the first non-empty line, normalized (accents, case, punctuation,
  thousands separators), must contain one TRUTH entry as a whole phrase;
- format prompts: the whole answer must pass `ffdata.formats.verify` for its format AND carry a
  TRUTH answer (the letter, yes/no, the number, each listed item, the short fact);
- anchor-entity over-attribution: answers naming Edison, Tesla, Einstein, ... where no TRUTH
  entry names them (the card's known weakness of pinning discoveries on famous names).
"""

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

from ffdata import formats
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

PROMPTS_FILE = Path(__file__).parent / "factbench.jsonl"
CATEGORIES = ("arithmetic", "open_ended", "person", "science", "geography", "format")
BENCH_VERSION = "1"
MAX_NEW_TOKENS = 48

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


def normalize(text: str) -> str:
    """Lower-case ASCII words and numbers: 'Röntgen' -> 'rontgen', '1,000.' -> '1000'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # thousands separators
    text = re.sub(r"[^a-z0-9.]+", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep only decimal points
    return " ".join(text.split())


def contains_phrase(answer: str, phrase: str) -> bool:
    """Whole-phrase match on normalized text: 'bell' matches 'Graham Bell.', not 'bellow'."""
    a, p = normalize(answer), normalize(phrase)
    return bool(p) and f" {p} " in f" {a} "


def load_prompts(path: str | Path = PROMPTS_FILE) -> list[dict]:
    path = Path(path)
    prompts, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                p = json.loads(line)
            except json.JSONDecodeError as e:
                raise FFDataError(f"{where}: malformed JSON: {e.msg}") from None
            for field in ("id", "category", "prompt", "truth"):
                if not p.get(field):
                    raise FFDataError(f"{where}: field {field!r} is missing or empty")
            if p["category"] not in CATEGORIES:
                raise FFDataError(f"{where}: field 'category': unknown {p['category']!r}")
            if not isinstance(p["truth"], list) or not all(isinstance(t, str) for t in p["truth"]):
                raise FFDataError(f"{where}: field 'truth' must be a list of strings")
            if p["id"] in seen:
                raise FFDataError(f"{where}: field 'id': duplicate {p['id']!r}")
            if p["category"] == "format" and p.get("format") not in formats.CHECKERS:
                raise FFDataError(
                    f"{where}: field 'format' must be one of {sorted(formats.CHECKERS)}"
                )
            if p.get("format") == "list_n" and not isinstance(p.get("n"), int):
                raise FFDataError(f"{where}: field 'n' (list length) is required for list_n")
            seen.add(p["id"])
            prompts.append(p)
    return prompts


def clean_answer(text: str) -> str:
    """The answer proper: up to the next template header, trimmed."""
    return text.split("###", 1)[0].strip()


def first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _list_items(text: str) -> list[str]:
    return [re.sub(r"^(?:\d+\.|-)\s*", "", ln).strip() for ln in text.split("\n")]


def score_answer(prompt: dict, answer: str) -> dict:
    """correct / format_ok / anchors for one cleaned answer."""
    truth = prompt["truth"]
    fmt = prompt.get("format")
    out: dict = {"id": prompt["id"], "category": prompt["category"], "answer": answer}
    if fmt:
        kwargs = {"n": prompt["n"]} if fmt == "list_n" else {}
        ok = formats.verify(fmt, answer, **kwargs)
        if not ok:
            correct = False
        elif fmt == "mcq_letter":
            correct = answer in truth
        elif fmt == "list_n":
            items = [normalize(i) for i in _list_items(answer)]
            correct = len(set(items)) == len(items) and all(
                any(contains_phrase(i, t) for t in truth) for i in items
            )
        elif fmt == "yes_no":
            correct = normalize(answer).split()[0] in {normalize(t) for t in truth}
        elif fmt == "numeric":
            correct = normalize(answer) in {normalize(t) for t in truth}
        else:
            correct = any(contains_phrase(answer, t) for t in truth)
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


def run_factbench(model, tokenizer, prompts: list[dict] | None = None, batch_size: int = 16):
    prompts = prompts if prompts is not None else load_prompts()
    raw = generate(model, tokenizer, [render_prompt(p["prompt"]) for p in prompts], batch_size)
    answers = [score_answer(p, clean_answer(r)) for p, r in zip(prompts, raw, strict=True)]
    return summarize(answers)


def summarize(answers: list[dict]) -> dict:
    cats = {}
    for c in CATEGORIES:
        rows = [a for a in answers if a["category"] == c]
        if rows:
            correct = sum(a["correct"] for a in rows)
            cats[c] = {"prompts": len(rows), "correct": correct, "acc": correct / len(rows)}
    fmt_rows = [a for a in answers if "format_ok" in a]
    over = [a for a in answers if a["anchors"]]
    correct = sum(a["correct"] for a in answers)
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
        "label": f"factbench v{BENCH_VERSION} ({len(answers)} prompts, greedy, Alpaca template)",
    }


def evaluate_factbench(
    ckpt: str | Path,
    *,
    batch_size: int = 16,
    device: str = "cpu",
    prompts_file: str | Path = PROMPTS_FILE,
    reuse: bool = True,
) -> dict:
    ckpt = check_checkpoint(ckpt)
    expect = {
        "weights_sha256": weights_sha256(ckpt),
        "prompts_sha256": sha256_file(prompts_file),
        "bench_version": BENCH_VERSION,
    }
    if reuse and (saved := load_result(ckpt, "factbench", expect)):
        return saved
    model, tok = load_model(ckpt, device=device)
    result = run_factbench(model, tok, load_prompts(prompts_file), batch_size)
    result.update(expect)
    save_result(ckpt, "factbench", result)
    return result


def format_factbench(result: dict) -> str:
    lines = [
        f"**{result['label']}**",
        "",
        "| category | prompts | correct | acc |",
        "|---|---:|---:|---:|",
    ]
    for c in CATEGORIES:  # fixed order (saved JSON has sorted keys)
        if c not in result["categories"]:
            continue
        v = result["categories"][c]
        lines.append(f"| {c} | {v['prompts']} | {v['correct']} | {pct(v['acc'], 1)} |")
    lines.append(
        f"| **overall** | {result['prompts']} | {result['correct']} | **{pct(result['acc'], 1)}** |"
    )
    fc, ao = result["format_compliance"], result["anchor_overattribution"]
    lines += [
        "",
        f"Format compliance (ffdata.formats verifiers): {fc['ok']}/{fc['prompts']}. "
        f"Anchor-entity over-attribution: {ao['count']} answers"
        + (
            f" ({', '.join(f'{k} ×{v}' for k, v in ao['by_anchor'].items())})"
            if ao["count"]
            else ""
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"
