"""Strict answer-format verifiers for the stage-5 format-only sets (and any eval that wants them).

`ffdata.formats` checks the repair/surgical formats and allows what those sets teach ("No. Bell
patented it.", bullets as well as numbers). The format-only sets teach one exact shape per
instruction, so each checker here accepts that shape and nothing near it: "Answer: Paris" but
not "answer: Paris", "Answer:Paris" or "Answer: Paris."; a JSON object only in its canonical
one-line rendering with exactly the keys asked, in the order asked.
"""

import json
import re
from collections.abc import Sequence

from ffdata.formats import is_mcq_letter, is_numeric

_ANSWER = re.compile(r"^Answer: (\S(?:.*\S)?)$")
_WORD = re.compile(r"^[^\W\d_]+(?:['-][^\W\d_]+)*$")
_NUMBERED = re.compile(r"^(\d+)\. (\S(?:.*\S)?)$")
_BULLET = re.compile(r"^- (\S(?:.*\S)?)$")


def _one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "\r" not in text and text == text.strip()


def is_answer_line(text: str) -> bool:
    """Exactly `Answer: X`: one line, capital A, one space, X without a closing full stop."""
    m = _ANSWER.match(text) if _one_line(text) else None
    return bool(m) and not m.group(1).endswith(".") and "  " not in text


def is_letter(text: str, n_options: int = 4) -> bool:
    return is_mcq_letter(text, n_options)


def is_yes_no_strict(text: str) -> bool:
    """ "Yes" or "No", nothing else (no full stop, no explanation)."""
    return text in ("Yes", "No")


def is_one_word(text: str) -> bool:
    """One word of letters (inner hyphens and apostrophes allowed), no punctuation or space."""
    return _one_line(text) and bool(_WORD.match(text))


def is_number_only(text: str) -> bool:
    return is_numeric(text)


def canonical_json(obj: dict) -> str:
    """The one rendering a JSON answer may take: one line, `", "` and `": "` separators."""
    return json.dumps(obj, ensure_ascii=False)


def is_json_object(text: str, keys: Sequence[str]) -> bool:
    """A JSON object with exactly `keys`, in that order, each a non-empty string or an int,
    written canonically (one line, no fence, nothing around it)."""
    if not _one_line(text):
        return False
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    if not isinstance(obj, dict) or list(obj) != list(keys):
        return False
    for v in obj.values():
        ok_str = isinstance(v, str) and v.strip() == v and v
        ok_int = isinstance(v, int) and not isinstance(v, bool)
        if not (ok_str or ok_int):
            return False
    return canonical_json(obj) == text


def _items(lines: list[str], pattern: re.Pattern) -> list[re.Match] | None:
    matches = [pattern.match(ln) for ln in lines]
    return matches if all(matches) else None


def is_numbered_list(text: str, n: int) -> bool:
    """Exactly n lines "1. x" … "n. x", numbered from 1, nothing before, between or after."""
    if not text or text != text.strip():
        return False
    lines = text.split("\n")
    m = _items(lines, _NUMBERED) if len(lines) == n else None
    return bool(m) and [int(x.group(1)) for x in m] == list(range(1, n + 1))


def is_bullet_list(text: str, n: int) -> bool:
    """Exactly n lines "- x"."""
    if not text or text != text.strip():
        return False
    lines = text.split("\n")
    return len(lines) == n and _items(lines, _BULLET) is not None


def is_comma_list(text: str, n: int) -> bool:
    """Exactly n items separated by ", ", one line, no closing stop and no "and" before the last."""
    if not _one_line(text) or text.endswith((".", ",")):
        return False
    parts = text.split(", ")
    if len(parts) != n or any(not p or p != p.strip() or "," in p for p in parts):
        return False
    return not parts[-1].startswith("and ")


# format name -> checker(text, meta): the record's meta carries n_options, n or keys
CHECKS = {
    "answer_line": lambda t, m: is_answer_line(t),
    "letter": lambda t, m: is_letter(t, int(m.get("n_options", 4))),
    "yes_no": lambda t, m: is_yes_no_strict(t),
    "one_word": lambda t, m: is_one_word(t),
    "json": lambda t, m: is_json_object(t, m["keys"]),
    "numbered_list": lambda t, m: is_numbered_list(t, int(m["n"])),
    "number_only": lambda t, m: is_number_only(t),
    "comma_list": lambda t, m: is_comma_list(t, int(m["n"])),
    "bullet_list": lambda t, m: is_bullet_list(t, int(m["n"])),
}


def check(fmt: str, text: str, meta: dict) -> bool:
    try:
        checker = CHECKS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown strict format {fmt!r}; expected one of {sorted(CHECKS)}"
        ) from None
    return checker(text, meta)
