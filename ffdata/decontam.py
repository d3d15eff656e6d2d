"""Decontamination against the evaluation sets: word 13-grams, whole short questions, and the
numbers of GSM8K items.

Normalization (`normalize_words`): Unicode NFKC, lower case; punctuation *inside* a word is
deleted ("person's" -> "persons", "0.108" -> "0108", "9/11" -> "911", "client-centered" ->
"clientcentered"), every other run of characters that are not letters or digits is one space.
Texts are checked in that form. Eval items are indexed in it and in the split form (punctuation
-> space: "client centered"), so a copy that deleted the punctuation, spaced it, or kept it
all meet the item. Each form is read as two word streams: every word, and the words without
single letters (answer labels such as "A." sit between copied choices; "a" in "inside a light
bulb" is a word a 13-gram needs). A 13-gram of either stream of the text may match a 13-gram
of either stream of an item, and a match is always compared word for word.

An eval item is indexed by
- the 13-grams of question + gold answer, of question + choices (windows that touch the
  question) and of each choice on its own; the question's own 13-grams are among the first;
- its question, when that has fewer than 13 words (stream without single letters);
- for GSM8K: the numbers of its question (at least MIN_NUMBERS, digits or number words) plus
  its final answer. A rephrased test item keeps both, whatever its words.
A text is contaminated if it shares a 13-gram with an item, or contains a short question that
is specific enough on its own, or contains a generic short question followed by that item's
answer (a few words may sit between, like "Answer:") or together with all of its choices, or
holds a GSM8K item's question numbers together (in any order, none between) followed by its
final answer (see _NumberIndex).

Guards that keep generic text from matching:
- a 13-gram found in more than MAX_ITEMS_PER_NGRAM items is a template (MMLU's
  moral-scenarios preamble is in 895 items), not one item, so it is not indexed;
- a short question counts on its own only with at least MIN_QUESTION_WORDS words, at most
  MAX_ITEMS_PER_QUESTION items asking it, and two words that are rare among eval questions
  ("which of the following is correct" is generic, "all matter is made up of" is not);
- the numbers rule needs MIN_NUMBERS question numbers and MIN_NUMBER_BITS bits of surprise
  over the distinct numbers it needs (2, 3 and 10 are everywhere, 1,245 is not); numbers
  that are terms of a worked sum ("16 - 3 = 13") do not count as a question's numbers.

Speed: a batch of texts is folded into one byte buffer (a byte table for ASCII text). Every
word gets a 64-bit value from its bytes, every word window a polynomial hash from a prefix
sum of word values (window = (G[i+n] - G[i]) * P^-i, all mod 2^64). A 16 MiB
bitmap rejects almost every window; the rest are looked up in the sorted hash array and
compared word for word, so a reported match is always exact.

Loading: `Decontaminator.load` builds the index once per eval-set digest and version of this
file and keeps it under $FFDATA_CACHE/decontam; later processes map it from there (~0.1 s).
"""

import functools
import gc
import hashlib
import json
import logging
import math
import pickle
import random
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ffdata.cache import mark_used
from ffdata.errors import FFDataError
from ffdata.evalsets import (
    EVALSET_NAMES,
    EXACT_QUESTION_SETS,
    EvalItem,
    describe_source,
    load_evalset,
)
from ffdata.hashing import sha256_json
from ffdata.storage import default_cache_dir

log = logging.getLogger(__name__)

N = 13
MIN_QUESTION_WORDS = 6
MAX_ITEMS_PER_NGRAM = 10
MAX_ITEMS_PER_QUESTION = 2
COMMON_WORD_SHARE = 0.01  # a word in more than this share of eval questions is common
ANCHOR_WORDS = 3  # short questions are looked up where their first 3 words occur
ANSWER_GAP = 4  # words allowed between a short question and its pasted answer ("Answer:")
MIN_NUMBERS = 3  # question numbers a GSM8K item needs for the numbers rule
MIN_NUMBER_BITS = 24.0  # surprise an item's numbers must carry together (see _NumberIndex)
NUMBER_SPAN = 40  # numbers allowed between the question's numbers and the final answer
VERSION = "2"  # bump when normalization or matching changes: it is part of the fingerprint

BATCH = 4096  # texts per internal chunk of check_batch: bounds the temporary arrays
_BITMAP_BITS = 27  # 2^27 bits = 16 MiB for ~1.2M 13-grams: ~1% of windows go on to be checked
_WORD_P = 0x9E3779B97F4A7C15  # odd, so it has an inverse mod 2^64
_MIX = 0xBF58476D1CE4E5B9
_SPACE = 32
_PUNCT = 1  # a punctuation byte after folding: deleted inside a word, a space elsewhere

# Folding: letters lower-cased (after NFKC), digits kept, whitespace and control characters a
# space, punctuation marked. Python's regex maps the non-ASCII characters onto ASCII ones
# (space, or "'" for punctuation), a byte table does the rest over a whole batch.
_NON_ASCII_SPACE = re.compile(r"[^\S\x00-\x7f]")
_NON_ASCII_PUNCT = re.compile(r"[^\w\s\x00-\x7f]")
_ASCII_BYTE_TABLE = np.array(
    [
        ord(chr(c).lower()) if chr(c).isalnum() else _PUNCT if 33 <= c < 127 and c != 58 else _SPACE
        for c in range(128)  # ":" (58) always parts: "5:6" and "9:30" are two numbers
    ]
    + list(range(128, 256)),
    np.uint8,
)
_IS_DIGIT = np.zeros(256, bool)
_IS_DIGIT[ord("0") : ord("9") + 1] = True
_GSM8K_CALC = re.compile(r"<<[^>]*>>")


# ------------------------------------------------------------------------- normalization


