"""Output-format verifiers shared by builders (repair, surgical) and the factual bench.

Each verifier accepts exactly its format and nothing near it: "B" is an MCQ letter, "B." and
"b" are not; "No. Bell patented it." is a yes/no answer, "No, Bell did" is not. Builders use them
to refuse malformed items; evaluation uses them to score format discipline.
"""

import re
from collections.abc import Sequence

LETTERS = "ABCDEFGHIJ"
SHORT_FACT_MAX = 100  # Block B rule: every answer is under 100 characters
MCQ_SUFFIX = "Answer with the letter of the correct option."

_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMERIC = re.compile(rf"^(?:{_NUMBER}|-?\d+/\d+)$")
_FINAL = re.compile(rf"^The answer is ({_NUMBER}|-?\d+/\d+)\.$")
_YES_NO = re.compile(r"^(Yes|No)(?:\. ([A-Z0-9][^\n]*[.!?]))?\.?$")
_NUMBERED = re.compile(r"^(\d+)\. (\S.*)$")
_BULLET = re.compile(r"^- (\S.*)$")


def _one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and text == text.strip()


def is_mcq_letter(text: str, n_options: int = 4) -> bool:
    """Exactly one capital option letter within range, nothing else."""
    return len(text) == 1 and text in LETTERS[:n_options]


def is_yes_no(text: str) -> bool:
    """ "Yes" / "No", optionally "." and one explaining sentence on the same line."""
    if not _one_line(text):
        return False
    m = _YES_NO.match(text)
    if not m:
        return False
    # "Yes." is fine, "Yes.." and "Yes. ok" (no capital / no end stop) are not.
    return not text.endswith("..")


def is_numeric(text: str, allow_steps: bool = False) -> bool:
    """A bare number (int, decimal, 1,234 grouping, a/b fraction); with allow_steps, worked
    lines followed by a last line "The answer is N."."""
    if not allow_steps:
        return _one_line(text) and bool(_NUMERIC.match(text))
    lines = text.split("\n")
    if len(lines) < 2 or any(not ln.strip() or ln != ln.strip() for ln in lines):
        return False
    return bool(_FINAL.match(lines[-1]))


def final_number(text: str) -> str | None:
    """The N of a closing "The answer is N." line, or None."""
    m = _FINAL.match(text.rsplit("\n", 1)[-1])
    return m.group(1) if m else None


def is_list_n(text: str, n: int | None = None) -> bool:
    """Exactly n items, one per line: "1. …" numbered from 1, or all "- …" bullets."""
    if not text or text != text.strip():
        return False
    lines = text.split("\n")
    if n is not None and len(lines) != n:
        return False
    numbered = [_NUMBERED.match(ln) for ln in lines]
    if all(numbered):
        return [int(m.group(1)) for m in numbered] == list(range(1, len(lines) + 1))
    return all(_BULLET.match(ln) for ln in lines)


def is_short_fact(text: str, max_chars: int = SHORT_FACT_MAX) -> bool:
    """One line under max_chars, ending in sentence punctuation, not another format in disguise."""
    if not _one_line(text) or len(text) >= max_chars:
        return False
    if text[-1] not in ".!?" or len(text) < 2:
        return False
    if is_yes_no(text) or _NUMBERED.match(text) or _BULLET.match(text):
        return False
    return True


CHECKERS = {
    "mcq_letter": is_mcq_letter,
    "yes_no": is_yes_no,
    "numeric": is_numeric,
    "list_n": is_list_n,
    "short_fact": is_short_fact,
}


def verify(fmt: str, text: str, **kwargs) -> bool:
    """Dispatch on a record's `format` tag; "free" accepts any non-empty text."""
    if fmt == "free":
        return bool(text.strip())
    try:
        return CHECKERS[fmt](text, **kwargs)
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(CHECKERS)}") from None


def render_mcq(question: str, options: Sequence[str]) -> str:
    """The MMLU-style prompt every MCQ item uses: question, lettered options, the ask."""
    lines = [question.strip()]
    lines += [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options)]
    lines.append(MCQ_SUFFIX)
    return "\n".join(lines)


_OPTION = re.compile(r"^([A-J])\. (.*)$")


def parse_mcq(instruction: str) -> tuple[str, list[str]]:
    """Inverse of render_mcq: (question, options). Raises ValueError on anything else."""
    lines = instruction.split("\n")
    if len(lines) < 4 or lines[-1] != MCQ_SUFFIX:
        raise ValueError("not an MCQ prompt: missing the closing instruction line")
    body = lines[:-1]
    opts: list[str] = []
    while body and (m := _OPTION.match(body[-1])):
        opts.insert(0, m.group(2))
        body.pop()
        if m.group(1) == "A":  # options start at A: a stem "J. R. R. Tolkien wrote…" stays
            break
    if len(opts) < 2 or [LETTERS[i] for i in range(len(opts))] != [
        _OPTION.match(ln).group(1) for ln in lines[len(body) : -1]
    ]:
        raise ValueError("not an MCQ prompt: options are not lettered A, B, C, …")
    return "\n".join(body), opts
