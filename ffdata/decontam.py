"""Decontamination against the evaluation sets: word 13-grams plus whole short questions.

Text is normalized (Unicode NFKC, lower case, every run of characters that are not letters,
digits or marks -> one space) and split into words. The index holds, for every eval item, the
13-grams of question + gold answer, question + choices (in order) and each choice on its own
(the question's own 13-grams are a prefix of the first), plus its whole question when that has
fewer than 13 words. A text is contaminated if it shares a 13-gram with an item or contains
such a short question as consecutive words.

Two guards keep generic text from matching:
- a 13-gram found in more than MAX_ITEMS_PER_NGRAM items is a template (MMLU's
  moral-scenarios preamble is in 895 items), not one item, so it is not indexed;
- a short question must have at least MIN_QUESTION_WORDS words and belong to at most
  MAX_ITEMS_PER_QUESTION items ("which of the following is true" is in 8 MMLU items). A
  question that fails this is indexed with its gold answer appended instead.

Speed: a batch of texts is normalized and mapped to word ids by Arrow compute kernels, then
every word window gets a polynomial hash from one prefix sum (window = (G[i+n] - G[i]) * P^-i,
all mod 2^64). A 16 MiB bitmap rejects almost every window; the few left are looked up in the
sorted hash array and compared word for word, so a reported match is always exact.
"""

import functools
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ffdata.evalsets import EVALSET_NAMES, EvalItem, describe_source, load_evalset
from ffdata.hashing import sha256_json

N = 13
MIN_QUESTION_WORDS = 6
MAX_ITEMS_PER_NGRAM = 10
MAX_ITEMS_PER_QUESTION = 2
COMMON_WORD_SHARE = 0.01  # a word in more eval questions than this share is a common word
ANSWER_GAP = 4  # words allowed between a short question and its pasted answer ("Answer:")
VERSION = "1"  # bump when the matching rules change: it is part of the fingerprint

_BITMAP_BITS = 27  # 2^27 bits = 16 MiB for ~1.2M 13-grams: ~1% of windows go on to be checked
_HASH_P = 0x9E3779B97F4A7C15  # odd, so it has an inverse mod 2^64
_HASH_P_INV = pow(_HASH_P, -1, 1 << 64)
_SEED = 20240613  # word values come from a fixed seed: the same index in every process

# ASCII folding: letters lower-cased, digits kept, everything else a space. On ASCII text this
# is exactly what _fold_unicode does (NFKC and the category rule change nothing else there).
_ASCII_STR_TABLE = str.maketrans(
    {chr(c): (chr(c).lower() if chr(c).isalnum() else " ") for c in range(128)}
)
_ASCII_BYTE_TABLE = np.array(
    [ord(chr(c).lower()) if chr(c).isalnum() else 32 for c in range(128)] + list(range(128, 256)),
    np.uint8,
)
_GSM8K_CALC = re.compile(r"<<[^>]*>>")


# ------------------------------------------------------------------------- normalization


def _fold_ascii(arr: pa.StringArray) -> pa.StringArray:
    """Lower-case and blank punctuation with one byte-table lookup over the whole buffer."""
    validity, offsets, data = arr.buffers()
    if data is None:
        return arr
    folded = _ASCII_BYTE_TABLE[np.frombuffer(data, np.uint8)]
    return pa.StringArray.from_buffers(
        len(arr), offsets, pa.py_buffer(folded), validity, arr.offset
    )


class _UnicodeFold(dict):
    """str.translate table, filled on first sight of each character: letters, digits and
    marks stay (letters already lower-cased), anything else becomes a space."""

    def __missing__(self, cp: int) -> str:
        self[cp] = chr(cp) if unicodedata.category(chr(cp))[0] in "LNM" else " "
        return self[cp]


_UNICODE_TABLE = _UnicodeFold()