def _fold_unicode(text: str) -> str:
    """NFKC, lower case, non-ASCII spaces -> " ", other non-ASCII non-word characters -> "'"."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _NON_ASCII_PUNCT.sub("'", _NON_ASCII_SPACE.sub(" ", text))


def _fold_batch(texts: Sequence[str], join=True, zeros=True) -> tuple[np.ndarray, np.ndarray]:
    """All texts folded into one byte buffer of word bytes and spaces, with each text's
    start/end offsets. `join` (one bool, or one per text): delete punctuation inside words
    (else it becomes a space); `zeros` (the same): drop a ".0"/".00" that ends a number."""
    arr = pa.array(texts, pa.string()).fill_null("")
    is_ascii = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    if not is_ascii.all():  # Python folds the non-ASCII characters; the byte table the rest
        folded = [_fold_unicode(t) if not a else t for t, a in zip(texts, is_ascii, strict=True)]
        arr = pa.array(folded, pa.string())
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, np.int32)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    buf = np.frombuffer(data, np.uint8)[: offs[-1]] if data is not None else np.zeros(0, np.uint8)
    drop = _zero_decimals(buf, offs) if zeros is not False else np.zeros(0, np.int64)
    if zeros is not True and zeros is not False:
        drop = drop[np.asarray(zeros, bool)[np.searchsorted(offs, drop, side="right") - 1]]
    buf = _ASCII_BYTE_TABLE[buf]
    buf[drop] = _PUNCT
    punct = np.flatnonzero(buf == _PUNCT)
    if len(punct) and join is not False:
        buf, offs = _join_words(buf, offs, punct, join)
    buf[buf == _PUNCT] = _SPACE
    return buf, offs


def _zero_decimals(raw: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """Positions of the ".0"/".00" that end a number ("$12.00" is "$12"): they become spaces."""
    dot = np.flatnonzero(raw == ord("."))
    dot = dot[dot > 0]
    if not len(dot):
        return dot
    first = np.zeros(len(raw) + 4, bool)  # a byte that starts a text (or ends the batch)
    first[offs] = True
    padded = np.append(raw, np.zeros(4, np.uint8))
    digit = _IS_DIGIT[padded] & ~first[: len(padded)]  # a digit of the text before it

    def zero(k):
        return (padded[dot + k] == ord("0")) & ~first[dot + k]

    ok = ~first[dot] & _IS_DIGIT[padded[dot - 1]] & zero(1)
    one = ok & ~digit[dot + 2]
    two = ok & zero(2) & ~digit[dot + 3]
    return np.concatenate([dot[one], dot[one] + 1, dot[two], dot[two] + 1, dot[two] + 2])


def _differ(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per text, whether two folds of the same texts differ."""
    ra, rb, oa, ob = a[0].tobytes(), b[0].tobytes(), a[1].tolist(), b[1].tolist()
    return np.array(
        [ra[oa[i] : oa[i + 1]] != rb[ob[i] : ob[i + 1]] for i in range(len(oa) - 1)], bool
    )


def _join_words(buf: np.ndarray, offs: np.ndarray, punct: np.ndarray, join):
    """Delete each run of punctuation that has word bytes of the same text on both sides."""
    new_run = np.ones(len(punct), bool)
    new_run[1:] = punct[1:] != punct[:-1] + 1
    run = np.cumsum(new_run) - 1
    before = punct[new_run] - 1
    after = punct[np.append(new_run[1:], True)] + 1
    text = np.searchsorted(offs, before + 1, side="right") - 1
    padded = np.append(buf, np.uint8(_SPACE))  # index -1 and len(buf) read as a space
    inside = (before >= offs[text]) & (after < offs[text + 1])
    inside &= (padded[before] != _SPACE) & (padded[after] != _SPACE)
    if join is not True:
        inside &= np.asarray(join, bool)[text]
    drop = punct[inside[run]]
    if not len(drop):
        return buf, offs
    keep = np.ones(len(buf), bool)
    keep[drop] = False
    return buf[keep], offs - np.searchsorted(drop, offs)


