"""Whole-question matching for eval sets whose questions are too short for 13-grams.

The factual bench asks "Who wrote Pride and Prejudice?" or "What is 7 + 5?": a training row
that asks the same question teaches the bench's answer, yet shares no 13-gram with it, and the
short-question rule of ffdata.decontam counts a question that short only with its answer
after it. Here a text is contaminated when a question of these sets stands in it whole.

"Whole" is by segments: a text is cut at line breaks and after ".", "?", "!" or ":" followed by
white space ("Question: What is the capital of France?" is two segments). A question matches
when some run of consecutive segments of the text equals the question's own segments after
ffdata.decontam's normalization (case, punctuation, whitespace, NFKC). So every copy of the
question in its own sentence or line is found ("Q: who wrote pride and prejudice", a
JSON field, a numbered list), and a longer question that begins with it is not
("What is 7 + 5 + 3?" is not "What is 7 + 5?").

Questions and texts are both read with punctuation inside words deleted and spaced ("X-rays":
"xrays" and "x rays"; "38+47" meets "38 + 47"). Segments are hashed as word
spans (ffdata.decontam's polynomial window hash) and a hit is compared word for word.
"""

import re
from collections.abc import Sequence

import numpy as np

from ffdata.decontam import Match, _fold_batch, _HashSet, _spans_hash, _word_lists, _Words
from ffdata.evalsets import EvalItem

SEGMENT_BREAK = re.compile(r"\n|(?<=[.?!:])\s+")
_HAS_WORD = re.compile(r"\w")


def segments(text: str) -> list[str]:
    """The parts of a text a whole question may fill: lines and sentences (see module doc)."""
    return [s for s in SEGMENT_BREAK.split(text) if _HAS_WORD.search(s)]


class ExactQuestions:
    """Index of whole questions: `scan(texts)` -> Match | None per text (rule "exact")."""

    def __init__(self, items: Sequence[EvalItem]):
        self._refs: list[tuple[str, str]] = []
        self._words: list[list[str]] = []  # each indexed form, its words
        lengths = set()
        for item in items:
            segs = segments(item.question)
            forms = {tuple(w) for join in (True, False) for w in [_join(segs, join)] if w}
            for form in sorted(forms):
                self._refs.append((item.evalset, item.item_id))
                self._words.append(list(form))
                lengths.add(len(segs))
        self.lengths = sorted(lengths)  # segment counts of the indexed questions
        words = _Words.of(*_fold_batch([" ".join(w) for w in self._words]))
        full = _spans_hash(words.g, words.offsets[:-1], words.offsets[1:])
        self._order = np.argsort(full, kind="stable")
        self._full = _HashSet(full[self._order], 16)

    def __len__(self) -> int:
        return len(self._refs)

    def scan(self, texts: Sequence[str]) -> list[Match | None]:
        results: list[Match | None] = [None] * len(texts)
        if not self._refs or not len(texts):
            return results
        segs, owner = [], []
        for t, text in enumerate(texts):
            mine = segments(text or "")
            segs.extend(mine)
            owner.extend([t] * len(mine))
        if not segs:
            return results
        owner_arr = np.array(owner, np.int64)
        for join in (True, False):
            self._scan_form(_Words.of(*_fold_batch(segs, join)), owner_arr, results)
        return results

    def _scan_form(self, words: _Words, owner: np.ndarray, results: list) -> None:
        offs = words.offsets
        for k in self.lengths:  # runs of k segments of one text
            first = np.arange(max(len(owner) - k + 1, 0))
            first = first[owner[first] == owner[first + k - 1]]
            found, idx = self._full.find(_spans_hash(words.g, offs[first], offs[first + k]))
            for s, i in zip(first[found].tolist(), idx.tolist(), strict=True):
                t, ref = int(owner[s]), int(self._order[i])
                if results[t] is None:  # the first match found is kept
                    got = words.at(int(offs[s]), int(offs[s + k] - offs[s]))
                    if got == self._words[ref]:
                        evalset, item_id = self._refs[ref]
                        results[t] = Match(evalset, item_id, " ".join(got), "exact")


def _join(segs: list[str], join: bool) -> list[str]:
    return [w for ws in _word_lists(segs, join) for w in ws] if segs else []