def _fold_unicode(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().translate(_UNICODE_TABLE)


def normalize_batch(texts: Sequence[str] | pa.Array) -> pa.ListArray:
    """Normalized words of each text, as an Arrow list<string> array."""
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    arr = arr.fill_null("")
    is_ascii = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    if is_ascii.all():
        folded = _fold_ascii(arr)
    else:
        ascii_idx, other_idx = np.flatnonzero(is_ascii), np.flatnonzero(~is_ascii)
        others = [_fold_unicode(t) for t in arr.take(other_idx).to_pylist()]
        parts = [_fold_ascii(arr.take(ascii_idx)), pa.array(others, pa.string())]
        order = np.argsort(np.concatenate([ascii_idx, other_idx]), kind="stable")
        folded = pa.concat_arrays(parts).take(order)
    lists = pc.ascii_split_whitespace(pc.ascii_trim_whitespace(folded))
    words = lists.flatten()
    if not len(words):
        return lists
    # drop single letters (answer labels "A." "(b)", and "a"/"i") and the "" that an empty
    # text splits into
    length = pc.utf8_length(words)
    drop = pc.or_(pc.equal(length, 0), pc.and_(pc.equal(length, 1), pc.utf8_is_alpha(words)))
    keep = pc.invert(drop).to_numpy(zero_copy_only=False)
    if keep.all():
        return lists
    counts = np.add.reduceat(keep.astype(np.int64), lists.offsets.to_numpy()[:-1])
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(new_offsets), words.filter(pa.array(keep)))


def normalize_words(text: str) -> list[str]:
    """NFKC, lower case, non-word characters collapsed to spaces; single letters dropped."""
    folded = text.translate(_ASCII_STR_TABLE) if text.isascii() else _fold_unicode(text)
    return [w for w in folded.split() if len(w) > 1 or not w.isalpha()]


def normalize(text: str) -> str:
    return " ".join(normalize_words(text))


# ------------------------------------------------------------------------- hashing


class _Powers:
    """P^k and P^-k mod 2^64 for k < n, grown on demand."""

    def __init__(self):
        self.pow = np.ones(1, np.uint64)
        self.inv = np.ones(1, np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pow) < n:
            size = max(n, 2 * len(self.pow))
            p, p_inv = np.uint64(_HASH_P), np.uint64(_HASH_P_INV)
            with np.errstate(over="ignore"):  # wrapping mod 2^64 is the point
                self.pow = np.cumprod(np.full(size, p, np.uint64)) * p_inv
                self.inv = np.cumprod(np.full(size, p_inv, np.uint64)) * p
        return self.pow[:n], self.inv[:n]


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
        idx = np.searchsorted(self.hashes, h[maybe])
        idx[idx == len(self.hashes)] = 0
        hit = self.hashes[idx] == h[maybe]
        return maybe[hit], idx[hit]


def _bit(slot: np.ndarray) -> np.ndarray:
    return np.left_shift(np.uint8(1), (slot & np.uint64(7)).astype(np.uint8))


# ------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Match:
    evalset: str
    item_id: str
    ngram: str  # the matched normalized words: a 13-gram or a short question
    rule: str  # "ngram", "question", "question+answer" or "question+choices"


def _item_texts(item: EvalItem) -> list[str]:
    """Text 0 is the question; the 13-grams of texts 1.. are indexed."""
    texts = [item.question, f"{item.question} {item.answer}"]
    if item.choices:
        texts.append(f"{item.question} {' '.join(item.choices)}")
        texts.extend(item.choices)
    if item.evalset == "gsm8k":  # worked solutions as people paste them: no <<calc>> marks
        texts.append(f"{item.question} {_GSM8K_CALC.sub('', item.answer)}")
    return texts


@dataclass
class _ShortQuestion:
    words: list[str]
    specific: bool  # long and rare enough to count as contamination on its own
    items: list[int]  # the items that ask it