def _word_lists(texts: Sequence[str], join=True, single_letters=True) -> list[list[str]]:
    buf, offs = _fold_batch(texts, join)
    raw = buf.tobytes()
    bounds = offs.tolist()
    out = [raw[a:b].decode().split() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    if not single_letters:
        out = [[w for w in ws if len(w) > 1 or not "a" <= w <= "z"] for ws in out]
    return out


def normalize_words(text: str) -> list[str]:
    """NFKC, lower case, punctuation inside words deleted, other non-word runs -> one space."""
    return _word_lists([text])[0]


def normalize(text: str) -> str:
    return " ".join(normalize_words(text))


def normalize_batch(texts: Sequence[str]) -> list[list[str]]:
    """normalize_words for many texts at once."""
    return _word_lists(texts)


# ------------------------------------------------------------------------- hashing


class _Powers:
    """P^k and P^-k mod 2^64 for k < n, grown on demand."""

    def __init__(self, base: int):
        self.base, self.base_inv = np.uint64(base), np.uint64(pow(base, -1, 1 << 64))
        self.pow = np.ones(1, np.uint64)
        self.inv = np.ones(1, np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pow) < n:
            size = max(n, 2 * len(self.pow))
            with np.errstate(over="ignore"):  # wrapping mod 2^64 is the point
                self.pow = np.cumprod(np.full(size, self.base, np.uint64)) * self.base_inv
                self.inv = np.cumprod(np.full(size, self.base_inv, np.uint64)) * self.base
        return self.pow[:n], self.inv[:n]


_WORD_POWERS = _Powers(_WORD_P)


def _prefix(values: np.ndarray) -> np.ndarray:
    """G[k] = sum_{j<k} values[j] * P^j mod 2^64."""
    pw, _ = _WORD_POWERS.get(len(values))
    g = np.zeros(len(values) + 1, np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(values * pw, out=g[1:])
    return g


def _spans_hash(g: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hash of each span [start, end) of the word values behind prefix sums g."""
    _, inv = _WORD_POWERS.get(len(g))
    with np.errstate(over="ignore"):
        return (g[ends] - g[starts]) * inv[starts]


_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)
_MULT = np.array(
    [0x9FB21C651E98DF25, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5], np.uint64
)


def _word_values(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit value per word from its length, first 16 and last 8 bytes. Longer words that
    share those could share a value; matches are compared word for word, so that is safe."""
    padded = np.concatenate([buf, np.zeros(16, np.uint8)])
    # the 8 bytes from every offset, read as one little-endian uint64
    eight = np.ndarray((len(buf) + 8,), dtype="<u8", buffer=padded, strides=(1,))
    n = (ends - starts).astype(np.int64)
    lo = eight[starts] & _MASKS[np.minimum(n, 8)]
    hi = eight[starts + 8] & _MASKS[np.clip(n - 8, 0, 8)]
    tail = np.where(n > 16, eight[np.maximum(ends - 8, 0)], np.uint64(0))
    with np.errstate(over="ignore"):  # wrapping mod 2^64 is the point
        h = lo * _MULT[0] + hi * _MULT[1] + tail * _MULT[2] + n.astype(np.uint64) * _MULT[3]
        h ^= h >> np.uint64(31)  # a splitmix-style finish mixes the bits
        h *= np.uint64(_MIX)
        h ^= h >> np.uint64(29)
    return h


def _windows(g: np.ndarray, n: int, at: np.ndarray | None = None) -> np.ndarray:
    """Hash of the n words from each position (or from positions `at`), from word prefixes g."""
    if at is None:
        at = np.arange(max(len(g) - n, 0))
    return _spans_hash(g, at, np.minimum(at + n, len(g) - 1))


class _HashSet:
    """Sorted unique uint64 hashes behind a bitmap on their top bits: fast `in` for arrays."""

    def __init__(self, hashes: np.ndarray, bits: int):
        self.hashes = hashes
        self.shift = np.uint64(64 - bits)
        self.bitmap = np.zeros(1 << (bits - 3), np.uint8)
        slot = hashes >> self.shift
        np.bitwise_or.at(self.bitmap, slot >> np.uint64(3), _bit(slot))

    def find(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in h whose hash is in the set, their index in self.hashes)."""
        slot = h >> self.shift
        maybe = np.flatnonzero(self.bitmap[slot >> np.uint64(3)] & _bit(slot))
        if not len(maybe) or not len(self.hashes):
            return maybe[:0], maybe[:0]
        idx = np.minimum(np.searchsorted(self.hashes, h[maybe]), len(self.hashes) - 1)
        hit = self.hashes[idx] == h[maybe]
        return maybe[hit], idx[hit]


def _bit(slot: np.ndarray) -> np.ndarray:
    return np.left_shift(np.uint8(1), (slot & np.uint64(7)).astype(np.uint8))


class _Words:
    """The words of a folded batch: spans, values, prefix hashes, and the text of each."""

    def __init__(self, raw: bytes, starts, ends, offsets, values):
        self._raw, self.starts, self.ends = raw, starts, ends
        self.offsets = offsets  # first word of each text, then the word count
        self.values = values
        self.g = _prefix(values)

    @classmethod
    def of(cls, buf: np.ndarray, offsets: np.ndarray) -> "_Words":
        is_word = buf != _SPACE
        boundary = np.zeros(len(buf) + 1, bool)  # a word never runs from one text into the next
        boundary[offsets] = True
        before = np.zeros(len(buf), bool)
        before[1:] = is_word[:-1]
        after = np.zeros(len(buf), bool)
        after[:-1] = is_word[1:]
        starts = np.flatnonzero(is_word & ~(before & ~boundary[:-1]))
        ends = np.flatnonzero(is_word & ~(after & ~boundary[1:])) + 1
        values = _word_values(buf, starts, ends)
        return cls(buf.tobytes(), starts, ends, np.searchsorted(starts, offsets), values)

    @classmethod
    def indexed(cls, raw, starts, ends) -> "_Words":
        """Words that are only read back (`at`): an index loaded from the cache."""
        w = cls.__new__(cls)
        w._raw, w.starts, w.ends = raw, starts, ends
        return w

    def without_single_letters(self) -> "_Words":
        """The same texts without one-letter words (answer labels such as "A.", and "a")."""
        first = np.frombuffer(self._raw, np.uint8)[self.starts] if len(self.starts) else None
        single = (self.ends - self.starts == 1) & (first >= ord("a")) & (first <= ord("z"))
        keep = ~single
        count = np.concatenate([[0], np.cumsum(keep)])
        return _Words(
            self._raw, self.starts[keep], self.ends[keep], count[self.offsets], self.values[keep]
        )

    def at(self, p: int, n: int) -> list[str]:
        """The words p..p+n-1 (fewer at the end)."""
        s, e = self.starts[p : p + n].tolist(), self.ends[p : p + n].tolist()
        return [bytes(self._raw[a:b]).decode() for a, b in zip(s, e, strict=True)]

    def text_of(self, pos: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, pos, side="right") - 1


# ------------------------------------------------------------------------- numbers (GSM8K)

# Number words count as their digits; "one" is as often a pronoun as a number.
_NUMBER_WORDS = {
    w: str(v)
    for v, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
        " fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
    if v >= 2
}
_NUMBER_WORDS.update(
    {
        w: str(10 * v)
        for v, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), 3)
    }
)
_FINAL_ANSWER = re.compile(r"####\s*(\S+)")


def _value_of(words: Sequence[str]) -> np.ndarray:
    buf, offs = _fold_batch(list(words))
    w = _Words.of(buf, offs)
    assert len(w.values) == len(words), "not one word each"
    return w.values


_WORD_VALUES = _value_of(list(_NUMBER_WORDS))  # "three" -> the value of the word "3"
_WORD_ORDER = np.argsort(_WORD_VALUES)
_WORD_VALUES = _WORD_VALUES[_WORD_ORDER]
_WORD_DIGITS = _value_of(list(_NUMBER_WORDS.values()))[_WORD_ORDER]


def _number_stream(words: "_Words") -> tuple[np.ndarray, np.ndarray]:
    """(word position, value) of each number of a folded batch, in order: words made of
    digits ("1,000" is "1000" and "1.5" is "15" once punctuation inside words is deleted),
    and number words ("three" has the value of "3")."""
    raw = np.frombuffer(words._raw, np.uint8)
    starts, ends = words.starts, words.ends
    other = np.append(np.flatnonzero(~_IS_DIGIT[raw]), len(raw))  # bytes that are not digits
    lead = np.minimum(other[np.searchsorted(other, starts)], ends)  # end of leading digits
    at = np.minimum(np.searchsorted(_WORD_VALUES, words.values), len(_WORD_VALUES) - 1)
    is_word = _WORD_VALUES[at] == words.values
    pos = np.flatnonzero((lead > starts) | is_word)
    values = np.where(is_word[pos], _WORD_DIGITS[at[pos]], words.values[pos])
    cut = np.flatnonzero((lead[pos] > starts[pos]) & (lead[pos] < ends[pos]))  # "40g", "2nd"
    values[cut] = _word_values(raw, starts[pos[cut]], lead[pos[cut]])
    return pos, values


def numbers(text: str) -> list[str]:
    """The numbers of a text as the numbers rule reads them."""
    words = _Words.of(*_fold_batch([text]))
    pos, _ = _number_stream(words)
    out = []
    for w in (words.at(p, 1)[0] for p in pos.tolist()):
        out.append(_NUMBER_WORDS.get(w) or w[: len(w) - len(w.lstrip("0123456789"))])
    return out


def _multiset_hash(values: np.ndarray) -> np.ndarray:
    """An order-free 64-bit value per number (sums of these hash a multiset)."""
    with np.errstate(over="ignore"):
        h = values * np.uint64(_MIX)
        h ^= h >> np.uint64(31)
        h *= np.uint64(_WORD_P)
        h ^= h >> np.uint64(29)
    return h


class _NumberIndex:
    """GSM8K items by the numbers of their question and their final answer.

    A rephrasing keeps those numbers, whatever its words: the question's numbers come
    together, in any order (some run of consecutive numbers of the text is exactly their
    multiset), and the final answer follows within NUMBER_SPAN numbers (a pasted solution's
    steps may sit between). Small numbers are everywhere, so the numbers of an item must be
    surprising enough together: each distinct one costs -log2 of its share among all the
    numbers of the indexed GSM8K questions and answers; an item needs MIN_NUMBER_BITS.

    Speed: every run of n numbers of a batch gets a multiset hash from prefix sums, for each
    n an item has; the few hits are then compared number for number."""

    def __init__(self, items: Sequence[EvalItem]):
        owners, questions, answers = [], [], []
        for idx, item in enumerate(items):
            final = _FINAL_ANSWER.search(item.answer) if item.evalset == "gsm8k" else None
            if final is not None:
                owners.append(idx)
                questions.append(item.question)
                answers.append(final.group(1))
        words = _Words.of(*_fold_batch(questions + answers))
        pos, values = _number_stream(words)
        text = words.text_of(pos)
        per_text = np.split(values, np.searchsorted(text, np.arange(1, len(questions) * 2)))
        names = [words.at(p, 1)[0] for p in pos.tolist()]
        name_of = dict(zip(values.tolist(), names, strict=True))
        found = []
        for k, idx in enumerate(owners):
            q, a = per_text[k].tolist(), per_text[len(owners) + k].tolist()
            if len(q) >= MIN_NUMBERS and len(a) == 1:
                found.append((idx, q, a[0]))
        seen = Counter(v for _, q, a in found for v in [*q, a])
        total = sum(seen.values())
        bits = {v: math.log2(total / c) for v, c in seen.items()}
        # item -> (its question's numbers sorted, its answer, the numbers as words)
        self.items: dict[int, tuple[tuple[int, ...], int, str]] = {}
        keys, sizes, key_items = [], [], []
        for idx, q, a in found:
            if sum(bits[v] for v in {*q, a}) < MIN_NUMBER_BITS:  # a repeat tells nothing new
                continue
            shown = " ".join(_NUMBER_WORDS.get(name_of[v], name_of[v]) for v in [*q, a])
            self.items[idx] = (tuple(sorted(q)), a, shown)
            with np.errstate(over="ignore"):
                keys.append(int(_multiset_hash(np.array(q, np.uint64)).sum()))
            sizes.append(len(q))
            key_items.append(idx)
        self.sizes = sorted(set(sizes))
        self._by_key: dict[tuple[int, int], list[int]] = {}
        for key, size, idx in zip(keys, sizes, key_items, strict=True):
            self._by_key.setdefault((size, key), []).append(idx)
        self._keys = _HashSet(np.unique(np.array(keys, np.uint64)), 20)

    def scan(self, words: "_Words") -> list[tuple[int, int, int]]:
        """(text, run start, item) of every run of a batch's numbers that is an item's numbers
        followed by its answer, in text order."""
        if not self.items:
            return []
        pos, values = _number_stream(words)
        text = words.text_of(pos)
        hashed = _multiset_hash(values)
        sums = np.zeros(len(values) + 1, np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(hashed, out=sums[1:])
        # every (start, size) run at once: one lookup for all sizes
        sizes = np.array([z for z in self.sizes if z < len(values)], np.int64)  # answer after
        counts = np.maximum(len(values) - sizes + 1, 0)
        size = np.repeat(sizes, counts)
        start = np.arange(len(size)) - np.repeat(np.cumsum(counts) - counts, counts)
        with np.errstate(over="ignore"):
            key = sums[start + size] - sums[start]
        at, _ = self._keys.find(key)
        at = at[text[start[at]] == text[start[at] + size[at] - 1]]  # one text's numbers
        hits: list[tuple[int, int, int]] = []
        for s, z, k in zip(start[at].tolist(), size[at].tolist(), key[at].tolist(), strict=True):
            run = tuple(sorted(values[s : s + z].tolist()))
            for idx in self._by_key.get((z, k), ()):
                q, answer, _ = self.items[idx]
                end = s + z
                after = values[end : end + NUMBER_SPAN][text[end : end + NUMBER_SPAN] == text[s]]
                if run == q and answer in after.tolist():
                    hits.append((int(text[s]), s, idx))
        hits.sort()
        return hits


# ------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Match:
    evalset: str
    item_id: str
    ngram: str  # the matched normalized words: a 13-gram, a short question (+ answer), numbers
    rule: str  # "ngram", "question", "question+answer", "question+choices", "numbers", "exact"


# kinds of indexed text per item
_QUESTION, _Q_ANSWER, _Q_CHOICES, _CHOICE = 0, 1, 2, 3


def _item_texts(item: EvalItem) -> list[tuple[int, str]]:
    """(kind, text) pairs; the question comes first and only its longer texts are hashed."""
    texts = [(_QUESTION, item.question), (_Q_ANSWER, f"{item.question} {item.answer}")]
    if item.choices:
        texts.append((_Q_CHOICES, f"{item.question} {' '.join(item.choices)}"))
        texts.extend((_CHOICE, c) for c in item.choices)
    if item.evalset == "gsm8k":  # worked solutions as people paste them: no <<calc>> marks
        texts.append((_Q_ANSWER, f"{item.question} {_GSM8K_CALC.sub('', item.answer)}"))
    return texts


@dataclass
class _ShortQuestion:
    words: list[str]
    specific: bool  # long and rare enough to count as contamination on its own
    items: list[int]  # the items that ask it


class Decontaminator:
    """Index of eval items: `check(text)` -> Match | None; `check_batch(texts)` is faster."""

    def __init__(self, items: Iterable[EvalItem], sources: dict | None = None):
        self._items: list[EvalItem] | None = list(items)
        self._refs = [(it.evalset, it.item_id) for it in self._items]
        self._load_args: tuple[tuple[str, ...], str] | None = None
        self.sources = sources or {}
        self._build_ngrams()
        self._build_questions()
        self._numbers = _NumberIndex(self.items)
        rules = [N, MIN_QUESTION_WORDS, MAX_ITEMS_PER_NGRAM, MAX_ITEMS_PER_QUESTION]
        rules += [COMMON_WORD_SHARE, ANCHOR_WORDS, ANSWER_GAP]
        rules += [MIN_NUMBERS, MIN_NUMBER_BITS, NUMBER_SPAN]
        self.fingerprint = sha256_json(
            {
                "version": VERSION,
                "rules": rules,
                "sources": self.sources,
                "items": [it.item_id for it in self.items],
            }
        )

    # --- building -------------------------------------------------------------------------
    def _build_ngrams(self) -> None:
        texts, text_item, text_kind = [], [], []
        for it_idx, item in enumerate(self.items):
            for kind, t in _item_texts(item):
                texts.append(t)
                text_item.append(it_idx)
                text_kind.append(kind)
        # every text folded as texts are (punctuation inside words deleted, ".00" ending a
        # number dropped); a text that folds otherwise with the punctuation spaced (and zeros
        # kept), or with the zeros kept, is indexed in that form too
        m = len(texts)
        text_item, text_kind = np.array(text_item, np.int64), np.array(text_kind, np.int64)
        question_text = np.searchsorted(text_item, text_item)  # it comes first
        base = _fold_batch(texts)
        joins, zeros, copies = [True] * m, [True] * m, [np.arange(m)]
        for join in (False, True):
            copy = np.flatnonzero(_differ(base, _fold_batch(texts, join, False)))
            # a copy's question is the question's copy in the same form when it has one
            copy_of = np.full(m, -1, np.int64)
            copy_of[copy] = len(joins) + np.arange(len(copy))
            q = question_text[copy]
            question_text = np.concatenate(
                [question_text, np.where(copy_of[q] >= 0, copy_of[q], q)]
            )
            joins += [join] * len(copy)
            zeros += [False] * len(copy)
            copies.append(copy)
        copy = np.concatenate(copies)
        text_item, text_kind = text_item[copy], text_kind[copy]
        joined = _Words.of(*_fold_batch([texts[i] for i in copy.tolist()], joins, zeros))
        self._streams = (joined, joined.without_single_letters())
        hs, items, stream_ids, positions = [], [], [], []
        for s, words in enumerate(self._streams):
            pos = np.arange(max(len(words.values) - N + 1, 0))
            text = words.text_of(pos)
            start = pos - words.offsets[text]
            q_len = np.diff(words.offsets)[question_text[text]]
            keep = pos + N <= words.offsets[text + 1]  # inside one text
            keep &= text_kind[text] != _QUESTION  # its 13-grams start question + answer anyway
            # question + choices: only windows that touch the question, so that a run of short
            # generic choices ("1,000 years 10,000 years ...") is not an n-gram of its own
            keep &= (text_kind[text] != _Q_CHOICES) | (start < q_len)
            if s == 1:  # without single letters: only where copies put labels ("A.") between
                # the question and its choices. Elsewhere the stream of every word suffices.
                keep &= (text_kind[text] == _Q_CHOICES) & (start + N > q_len)
            hs.append(_windows(words.g, N, pos[keep]))
            items.append(text_item[text[keep]])
            positions.append(pos[keep])
            stream_ids.append(np.full(np.count_nonzero(keep), s, np.int64))
        h, item = np.concatenate(hs), np.concatenate(items)
        stream, pos = np.concatenate(stream_ids), np.concatenate(positions)

        order = np.lexsort((pos, stream, item, h))  # by hash, then item: the lowest item owns it
        h, item, stream, pos = h[order], item[order], stream[order], pos[order]
        first = np.ones(len(h), bool)
        first[1:] = h[1:] != h[:-1]
        new_pair = first.copy()  # each new (hash, item) pair counts one more item for the hash
        new_pair[1:] |= item[1:] != item[:-1]
        group = np.cumsum(first) - 1
        n_items = np.bincount(group, weights=new_pair)
        keep = first & (n_items[group] <= MAX_ITEMS_PER_NGRAM)
        self.templates_skipped = int(np.count_nonzero(first & ~keep))
        self._ngrams = _HashSet(h[keep], _BITMAP_BITS)
        self._ng_item, self._ng_stream, self._ng_pos = item[keep], stream[keep], pos[keep]

    def _build_questions(self) -> None:
        """Short questions (2..12 words): found where their first words occur, then whole.
        Words without single letters, in both forms (punctuation deleted or spaced)."""
        qs = [it.question for it in self.items]
        forms = list(zip(*(_word_lists(qs, join, False) for join in (True, False)), strict=True))
        # how many questions use each word: "which of the following is correct" is made of
        # words that many questions use, "all matter is made up of" is not
        df: Counter = Counter()
        for f in forms:
            df.update(set(f[0]) | set(f[1]))
        common = max(1, int(COMMON_WORD_SHARE * len(forms)))
        by_words: dict[tuple[str, ...], list[int]] = {}
        for it_idx, f in enumerate(forms):
            for q in dict.fromkeys(map(tuple, f)):  # both forms, once each
                if 2 <= len(q) < N:
                    by_words.setdefault(q, []).append(it_idx)
        self._answers_and_choices(sorted({i for owners in by_words.values() for i in owners}))
        self._short: list[_ShortQuestion] = []
        for q, owners in sorted(by_words.items(), key=lambda kv: kv[1][0]):
            specific = (
                len(q) >= MIN_QUESTION_WORDS
                and len(owners) <= MAX_ITEMS_PER_QUESTION
                and sum(df[w] <= common for w in set(q)) >= 2
            )
            self._short.append(_ShortQuestion(list(q), specific, owners))
        # hashes of each whole question and of its first words, in one batch
        words = _Words.of(*_fold_batch([" ".join(s.words) for s in self._short]))
        first = words.offsets[:-1]
        full = _spans_hash(words.g, first, words.offsets[1:])
        n_words = np.diff(words.offsets)
        long = n_words >= ANCHOR_WORDS  # the rest (two words) are looked up whole
        anchors = _spans_hash(words.g, first[long], first[long] + ANCHOR_WORDS)
        self._q_lengths = np.unique(n_words[long])
        self._q_anchors = _HashSet(np.unique(anchors), 20)
        self._q_two = _HashSet(np.unique(full[~long]), 20)
        self._q_order = np.argsort(full, kind="stable")
        self._q_full = _HashSet(full[self._q_order], 20)

    def _answers_and_choices(self, owners: list[int]) -> None:
        """Both forms of the answer and of each choice of the items that ask a short question."""
        items = [self.items[i] for i in owners]
        answers = zip(
            *(_word_lists([it.answer for it in items], j, False) for j in (True, False)),
            strict=True,
        )
        self._answers = {
            i: {tuple(a) for a in f if a} for i, f in zip(owners, answers, strict=True)
        }
        choices = [c for it in items for c in it.choices]
        forms = list(zip(*(_word_lists(choices, j, False) for j in (True, False)), strict=True))
        self._choices: dict[int, list[set[str]]] = {}
        at = 0
        for i, it in zip(owners, items, strict=True):
            mine = forms[at : at + len(it.choices)]
            at += len(it.choices)
            self._choices[i] = [{" ".join(w) for w in f if w} for f in mine if f[0]]

    # --- checking -------------------------------------------------------------------------
    def check(self, text: str) -> Match | None:
        return self.check_batch([text])[0]

    def check_batch(self, texts: Sequence[str]) -> list[Match | None]:
        results: list[Match | None] = []
        for i in range(0, len(texts), BATCH):
            results.extend(self._scan(texts[i : i + BATCH]))
        return results

    def _scan(self, texts: Sequence[str]) -> list[Match | None]:
        """The first match of each text of a batch: 13-grams, short questions, numbers."""
        results: list[Match | None] = [None] * len(texts)
        if not self._refs:
            return results
        joined = _Words.of(*_fold_batch(texts))
        bare = joined.without_single_letters()
        for words in (joined, bare):
            self._scan_ngrams(words, results)
        self._scan_questions(bare, results)
        self._scan_numbers(joined, results)
        for t, match in enumerate(self._exact.scan(texts, joined)):  # whole short questions
            results[t] = results[t] or match
        return results

    @functools.cached_property
    def _exact(self):
        """Whole-question index of the EXACT_QUESTION_SETS targets (ffdata.exact_questions);
        a few hundred questions, built on first use instead of kept in the index cache."""
        from ffdata.exact_questions import ExactQuestions

        if self._items is not None:
            items = self._items
        else:  # from the cache: the same files, whatever the eval-set source (sources: digests)
            items = [it for n in self.sources if n in EXACT_QUESTION_SETS for it in load_evalset(n)]
        return ExactQuestions([it for it in items if it.evalset in EXACT_QUESTION_SETS])

    def _scan_numbers(self, words: _Words, results: list) -> None:
        """GSM8K items by their numbers (see _NumberIndex)."""
        for t, _, idx in self._numbers.scan(words):
            if results[t] is None:
                results[t] = self._match(idx, self._numbers.items[idx][2], "numbers")

    def check_numbers_batch(self, texts: Sequence[str]) -> list[Match | None]:
        """The numbers rule alone (for measuring it)."""
        results: list[Match | None] = [None] * len(texts)
        for i in range(0, len(texts), BATCH):
            chunk = texts[i : i + BATCH]
            found: list[Match | None] = [None] * len(chunk)
            self._scan_numbers(_Words.of(*_fold_batch(chunk)), found)
            results[i : i + len(chunk)] = found
        return results

    def _scan_ngrams(self, words: _Words, results: list) -> None:
        """13-grams: bitmap, sorted hashes, then word for word (a window may span two texts)."""
        pos, idx = self._ngrams.find(_windows(words.g, N))
        text = words.text_of(pos)
        inside = pos + N <= words.offsets[text + 1]
        for p, i, t in zip(
            pos[inside].tolist(), idx[inside].tolist(), text[inside].tolist(), strict=True
        ):
            if results[t] is None:
                index_words = self._streams[int(self._ng_stream[i])]
                ngram = index_words.at(int(self._ng_pos[i]), N)
                if words.at(p, N) == ngram:
                    results[t] = self._match(int(self._ng_item[i]), " ".join(ngram), "ngram")

    def _scan_questions(self, words: _Words, results: list) -> None:
        """Short questions: anchors on their first words, then the hash of each length there."""
        if not len(self._q_full.hashes):
            return
        g = words.g
        at, _ = self._q_anchors.find(_windows(g, ANCHOR_WORDS))
        two, _ = self._q_two.find(_windows(g, 2))
        long_starts = np.repeat(at, len(self._q_lengths))
        long_ends = long_starts + np.tile(self._q_lengths, len(at))
        starts = np.concatenate([long_starts, two])
        ends = np.concatenate([long_ends, two + 2])
        order = np.argsort(starts, kind="stable")  # first match by position
        starts, ends = starts[order], np.minimum(ends[order], len(g) - 1)
        found, i = self._q_full.find(_spans_hash(g, starts, ends))
        p_found, q_found = starts[found], self._q_order[i]
        t_found = words.text_of(p_found)
        for p, q, t in zip(p_found.tolist(), q_found.tolist(), t_found.tolist(), strict=True):
            short = self._short[q]
            end = int(words.offsets[t + 1])
            if results[t] is None and p + len(short.words) <= end:
                if words.at(p, len(short.words)) == short.words:
                    results[t] = self._question_match(short, words, p, int(words.offsets[t]), end)

    def _question_match(self, short: _ShortQuestion, words: _Words, p: int, start: int, end: int):
        """A short question is at p: contamination on its own, or with its answer or choices?"""
        if short.specific:
            return self._match(short.items[0], " ".join(short.words), "question")
        q_end = p + len(short.words)
        after = words.at(q_end, min(ANSWER_GAP + N, end - q_end))
        text = None
        for it_idx in short.items:
            for answer in sorted(self._answers[it_idx]):
                if len(short.words) + len(answer) >= MIN_QUESTION_WORDS:
                    for gap in range(ANSWER_GAP + 1):
                        if tuple(after[gap : gap + len(answer)]) == answer:
                            ngram = " ".join(short.words + list(answer))
                            return self._match(it_idx, ngram, "question+answer")
            choices = self._choices[it_idx]
            n_words = sum(min(c.count(" ") for c in forms) + 1 for forms in choices)
            if len(choices) >= 2 and len(short.words) + n_words >= N:
                if text is None:
                    text = f" {' '.join(words.at(start, end - start))} "
                if all(any(f" {c} " in text for c in forms) for forms in choices):
                    return self._match(it_idx, " ".join(short.words), "question+choices")
        return None

    def _match(self, it_idx: int, matched: str, rule: str) -> Match:
        evalset, item_id = self._refs[it_idx]
        return Match(evalset, item_id, matched, rule)

    @property
    def items(self) -> list[EvalItem]:
        """The indexed eval items (read again from the eval sets after a load from the cache)."""
        if self._items is None:
            targets, source = self._load_args
            self._items = [it for name in targets for it in load_evalset(name, source)]
        return self._items

    @property
    def stats(self) -> dict:
        return {
            "items": len(self._refs),
            "ngrams": int(len(self._ngrams.hashes)),
            "template_ngrams_skipped": self.templates_skipped,
            "short_questions": len(self._short),
            "specific_short_questions": sum(s.specific for s in self._short),
            "number_items": len(self._numbers.items),
            "fingerprint": self.fingerprint,
        }

    # --- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, targets: Iterable[str] = EVALSET_NAMES, source: str = "auto") -> "Decontaminator":
        """The index over the scored split of each target set; built once per process."""
        return _load_cached(tuple(targets), source)

    # --- the cache ------------------------------------------------------------------------
    _ARRAYS = ("_ng_item", "_ng_stream", "_ng_pos", "_q_lengths", "_q_order")
    _SETS = ("_ngrams", "_q_anchors", "_q_two", "_q_full")

    def save(self, path: Path) -> None:
        """Write the index to folder `path`: big arrays as .npy (loaded memory-mapped), the
        rest pickled. Written beside and renamed, so readers never see half an index."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        for name in self._SETS:
            arrays[f"{name}.hashes"] = getattr(self, name).hashes
            arrays[f"{name}.bitmap"] = getattr(self, name).bitmap
        words = self._streams[0]
        arrays["raw"] = np.frombuffer(words._raw, np.uint8)
        for k, w in enumerate(self._streams):
            arrays[f"stream{k}.starts"], arrays[f"stream{k}.ends"] = w.starts, w.ends
        for name, array in arrays.items():
            if array.dtype == np.int64:  # positions and item numbers: all below 2^31
                array = array.astype(np.int32)
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        rest = {
            "refs": self._refs,
            "sources": self.sources,
            "fingerprint": self.fingerprint,
            "templates_skipped": self.templates_skipped,
            "shifts": {name: int(getattr(self, name).shift) for name in self._SETS},
            "short": self._short,
            "answers": self._answers,
            "choices": self._choices,
            "numbers": self._numbers,
        }
        (tmp / "rest.pickle").write_bytes(pickle.dumps(rest, protocol=5))
        try:
            tmp.rename(path)
        except OSError:  # another process saved it first: same bytes, keep theirs
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def from_cache(cls, path: Path) -> "Decontaminator":
        """An index saved by `save`; its arrays are memory-mapped, not read."""
        path = Path(path)
        # tens of thousands of small objects (short questions, answers, choices): unpickled
        # with the cyclic GC paused, which would otherwise walk them again and again (2x faster)
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            rest = pickle.loads((path / "rest.pickle").read_bytes())
        finally:
            if was_enabled:
                gc.enable()

        def array(name):  # a plain ndarray view of the map: indexing a memmap is slower
            return np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)

        d = cls.__new__(cls)
        d._items, d._load_args = None, None
        d._refs, d.sources, d.fingerprint = rest["refs"], rest["sources"], rest["fingerprint"]
        d.templates_skipped = rest["templates_skipped"]
        d._short, d._answers, d._choices = rest["short"], rest["answers"], rest["choices"]
        d._numbers = rest["numbers"]
        for name in cls._ARRAYS:
            setattr(d, name, array(name))
        for name in cls._SETS:
            hs = _HashSet.__new__(_HashSet)
            hs.hashes, hs.bitmap = array(f"{name}.hashes"), array(f"{name}.bitmap")
            hs.shift = np.uint64(rest["shifts"][name])
            setattr(d, name, hs)
        raw = array("raw")
        d._streams = tuple(
            _Words.indexed(raw, array(f"stream{k}.starts"), array(f"stream{k}.ends"))
            for k in range(2)
        )
        return d


_CODE_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def cache_dir() -> Path:
    """Where built indexes are kept: $FFDATA_CACHE/decontam (default ~/.cache/ffdata)."""
    return default_cache_dir() / "decontam"


@functools.cache
def _load_cached(targets: tuple[str, ...], source: str) -> "Decontaminator":
    """Built once per eval-set digest and code version, then loaded from the cache."""
    sources = {name: describe_source(name, source) for name in targets}
    key = sha256_json({"code": _CODE_DIGEST, "targets": targets, "sources": sources})
    path = cache_dir() / key[:32]
    if (path / "rest.pickle").exists():
        try:
            d = Decontaminator.from_cache(path)
            d._load_args = (targets, source)
            mark_used(path)  # what `ffdata cache --prune` goes by
            return d
        except (OSError, ValueError, EOFError, pickle.UnpicklingError) as e:
            log.warning("decontamination index cache %s unreadable (%s); rebuilding", path, e)
            shutil.rmtree(path, ignore_errors=True)
    items = [it for name in targets for it in load_evalset(name, source)]
    d = Decontaminator(items, sources)
    d._load_args = (targets, source)
    try:
        d.save(path)
        mark_used(path)
    except OSError as e:  # a read-only home: the index still works, only slower to start
        log.warning("decontamination index not cached at %s (%s)", path, e)
    return d


# ------------------------------------------------------------------------- files


def _file_rows(path: Path, fields: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(row index, the fields joined by newlines) of a JSONL or Parquet file."""
    if not path.exists():
        raise FFDataError(f"{path}: file not found")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        for f in fields:
            if f not in names:
                raise FFDataError(f"{path}: no column {f!r} (columns: {', '.join(names)})")
        columns = pq.read_table(path, columns=list(fields)).to_pydict()
        for row in range(len(columns[fields[0]])):
            yield row, "\n".join(str(columns[f][row] or "") for f in fields)
        return
    with open(path, "rb") as fh:
        row = 0
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise FFDataError(f"{path}:{lineno}: malformed JSON ({e})") from None
            if not isinstance(obj, dict):
                raise FFDataError(f"{path}:{lineno}: row {row} is not a JSON object")
            for f in fields:
                if not isinstance(obj.get(f), str):
                    raise FFDataError(
                        f"{path}:{lineno}: row {row} field {f!r} is missing or not a string"
                    )
            yield row, "\n".join(obj[f] for f in fields)
            row += 1


def decontaminate_file(
    path: str | Path, fields: Sequence[str], d: Decontaminator | None = None
) -> Iterator[dict]:
    """One dict per flagged row of a JSONL/Parquet file, then a summary dict (key "summary")."""
    if not fields:
        raise FFDataError("name at least one --text-field")
    path = Path(path)
    rows = flagged = 0
    by_evalset: dict[str, int] = {}
    chunk: list[tuple[int, str]] = []

    def flush():
        nonlocal flagged, d
        d = d or Decontaminator.load()  # after the first rows: bad input fails fast
        for (row, _), m in zip(chunk, d.check_batch([t for _, t in chunk]), strict=True):
            if m is not None:
                flagged += 1
                by_evalset[m.evalset] = by_evalset.get(m.evalset, 0) + 1
                yield {"row": row, "evalset": m.evalset, "item_id": m.item_id,
                       "ngram": m.ngram, "rule": m.rule}  # fmt: skip
        chunk.clear()

    for row, text in _file_rows(path, fields):
        rows += 1
        chunk.append((row, text))
        if len(chunk) >= BATCH:
            yield from flush()
    yield from flush()
    yield {
        "summary": {
            "file": str(path),
            "rows": rows,
            "flagged": flagged,
            "by_evalset": dict(sorted(by_evalset.items())),
            "index": d.fingerprint,
            "sources": {k: v["source"] for k, v in d.sources.items()},
        }
    }


# ------------------------------------------------------------------------- planted items
# Real eval items disguised the ways contamination shows up in training data; the recall
# test and bench/decontam.py plant them in clean text and count how many are caught.

PLANT_KINDS = (
    "case",
    "punct_deleted",  # every punctuation mark deleted: "person's" -> "persons", "a, b" -> "a b"
    "punct_spaced",  # every punctuation mark a space: "person's" -> "person s"
    "punct_joined",  # only marks inside words deleted: "0.108" -> "0108", "9/11" -> "911"
    "punct_swapped",  # marks swapped for others (". " -> "; ", "," -> " ,")
    "whitespace",
    "shuffled_choices",
    "embedded",
    "answer_appended",
    "all",  # shuffled, answer appended, one punctuation change, case, whitespace, embedded
)
_PUNCT_MARK = re.compile(r"[^\w\s]|_")
_INNER_PUNCT = re.compile(r"(?<=[^\W_])(?:[^\w\s]|_)+(?=[^\W_])")
_PUNCT_SWAP = {".": ";", ",": " ,", "?": "", ":": " -", ";": ".", "!": ".", "'": "’", "-": "–"}
_SPACES = ("  ", "\n", "\t", " \n ", "\u00a0", "   ")
_PUNCT_CHANGES = {
    "punct_deleted": lambda t, rng: _PUNCT_MARK.sub("", t),
    "punct_spaced": lambda t, rng: _PUNCT_MARK.sub(" ", t),
    "punct_joined": lambda t, rng: _INNER_PUNCT.sub("", t),
    "punct_swapped": lambda t, rng: "".join(
        _PUNCT_SWAP.get(c, c) if rng.random() < 0.5 else c for c in t
    ),
}


def _case(text: str, rng: random.Random) -> str:
    cases = (str.upper, str.lower, str.title, str.swapcase)
    return " ".join(rng.choice(cases)(w) if rng.random() < 0.7 else w for w in text.split(" "))


def _whitespace(text: str, rng: random.Random) -> str:
    return "".join(rng.choice(_SPACES) if c == " " and rng.random() < 0.5 else c for c in text)


def _render(item: EvalItem, choices: Sequence[str]) -> str:
    lines = [item.question] + [f"{'ABCDEFGHIJKLMNOP'[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def plant(item: EvalItem, kind: str, rng: random.Random, filler: Sequence[str]) -> str:
    """A text that carries `item` disguised as `kind` (see PLANT_KINDS)."""
    if kind not in PLANT_KINDS:
        raise ValueError(f"unknown plant kind {kind!r}; known: {PLANT_KINDS}")
    choices = list(item.choices)
    if kind in ("shuffled_choices", "all"):
        rng.shuffle(choices)
    body = _render(item, choices)
    if kind in ("answer_appended", "all"):
        body = f"{body}\nAnswer: {item.answer}"
    if kind in _PUNCT_CHANGES:
        body = _PUNCT_CHANGES[kind](body, rng)
    if kind == "all":
        body = _PUNCT_CHANGES[rng.choice(sorted(_PUNCT_CHANGES))](body, rng)
    if kind in ("case", "all"):
        body = _case(body, rng)
    if kind in ("whitespace", "all"):
        body = _whitespace(body, rng)
    if kind in ("embedded", "all"):
        before = " ".join(rng.choice(filler) for _ in range(2))
        after = " ".join(rng.choice(filler) for _ in range(2))
        body = f"{before}\nHere is a question I found:\n{body}\n{after}"
    return body
