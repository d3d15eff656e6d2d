"""Decontamination against the evaluation sets: word 13-grams plus whole short questions.

Text is normalized (Unicode NFKC, lower case, every run of punctuation/whitespace -> one
space) and split into words. The index holds, for every eval item, the 13-grams of its
question, question + gold answer, question + choices (in order) and each choice on its own,
plus its whole question when that has fewer than 13 words. A text is contaminated if it shares
a 13-gram with an item or contains such a short question as consecutive words.

Two guards keep generic text from matching:
- a 13-gram found in more than MAX_ITEMS_PER_NGRAM items is a template (MMLU's
  moral-scenarios preamble is in 895 items), not one item, so it is not indexed;
- a short question must have at least MIN_QUESTION_WORDS words and belong to at most
  MAX_ITEMS_PER_QUESTION items ("which of the following is true" is in 8 MMLU items). A
  question that fails this is indexed with its gold answer appended instead.

Speed: a batch of texts becomes one array of 64-bit word values; the polynomial hash of every
word window comes from one prefix sum (window = (G[i+L] - G[i]) * P^-i, all mod 2^64). A
16 MiB bitmap rejects almost every window; the few left are looked up in the sorted hash array
and then compared word for word, so a reported match is always exact.
"""

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ffdata.evalsets import EVALSET_NAMES, EvalItem, describe_source, load_evalset
from ffdata.hashing import sha256_json

N = 13
MIN_QUESTION_WORDS = 6
MAX_ITEMS_PER_NGRAM = 10
MAX_ITEMS_PER_QUESTION = 2
VERSION = "1"  # bump when the matching rules change: it is part of the fingerprint

_ASCII_TABLE = str.maketrans({chr(c): (chr(c) if chr(c).isalnum() else " ") for c in range(128)})
_NON_WORD = re.compile(r"[\W_]+")
_GSM8K_CALC = re.compile(r"<<[^>]*>>")

_BITMAP_BITS = 27  # 2^27 bits = 16 MiB; ~1.2M indexed 13-grams leave ~1% of windows to check
_HASH_P = 0x9E3779B97F4A7C15  # odd, so it has an inverse mod 2^64
_HASH_P_INV = pow(_HASH_P, -1, 1 << 64)


def normalize_words(text: str) -> list[str]:
    """NFKC, lower case, punctuation and whitespace collapsed; the words."""
    if text.isascii():  # fast path, same result: NFKC is the identity on ASCII
        return text.lower().translate(_ASCII_TABLE).split()
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()


def normalize(text: str) -> str:
    return " ".join(normalize_words(text))


@dataclass(frozen=True)
class Match:
    evalset: str
    item_id: str
    ngram: str  # the matched normalized words: a 13-gram or a whole short question
    rule: str  # "ngram" or "question"


def _item_texts(item: EvalItem) -> list[str]:
    """The texts of an item whose 13-grams are indexed."""
    texts = [item.question, f"{item.question} {item.answer}"]
    if item.choices:
        texts.append(f"{item.question} {' '.join(item.choices)}")
        texts.extend(item.choices)
    if item.evalset == "gsm8k":  # solutions as people paste them, without calculator marks
        texts.append(f"{item.question} {_GSM8K_CALC.sub('', item.answer)}")
    return texts


class _Powers:
    """P^k and P^-k mod 2^64, grown on demand."""

    def __init__(self):
        self.pow = np.ones(1, np.uint64)
        self.inv = np.ones(1, np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pow) < n:
            size = max(n, 2 * len(self.pow))
            with np.errstate(over="ignore"):
                self.pow = np.cumprod(np.full(size, _HASH_P, np.uint64)) * np.uint64(_HASH_P_INV)
                self.inv = np.cumprod(np.full(size, _HASH_P_INV, np.uint64)) * np.uint64(_HASH_P)
        return self.pow[:n], self.inv[:n]


