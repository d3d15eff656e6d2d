"""Held-out MCQ of a built set, scored per subject: the champion rule's weak-domain scores.

MMLU has no literature, music or art subject, so the rule reads those domains here: the MCQ
items of one part of a built set (repair_blocks' `validation_e`: whole works held out of every
training block), grouped by `meta.subject`. Each item is rendered with the Alpaca-style template
the models are trained on (`ffdata.records.render_prompt`, the record's own system prompt), and
the prediction is the option letter with the highest log-likelihood as the next token after the
prompt: the exact token the repair stage trains the model to emit there (its response is the
bare letter). Only the item's own letters compete (A-D for a four-option item), as lm-eval's
`multiple_choice` does for MMLU. Accuracy per subject and over all items.

The result is saved as `CKPT/eval/heldout-<set>-<part>.json`, keyed by the weights' sha256 and
the set's fingerprint, like the other evaluations (ffllm/eval/common.py).
"""

import json
from pathlib import Path

import pyarrow.parquet as pq

from ffdata.errors import FFDataError
from ffdata.records import render_prompt
from ffllm.eval.common import (
    check_checkpoint,
    load_model,
    load_result,
    pct,
    save_result,
    weights_sha256,
)

TASK_VERSION = "1"  # bump when a change could move a score
LETTERS = "ABCDEFGHIJ"


def result_name(set_name: str, part: str) -> str:
    return f"heldout-{set_name}-{part}"


def load_items(built, part: str) -> list[dict]:
    """The part's MCQ items: prompt, gold letter, option count, subject (other formats are
    skipped: their chance level differs)."""
    if part not in built.parts():
        raise FFDataError(f"set {built.name}: no part {part!r} (parts: {built.parts()})")
    items = []
    for path in built.shard_paths(part):
        table = pq.read_table(
            path, columns=["id", "system", "instruction", "response", "format", "meta"]
        )
        for row, r in enumerate(table.to_pylist()):
            if r["format"] != "mcq_letter":
                continue
            meta = json.loads(r["meta"])
            where = f"{path}: row {row}"
            if not meta.get("subject"):
                raise FFDataError(f"{where}: field 'meta.subject' is missing")
            n = len(meta.get("options") or [])
            if not 2 <= n <= len(LETTERS) or r["response"] not in LETTERS[:n]:
                raise FFDataError(
                    f"{where}: field 'response' {r['response']!r} is not one of {n} option letters"
                )
            items.append(
                {
                    "id": r["id"],
                    "prompt": render_prompt(r["instruction"], r["system"]),
                    "gold": r["response"],
                    "options": n,
                    "subject": meta["subject"],
                }
            )
    if not items:
        raise FFDataError(f"set {built.name}: part {part!r} has no MCQ items")
    return items


def letter_ids(tokenizer) -> list[int]:
    ids = [tokenizer.encode(x) for x in LETTERS]
    if any(len(i) != 1 for i in ids):
        raise FFDataError("the tokenizer does not encode each option letter as one token")
    return [i[0] for i in ids]


def letter_logprobs(model, tokenizer, items: list[dict], batch_size: int = 16) -> list[list[float]]:
    """log p(letter | prompt) for each option letter of each item: one forward pass per batch,
    left-padded with explicit positions (so each row sees the positions it has unpadded) and
    logits only at the last position (the full logits would be most of the cost)."""
    import torch

    letters = letter_ids(tokenizer)
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        ids = [tokenizer.encode(it["prompt"]) for it in batch]
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, x in enumerate(ids):
            input_ids[i, width - len(x) :] = torch.tensor(x)
            mask[i, width - len(x) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = model(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                position_ids=positions.to(device),
                logits_to_keep=1,
            ).logits[:, -1]
        logp = torch.log_softmax(logits.float(), -1)
        for it, row in zip(batch, logp, strict=True):
            out.append(row[letters[: it["options"]]].tolist())
    return out


def predict(model, tokenizer, items: list[dict], batch_size: int = 16) -> list[str]:
    """The predicted letter of each item (ties: the first letter)."""
    scores = letter_logprobs(model, tokenizer, items, batch_size)
    return [LETTERS[max(range(len(s)), key=s.__getitem__)] for s in scores]


def score(items: list[dict], predicted: list[str]) -> dict:
    subjects: dict[str, dict] = {}
    for it, p in zip(items, predicted, strict=True):
        s = subjects.setdefault(it["subject"], {"items": 0, "correct": 0})
        s["items"] += 1
        s["correct"] += p == it["gold"]
    for s in subjects.values():
        s["acc"] = s["correct"] / s["items"]
    correct = sum(s["correct"] for s in subjects.values())
    return {
        "items": len(items),
        "correct": correct,
        "acc": correct / len(items),
        "subjects": dict(sorted(subjects.items())),
    }


def label(set_name: str, part: str, items: int) -> str:
    return f"held-out MCQ {set_name}/{part} ({items} items, option-letter log-likelihood)"


def evaluate_heldout(
    ckpt: str | Path,
    *,
    set_ref: str = "repair_blocks",
    part: str = "validation_e",
    root: str | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    reuse: bool = True,
) -> dict:
    """Score a checkpoint on a built set's part, per subject; saved in `<ckpt>/eval/`."""
    from ffdata.sets import open_set

    ckpt = check_checkpoint(ckpt)
    built = open_set(root, set_ref)
    expect = {
        "weights_sha256": weights_sha256(ckpt),
        "set_fingerprint": built.fingerprint,
        "part": part,
        "task_version": TASK_VERSION,
    }
    name = result_name(built.name, part)
    if reuse and (saved := load_result(ckpt, name, expect)):
        return saved
    items = load_items(built, part)
    model, tok = load_model(ckpt, device=device)
    result = {
        "benchmark": "heldout",
        "set": built.name,
        **score(items, predict(model, tok, items, batch_size)),
        "label": label(built.name, part, len(items)),
        **expect,
    }
    save_result(ckpt, name, result)
    return result


def format_heldout(result: dict) -> str:
    lines = [f"**{result['label']}**", "", "| subject | items | acc |", "|---|---:|---:|"]
    for s, v in result["subjects"].items():
        lines.append(f"| {s} | {v['items']} | {pct(v['acc'])} |")
    lines.append(f"| **all** | {result['items']} | **{pct(result['acc'])}** |")
    return "\n".join(lines) + "\n"