class Decontaminator:
    """Index of eval items: `check(text)` -> Match | None; `check_batch(texts)` is faster."""

    def __init__(self, items: Iterable[EvalItem], sources: dict | None = None):
        self.items: list[EvalItem] = list(items)
        self.sources = sources or {}
        self._powers = _Powers()
        self._build()
        self.fingerprint = sha256_json(
            {
                "version": VERSION,
                "rules": [
                    N,
                    MIN_QUESTION_WORDS,
                    MAX_ITEMS_PER_NGRAM,
                    MAX_ITEMS_PER_QUESTION,
                    COMMON_WORD_SHARE,
                    ANSWER_GAP,
                ],
                "sources": self.sources,
                "items": [it.item_id for it in self.items],
            }
        )

    # --- building -------------------------------------------------------------------------
    def _build(self) -> None:
        texts, text_item, text_kind = [], [], []
        for it_idx, item in enumerate(self.items):
            for kind, t in enumerate(_item_texts(item)):
                texts.append(t)
                text_item.append(it_idx)
                text_kind.append(kind)
        lists = normalize_batch(texts)
        words = lists.flatten()
        offsets = lists.offsets.to_numpy().astype(np.int64)
        self._vocab_arr = pc.unique(words).sort()
        self._vocab = {w: i for i, w in enumerate(self._vocab_arr.to_pylist(), start=1)}
        rng = np.random.default_rng(_SEED)
        self._values = rng.integers(1, 2**63, size=len(self._vocab) + 1, dtype=np.uint64)
        self._index_words = words  # every indexed text's words, flat: matches are read here

        text_item, text_kind = np.array(text_item, np.int64), np.array(text_kind, np.int64)
        g = self._prefix(self._batch_ids(words))
        pos = np.arange(max(len(words) - N + 1, 0))
        text_no = np.searchsorted(offsets, pos, side="right") - 1
        q_len = np.diff(offsets)[np.flatnonzero(text_kind == 0)][text_item]  # per text
        start = pos - offsets[text_no]
        inside = pos + N <= offsets[text_no + 1]
        useful = text_kind[text_no] > 0  # the question's 13-grams start question + answer
        # question + choices: only windows that touch the question, so that a run of short
        # generic choices ("1,000 years 10,000 years ...") is not an n-gram of its own
        useful &= (text_kind[text_no] != 2) | (start < q_len[text_no])
        keep = inside & useful
        self._build_ngrams(self._windows(g, N)[keep], text_item[text_no[keep]], pos[keep])
        self._build_questions(lists.take(pa.array(np.flatnonzero(text_kind == 0))).to_pylist())

    def _build_ngrams(self, h: np.ndarray, item: np.ndarray, pos: np.ndarray) -> None:
        order = np.lexsort((pos, item, h))  # by hash, then item: the lowest item owns it
        h, item, pos = h[order], item[order], pos[order]
        first = np.ones(len(h), bool)
        first[1:] = h[1:] != h[:-1]
        new_pair = first.copy()  # each new (hash, item) pair counts one more item for the hash
        new_pair[1:] |= item[1:] != item[:-1]
        group = np.cumsum(first) - 1
        n_items = np.bincount(group, weights=new_pair)
        keep = first & (n_items[group] <= MAX_ITEMS_PER_NGRAM)
        self.templates_skipped = int(np.count_nonzero(first & ~keep))
        self._ngrams = _HashSet(h[keep], _BITMAP_BITS)
        self._ng_item, self._ng_pos = item[keep], pos[keep]

    def _build_questions(self, questions: list[list[str]]) -> None:
        """Short questions (2..12 words), found by the hash of their first two words."""
        by_words: dict[tuple[str, ...], list[int]] = {}
        for it_idx, q in enumerate(questions):
            if 2 <= len(q) < N:
                by_words.setdefault(tuple(q), []).append(it_idx)
        # how many questions use each word: "which of the following is correct" is made of
        # words that many questions use, "all matter is made up of" is not
        df: dict[str, int] = {}
        for q in questions:
            for w in set(q):
                df[w] = df.get(w, 0) + 1
        common = max(1, int(COMMON_WORD_SHARE * len(questions)))
        self._short: list[_ShortQuestion] = []
        full, anchors = [], []
        for q, owners in sorted(by_words.items(), key=lambda kv: kv[1][0]):
            specific = (
                len(q) >= MIN_QUESTION_WORDS
                and len(owners) <= MAX_ITEMS_PER_QUESTION
                and sum(df[w] <= common for w in set(q)) >= 2
            )
            self._short.append(_ShortQuestion(list(q), specific, owners))
            g = self._prefix(self._py_ids(q))
            full.append(self._windows(g, len(q))[0])
            anchors.append(self._windows(g, 2)[0])
        self._q_lengths = sorted({len(s.words) for s in self._short})
        self._q_anchors = _HashSet(np.unique(np.array(anchors, np.uint64)), 20)
        order = np.argsort(np.array(full, np.uint64), kind="stable")
        self._q_full = np.array(full, np.uint64)[order]
        self._q_full_idx = order
        self._answers = normalize_batch([it.answer for it in self.items]).to_pylist()
        self._choices = [
            [" ".join(c) for c in normalize_batch(list(it.choices)).to_pylist() if c]
            if it.choices
            else []
            for it in self.items
        ]
        self.short_questions = sum(s.specific for s in self._short)

    # --- hashing --------------------------------------------------------------------------
    def _batch_ids(self, words: pa.Array) -> np.ndarray:
        """Word ids (1..V; 0 for words in no eval item) for a flat Arrow array of words."""
        idx = pc.index_in(words, value_set=self._vocab_arr)
        return pc.fill_null(pc.add(idx, 1), 0).to_numpy().astype(np.intp)

    def _py_ids(self, words: Sequence[str]) -> np.ndarray:
        get = self._vocab.get
        return np.array([get(w, 0) for w in words], np.intp)

    def _prefix(self, ids: np.ndarray) -> np.ndarray:
        """G[k] = sum_{j<k} value[ids[j]] * P^j mod 2^64."""
        a = self._values[ids]
        pw, _ = self._powers.get(len(a))
        g = np.zeros(len(a) + 1, np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(a * pw, out=g[1:])
        return g

    def _windows(self, g: np.ndarray, n: int, at: np.ndarray | None = None) -> np.ndarray:
        """Hash of the n words starting at each position (or at positions `at`)."""
        if at is None:
            count = len(g) - n
            if count <= 0:
                return np.zeros(0, np.uint64)
            _, inv = self._powers.get(count)
            with np.errstate(over="ignore"):
                return (g[n:] - g[:count]) * inv
        _, inv = self._powers.get(len(g))
        end = np.minimum(at + n, len(g) - 1)
        with np.errstate(over="ignore"):
            return (g[end] - g[at]) * inv[at]

    # --- checking -------------------------------------------------------------------------
    def check(self, text: str) -> Match | None:
        words = normalize_words(text)
        return self._scan(self._py_ids(words), [0, len(words)], lambda p, n: words[p : p + n])[0]

    def check_batch(self, texts: Sequence[str]) -> list[Match | None]:
        lists = normalize_batch(texts)
        words = lists.flatten()
        offsets = lists.offsets.to_numpy().astype(np.int64)
        return self._scan(
            self._batch_ids(words), offsets, lambda p, n: words[p : p + n].to_pylist()
        )

    def _scan(
        self, ids: np.ndarray, offsets, words_at: Callable[[int, int], list[str]]
    ) -> list[Match | None]:
        """First match of each text; text t is ids[offsets[t]:offsets[t+1]]."""
        offsets = np.asarray(offsets, np.int64)
        results: list[Match | None] = [None] * (len(offsets) - 1)
        g = self._prefix(ids)

        # 13-grams: bitmap, sorted hashes, then word for word (a window may span two texts)
        pos, idx = self._ngrams.find(self._windows(g, N))
        text = np.searchsorted(offsets, pos, side="right") - 1
        inside = pos + N <= offsets[text + 1]
        for p, i, t in zip(
            pos[inside].tolist(), idx[inside].tolist(), text[inside].tolist(), strict=True
        ):
            if results[t] is None:
                start = int(self._ng_pos[i])
                ngram = self._index_words[start : start + N].to_pylist()
                if words_at(p, N) == ngram:
                    results[t] = self._match(int(self._ng_item[i]), ngram, "ngram")

        # short questions: anchored on two words, then the hash of each question length
        anchor_pos, _ = self._q_anchors.find(self._windows(g, 2))
        if not len(anchor_pos):
            return results
        hits = []
        for n in self._q_lengths:
            h = self._windows(g, n, anchor_pos)
            i = np.minimum(np.searchsorted(self._q_full, h), len(self._q_full) - 1)
            found = self._q_full[i] == h
            hits.extend(
                zip(anchor_pos[found].tolist(), self._q_full_idx[i[found]].tolist(), strict=True)
            )
        for p, q in sorted(hits):
            t = int(np.searchsorted(offsets, p, side="right")) - 1
            short = self._short[q]
            end = offsets[t + 1]
            if results[t] is None and p + len(short.words) <= end:
                if words_at(p, len(short.words)) == short.words:
                    results[t] = self._question_match(short, p, int(offsets[t]), int(end), words_at)
        return results

    def _question_match(self, short: _ShortQuestion, p: int, start: int, end: int, words_at):
        """A short question was found at p: is it contamination on its own or with its item?"""
        if short.specific:
            return self._match(short.items[0], short.words, "question")
        after = words_at(p + len(short.words), min(ANSWER_GAP + N, end - p - len(short.words)))
        text = None
        for it_idx in short.items:
            answer = self._answers[it_idx]
            if len(short.words) + len(answer) >= MIN_QUESTION_WORDS:
                for gap in range(ANSWER_GAP + 1):
                    if after[gap : gap + len(answer)] == answer:
                        return self._match(it_idx, short.words + answer, "question+answer")
            choices = self._choices[it_idx]
            if len(choices) >= 2 and len(short.words) + sum(c.count(" ") + 1 for c in choices) >= N:
                if text is None:
                    text = f" {' '.join(words_at(start, end - start))} "
                if all(f" {c} " in text for c in choices):
                    return self._match(it_idx, short.words, "question+choices")
        return None

    def _match(self, it_idx: int, words: list[str], rule: str) -> Match:
        item = self.items[it_idx]
        return Match(item.evalset, item.item_id, " ".join(words), rule)

    @property
    def stats(self) -> dict:
        return {
            "items": len(self.items),
            "ngrams": int(len(self._ngrams.hashes)),
            "template_ngrams_skipped": self.templates_skipped,
            "short_questions": len(self._short),
            "specific_short_questions": self.short_questions,
            "vocab": len(self._vocab),
            "fingerprint": self.fingerprint,
        }

    # --- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, targets: Iterable[str] = EVALSET_NAMES, source: str = "auto") -> "Decontaminator":
        """The index over the scored split of each target set; built once per process."""
        return _load_cached(tuple(targets), source)


@functools.cache
def _load_cached(targets: tuple[str, ...], source: str) -> "Decontaminator":
    items = [it for name in targets for it in load_evalset(name, source)]
    return Decontaminator(items, {name: describe_source(name, source) for name in targets})


# ------------------------------------------------------------------------- planted items
# Real eval items disguised the ways contamination shows up in training data; the recall
# test and bench/decontam.py plant them in clean text and count how many are caught.

PLANT_KINDS = ("surface", "reordered_choices", "embedded", "answer_pasted", "all")
_PUNCT_SWAP = {".": ";", ",": " ,", "?": "", ":": " -", ";": ".", "!": "."}


def _surface(text: str, rng: random.Random) -> str:
    """Change case, whitespace and punctuation, never the words themselves."""
    text = "".join(_PUNCT_SWAP.get(c, c) if rng.random() < 0.5 else c for c in text)
    case = rng.choice((str.upper, str.lower, str.title, str.swapcase))
    return "  \n ".join(case(w) if rng.random() < 0.7 else w for w in text.split(" "))


def _render(item: EvalItem, choices: Sequence[str]) -> str:
    lines = [item.question] + [f"{'ABCDEFGHIJKLMNOP'[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def plant(item: EvalItem, kind: str, rng: random.Random, filler: Sequence[str]) -> str:
    """A text that carries `item` disguised as `kind` (see PLANT_KINDS)."""
    choices = list(item.choices)
    if kind in ("reordered_choices", "all"):
        rng.shuffle(choices)
    body = _render(item, choices)
    if kind in ("answer_pasted", "all"):
        body = (
            f"{item.question}\nAnswer: {item.answer}"
            if kind == "answer_pasted"
            else (f"{body}\nAnswer: {item.answer}")
        )
    if kind in ("surface", "all"):
        body = _surface(body, rng)
    if kind in ("embedded", "all"):
        before = " ".join(rng.choice(filler) for _ in range(2))
        after = " ".join(rng.choice(filler) for _ in range(2))
        body = f"{before}\nHere is a question I found:\n{body}\n{after}"
    if kind not in PLANT_KINDS:
        raise ValueError(f"unknown plant kind {kind!r}; known: {PLANT_KINDS}")
    return body
