"""Real multiple-choice rows (ARC, OpenBookQA, MMLU auxiliary_train, GSM8K) as MCQ candidates.

Each adapter turns one source row into a Candidate or raises ValueError "reason:detail" with
why the row cannot be used (the builder records it as a drop). A row whose fields have the wrong
type (`question: null`, an integer question, a null option) is `malformed` with the field in
the detail, checked against its layout (ffdata.layouts) before any field is turned into text.
The original option order is not kept: the builder moves the answer to a balanced letter.
"""

import random
import re

from ffdata import layouts
from ffdata.errors import MalformedRow
from ffdata.generators.mcq import Candidate, near_numbers

_FINAL = re.compile(r"\n#### (.+)$")


def _clean(text: str) -> str:
    return " ".join(text.split())


def _check(layout: str, row: dict) -> dict:
    """The row (unwrapped) if it has the layout's field types; else ValueError
    "malformed:<field> <problem>" (the builder's drop reason is `malformed`)."""
    try:
        layouts.check(layout, row)
    except MalformedRow as e:
        raise ValueError(f"malformed:{e.field} {e.problem}") from None
    return layouts.unwrap(layout, row)


def _from_options(source, idx, question, options, answer_index, category, extra=None):
    options = [_clean(o) for o in options]
    if len(options) != 4:
        raise ValueError(f"not_four_options:{len(options)}")
    if not 0 <= answer_index < 4:
        raise ValueError("bad_answer_key")
    if len({o.casefold() for o in options}) != 4 or not all(options):
        raise ValueError("duplicate_options")
    answer = options[answer_index]
    return Candidate(
        key=f"{source}:{idx}",
        question=_clean(question),
        answer=answer,
        distractors=[o for i, o in enumerate(options) if i != answer_index],
        category=category,
        meta={"source": source, "row": idx, "template": "real_mcq", **(extra or {})},
    )


def arc(source: str, idx: int, row: dict, category: str) -> Candidate:
    """allenai/ai2_arc layout: question, choices{text,label}, answerKey (labels A-D or 1-4)."""
    row = _check("arc", row)
    labels, texts = list(row["choices"]["label"]), list(row["choices"]["text"])
    key = str(row["answerKey"])
    if key not in labels:
        raise ValueError("bad_answer_key")
    return _from_options(
        source, idx, row["question"], texts, labels.index(key), category, {"orig_id": row.get("id")}
    )


def openbookqa(source: str, idx: int, row: dict, category: str) -> Candidate:
    row = _check("openbookqa", row)
    labels, texts = list(row["choices"]["label"]), list(row["choices"]["text"])
    key = str(row["answerKey"])
    if key not in labels:
        raise ValueError("bad_answer_key")
    return _from_options(
        source,
        idx,
        row["question_stem"],
        texts,
        labels.index(key),
        category,
        {"orig_id": row.get("id")},
    )


def mmlu(source: str, idx: int, row: dict, category: str) -> Candidate:
    """cais/mmlu: question, choices (list), answer (int). The `auxiliary_train` config nests the
    row under a `train` key; the `all` config's auxiliary_train split does not."""
    row = _check("mmlu", row)
    subject = row.get("subject") if isinstance(row.get("subject"), str) else ""
    answer = row["answer"]
    if isinstance(answer, str) and not re.fullmatch(r"\d", answer):
        raise ValueError(f"malformed:answer {answer!r} is not an option number")
    return _from_options(
        source, idx, row["question"], list(row["choices"]), int(answer), subject or category
    )


def gsm8k(source: str, idx: int, row: dict, category: str, seed: int) -> Candidate:
    """A GSM8K train word problem asked as MCQ: the final number among three nearby numbers."""
    row = _check("gsm8k", row)
    m = _FINAL.search(row["answer"])
    if not m:
        raise ValueError("malformed")
    final = m.group(1).strip().replace(",", "")
    if not re.fullmatch(r"-?\d+", final):
        raise ValueError("non_integer_answer")
    value = int(final)
    rng = random.Random(f"{seed}:gsm8k_mcq:{idx}")
    # Wrong answers keep the answer's granularity: 216000 gets 204000, not 211599.
    unit = 1
    while value and value % (unit * 10) == 0 and abs(value) >= unit * 1000:
        unit *= 10
    spread = max(4, abs(value) // unit // 4)
    lo = 0 if value >= 0 else -(10**12)
    # The key's rank among the sorted options, drawn uniformly: left to the window alone, small
    # answers (few numbers below them above 0) made "the key is never the largest" a cue
    # (rank 4 at 21.6% of 2,907 items). A rank the answer cannot have takes the nearest it can.
    rank = min(rng.randrange(4), value // unit - lo)
    distractors = [
        d * unit for d in near_numbers(value // unit, rng, spread=spread, lo=lo, rank=rank)
    ]
    return Candidate(
        key=f"{source}:{idx}",
        question=_clean(row["question"]),
        answer=str(value),
        distractors=[str(d) for d in distractors],
        category=category,
        meta={"source": source, "row": idx, "template": "gsm8k_mcq"},
    )


ADAPTERS = {"arc": arc, "openbookqa": openbookqa, "mmlu": mmlu}
