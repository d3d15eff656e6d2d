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

Texts are read as the other rules read them (punctuation inside words deleted); questions are
indexed in that form, with the punctuation spaced ("X-rays": "xrays", "x rays") and with the
operators of a sum closed up ("38 + 47" is also "3847", how "38+47" reads). Speed: the
texts' words (already folded by ffdata.decontam) are searched for every indexed question as a
word window (hash + bitmap); only the few texts that hold one are cut into segments, and a
run of segments is compared word for word.
"""

import re
from collections.abc import Sequence

import numpy as np

from ffdata.decontam import (
    Match,
    _fold_batch,
    _HashSet,
    _spans_hash,
    _windows,
    _word_lists,
    _Words,
)
from ffdata.evalsets import EvalItem

SEGMENT_BREAK = re.compile(r"\n|(?<=[.?!:])\s+")
_HAS_WORD = re.compile(r"\w")
_TIGHT = re.compile(r"(?<=\w) *([-+*/=^]) *(?=\w)")  # "38 + 47" -> "38+47"


def segments(text: str) -> list[str]:
    """The parts of a text a whole question may fill: lines and sentences (see module doc)."""
    return [s for s in SEGMENT_BREAK.split(text) if _HAS_WORD.search(s)]


class ExactQuestions:
    """Index of whole questions: `scan(texts)` -> Match | None per text (rule "exact")."""

    def __init__(self, items: Sequence[EvalItem]):
        self._refs: list[tuple[str, str]] = []
        self._words: list[list[str]] = []  # each indexed form, its words
        seg_counts = set()
        segs = [segments(item.question) for item in items]
        # "38 + 47" as "38+47" is written
        tight = [segments(_TIGHT.sub(r"\1", item.question)) for item in items]
        joined, spaced, tight_joined = _join(segs, True), _join(segs, False), _join(tight, True)
        for k, item in enumerate(items):
            forms = {tuple(joined[k]), tuple(spaced[k]), tuple(tight_joined[k])}
            for form in sorted(f for f in forms if f):
                self._refs.append((item.evalset, item.item_id))
                self._words.append(list(form))
                seg_counts.add(len(segs[k]))
        self.seg_counts = sorted(seg_counts)  # segments per indexed question
        self.word_counts = sorted({len(w) for w in self._words})
        words = _Words.of(*_fold_batch([" ".join(w) for w in self._words]))
        full = _spans_hash(words.g, words.offsets[:-1], words.offsets[1:])
        self._order = np.argsort(full, kind="stable")
        self._full = _HashSet(full[self._order], 16)

    def __len__(self) -> int:
        return len(self._refs)

    def scan(self, texts: Sequence[str], words: _Words | None = None) -> list[Match | None]:
        """`words`: the texts already folded (ffdata.decontam reads them so anyway)."""
        results: list[Match | None] = [None] * len(texts)
        if not self._refs or not len(texts):
            return results
        if words is None:
            words = _Words.of(*_fold_batch(texts))
        segs, owner = [], []
        for t in self._candidates(words):  # few texts: the segments are cut only there
            mine = segments(texts[t] or "")
            segs.extend(mine)
            owner.extend([t] * len(mine))
        if segs:
            self._scan_segments(_Words.of(*_fold_batch(segs)), np.array(owner), results)
        return results

    def _candidates(self, words: _Words) -> list[int]:
        """Texts whose words hold an indexed question anywhere (segments are checked next)."""
        found = []
        for n in self.word_counts:
            pos, _ = self._full.find(_windows(words.g, n))
            text = words.text_of(pos)
            found.append(text[pos + n <= words.offsets[text + 1]])
        return sorted(set(np.concatenate(found).tolist())) if found else []

    def _scan_segments(self, words: _Words, owner: np.ndarray, results: list) -> None:
        offs = words.offsets
        for k in self.seg_counts:  # runs of k segments of one text
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


def _join(questions: list[list[str]], join: bool) -> list[list[str]]:
    """Each question's words, its segments in turn, all folded in one batch (a batch folds
    each text apart: the same words as one call per question, ~10x faster)."""
    flat = [seg for segs in questions for seg in segs]
    words = _word_lists(flat, join) if flat else []
    out, at = [], 0
    for segs in questions:
        out.append([w for ws in words[at : at + len(segs)] for w in ws])
        at += len(segs)
    return out