class Decontaminator:
    """Index of eval items; `check(text)` -> Match | None, `check_batch(texts)` for speed."""

    def __init__(self, items: Iterable[EvalItem], description: dict | None = None):
        self.items: list[EvalItem] = list(items)
        self._powers = _Powers()
        self._vocab: dict[str, int] = {}
        self._item_words: list[list[list[str]]] = []  # item -> its indexed texts' words
        self._build()
        self.fingerprint = sha256_json(
            {
                "version": VERSION,
                "rules": [N, MIN_QUESTION_WORDS, MAX_ITEMS_PER_NGRAM, MAX_ITEMS_PER_QUESTION],
                "sources": description or {},
                "items": len(self.items),
            }
        )
        self.sources = description or {}

    # --- index ----------------------------------------------------------------------------
    def _ids(self, words: list[str], grow: bool = False) -> list[int]:
        vocab = self._vocab
        if grow:
            for w in words:
                if w not in vocab:
                    vocab[w] = len(vocab) + 1  # 0 is every word no eval item contains
        get = vocab.get
        return [get(w, 0) for w in words]

    def _build(self) -> None:
        grams: list[tuple[int, int, int, int]] = []  # (hash, item, text, start)
        questions: dict[str, list[int]] = {}
        for it_idx, item in enumerate(self.items):
            texts = [normalize_words(t) for t in _item_texts(item)]
            self._item_words.append(texts)
            for t_idx, words in enumerate(texts):
                self._ids(words, grow=True)
            q = " ".join(texts[0])
            questions.setdefault(q, []).append(it_idx)
        rng = np.random.default_rng(20240613)  # fixed: the same index in every process
        self._values = rng.integers(1, 2**63, size=len(self._vocab) + 3, dtype=np.uint64)
        self._sep_id = len(self._vocab) + 1  # between texts in a batch; in no eval item

        for it_idx, texts in enumerate(self._item_words):
            for t_idx, words in enumerate(texts):
                if len(words) < N:
                    continue
                hashes = self._window_hashes(self._ids(words), N)
                grams.extend((int(h), it_idx, t_idx, s) for s, h in enumerate(hashes))
        self._build_ngrams(grams)
        self._build_questions(questions)

    def _build_ngrams(self, grams: list[tuple[int, int, int, int]]) -> None:
        arr = np.array(grams, dtype=np.uint64).reshape(-1, 4)
        order = np.lexsort((arr[:, 1], arr[:, 0]))  # by hash, then item
        arr = arr[order]
        h, item = arr[:, 0], arr[:, 1]
        first = np.ones(len(h), bool)
        first[1:] = h[1:] != h[:-1]
        # distinct items per hash: a new (hash, item) pair starts where either changes
        new_pair = first.copy()
        new_pair[1:] |= item[1:] != item[:-1]
        group = np.cumsum(first) - 1
        n_items = np.bincount(group, weights=new_pair)
        keep = first & (n_items[group] <= MAX_ITEMS_PER_NGRAM)
        self.templates_dropped = int(np.count_nonzero(first & ~keep))
        kept = arr[keep]  # first row per hash = lowest item index owns the n-gram
        self._ng_hash = kept[:, 0].copy()
        self._ng_ref = kept[:, 1:].astype(np.int64)
        self._bitmap = np.zeros(1 << (_BITMAP_BITS - 3), np.uint8)
        slot = self._ng_hash >> np.uint64(64 - _BITMAP_BITS)
        np.bitwise_or.at(
            self._bitmap, slot >> np.uint64(3), (1 << (slot & np.uint64(7))).astype(np.uint8)
        )

    def _build_questions(self, questions: dict[str, list[int]]) -> None:
        """Whole short questions (or short question + answer when the question is generic)."""
        seqs: dict[str, int] = {}
        for q, owners in questions.items():
            n = len(q.split())
            if n >= N or n == 0:
                continue
            if n >= MIN_QUESTION_WORDS and len(owners) <= MAX_ITEMS_PER_QUESTION:
                seqs.setdefault(q, owners[0])
                continue
            for it_idx in owners:  # too short or generic alone: needs its own answer after it
                qa = " ".join(self._item_words[it_idx][1])
                if MIN_QUESTION_WORDS <= len(qa.split()) < N:
                    seqs.setdefault(qa, it_idx)
        self._q_seqs: dict[int, list[tuple[list[str], int]]] = {}
        anchors = []
        for seq, it_idx in sorted(seqs.items(), key=lambda kv: kv[1]):
            words = seq.split()
            h = int(
                self._window_hashes(self._ids(words[:MIN_QUESTION_WORDS]), MIN_QUESTION_WORDS)[0]
            )
            self._q_seqs.setdefault(h, []).append((words, it_idx))
            anchors.append(h)
        self._q_anchor = np.unique(np.array(anchors, np.uint64))
        self.short_questions = len(seqs)

    # --- hashing --------------------------------------------------------------------------
    def _window_hashes(self, ids: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
        """Hash of every window of n words: sum_k value[ids[i+k]] * P^k mod 2^64."""
        a = self._values[np.asarray(ids, dtype=np.int64)]
        pw, inv = self._powers.get(len(a) + 1)
        with np.errstate(over="ignore"):
            g = np.zeros(len(a) + 1, np.uint64)
            np.cumsum(a * pw[: len(a)], out=g[1:])
            return (g[n:] - g[:-n]) * inv[: len(a) - n + 1]

    def _bitmap_hits(self, h: np.ndarray) -> np.ndarray:
        slot = h >> np.uint64(64 - _BITMAP_BITS)
        byte = self._bitmap[slot >> np.uint64(3)]
        return np.flatnonzero((byte >> (slot & np.uint64(7)).astype(np.uint8)) & 1)

    # --- checking -------------------------------------------------------------------------
    def check(self, text: str) -> Match | None:
        return self.check_batch([text])[0]

    def check_batch(self, texts: Sequence[str]) -> list[Match | None]:
        words_per_text = [normalize_words(t) for t in texts]
        flat: list[int] = []
        starts = []
        for words in words_per_text:
            starts.append(len(flat))
            flat.extend(self._ids(words))
            flat.append(self._sep_id)
        results: list[Match | None] = [None] * len(texts)
        if len(flat) < MIN_QUESTION_WORDS:
            return results
        starts_arr = np.array(starts, np.int64)

        # 13-grams: bitmap, then the sorted hash array, then word-for-word
        if len(flat) >= N:
            h = self._window_hashes(flat, N)
            for pos in self._bitmap_hits(h):
                found = np.searchsorted(self._ng_hash, h[pos])
                if found == len(self._ng_hash) or self._ng_hash[found] != h[pos]:
                    continue
                t = int(np.searchsorted(starts_arr, pos, side="right")) - 1
                if results[t] is not None:
                    continue
                it_idx, text_idx, start = self._ng_ref[found]
                ngram = self._item_words[it_idx][text_idx][start : start + N]
                offset = int(pos) - starts[t]
                if words_per_text[t][offset : offset + N] == ngram:
                    item = self.items[it_idx]
                    results[t] = Match(item.evalset, item.item_id, " ".join(ngram), "ngram")

        # whole short questions: anchored on their first MIN_QUESTION_WORDS words
        h = self._window_hashes(flat, MIN_QUESTION_WORDS)
        cand = np.flatnonzero(np.isin(h, self._q_anchor))
        for pos in cand:
            t = int(np.searchsorted(starts_arr, pos, side="right")) - 1
            if results[t] is not None:
                continue
            offset = int(pos) - starts[t]
            words = words_per_text[t]
            for seq, it_idx in self._q_seqs.get(int(h[pos]), ()):
                if words[offset : offset + len(seq)] == seq:
                    item = self.items[it_idx]
                    results[t] = Match(item.evalset, item.item_id, " ".join(seq), "question")
                    break
        return results

    @property
    def stats(self) -> dict:
        return {
            "items": len(self.items),
            "ngrams": int(len(self._ng_hash)),
            "template_ngrams_skipped": self.templates_dropped,
            "short_questions": self.short_questions,
            "vocab": len(self._vocab),
            "fingerprint": self.fingerprint,
        }

    # --- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, targets: Iterable[str] = EVALSET_NAMES, source: str = "auto") -> "Decontaminator":
        """The index over the scored split of each target set; built once per process."""
        return _load_cached(tuple(targets), source)


@functools.cache
def _load_cached(targets: tuple[str, ...], source: str) -> Decontaminator:
    items = [it for name in targets for it in load_evalset(name, source)]
    return Decontaminator(items, {name: describe_source(name, source) for name in targets})
