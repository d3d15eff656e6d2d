"""Decontamination against the evaluation sets: word 13-grams plus whole short questions.

Text is normalized (Unicode NFKC, lower case, every run of characters that are not letters or
digits -> one space, single letters such as answer labels "A." dropped) and split into words.
An eval item is indexed by
- the 13-grams of question + gold answer, of question + choices (windows that touch the
  question) and of each choice on its own; the question's own 13-grams are among the first;
- its question, when that has fewer than 13 words.
A text is contaminated if it shares a 13-gram with an item, or contains a short question that
is specific enough on its own, or contains a generic short question followed by that item's
answer (a few words may sit between, like "Answer:") or together with all of its choices.

Guards that keep generic text from matching:
- a 13-gram found in more than MAX_ITEMS_PER_NGRAM items is a template (MMLU's
  moral-scenarios preamble is in 895 items), not one item, so it is not indexed;
- a short question counts on its own only with at least MIN_QUESTION_WORDS words, at most
  MAX_ITEMS_PER_QUESTION items asking it, and two words that are rare among eval questions
  ("which of the following is correct" is generic, "all matter is made up of" is not).

Speed: a batch of texts is folded into one byte buffer (a byte table for ASCII text). Every
word gets a 64-bit value from its bytes, every word window a polynomial hash from a prefix
sum of word values (window = (G[i+n] - G[i]) * P^-i, all mod 2^64). A 16 MiB
bitmap rejects almost every window; the rest are looked up in the sorted hash array and
compared word for word, so a reported match is always exact.
"""

import functools
import json
import random
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ffdata.errors import FFDataError
from ffdata.evalsets import EVALSET_NAMES, EvalItem, describe_source, load_evalset
from ffdata.hashing import sha256_json

N = 13
MIN_QUESTION_WORDS = 6
MAX_ITEMS_PER_NGRAM = 10
MAX_ITEMS_PER_QUESTION = 2
COMMON_WORD_SHARE = 0.01  # a word in more than this share of eval questions is common
ANCHOR_WORDS = 3  # short questions are looked up where their first 3 words occur
ANSWER_GAP = 4  # words allowed between a short question and its pasted answer ("Answer:")
VERSION = "1"  # bump when normalization or matching changes: it is part of the fingerprint

BATCH = 4096  # texts per internal chunk of check_batch: bounds the temporary arrays
_BITMAP_BITS = 27  # 2^27 bits = 16 MiB for ~0.9M 13-grams: ~1% of windows go on to be checked
_WORD_P = 0x9E3779B97F4A7C15  # odd, so it has an inverse mod 2^64
_MIX = 0xBF58476D1CE4E5B9
_SPACE = 32

# Folding: letters lower-cased (after NFKC), digits kept, everything else a space. Python's
# regex does the non-ASCII characters, a table the ASCII ones (str.translate for one text, a
# byte table over a whole batch): every path gives the same words.
_NON_ASCII_NON_WORD = re.compile(r"[^\w\x00-\x7f]+")
_ASCII_STR_TABLE = str.maketrans(
    {chr(c): (chr(c).lower() if chr(c).isalnum() else " ") for c in range(128)}
)
_ASCII_BYTE_TABLE = np.array(
    [ord(chr(c).lower()) if chr(c).isalnum() else _SPACE for c in range(128)]
    + list(range(128, 256)),
    np.uint8,
)
_GSM8K_CALC = re.compile(r"<<[^>]*>>")


# ------------------------------------------------------------------------- normalization


def _fold_unicode(text: str) -> str:
    """NFKC, lower case, non-ASCII non-word characters -> space; ASCII is left to the tables."""
    return _NON_ASCII_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower())


def _fold(text: str) -> str:
    if text.isascii():
        return text.translate(_ASCII_STR_TABLE)
    return _fold_unicode(text).translate(_ASCII_STR_TABLE)


_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")


def normalize_words(text: str) -> list[str]:
    """NFKC, lower case, non-word characters collapsed to spaces; single letters dropped."""
    return [w for w in _fold(text).split() if w not in _LETTERS]


def normalize(text: str) -> str:
    return " ".join(normalize_words(text))


def _fold_batch(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts folded into one UTF-8 byte buffer, with each text's start/end offsets."""
    arr = pa.array(texts, pa.string()).fill_null("")
    is_ascii = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    if not is_ascii.all():  # Python folds the non-ASCII characters; the byte table the rest
        folded = [_fold_unicode(t) if not a else t for t, a in zip(texts, is_ascii, strict=True)]
        arr = pa.array(folded, pa.string())
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, np.int32)[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    buf = np.frombuffer(data, np.uint8)[: offs[-1]] if data is not None else np.zeros(0, np.uint8)
    return _ASCII_BYTE_TABLE[buf], offs


def _word_spans(buf: np.ndarray, offsets: np.ndarray):
    """Byte (start, end) of every kept word, and each text's first word index."""
    is_word = buf != _SPACE
    boundary = np.zeros(len(buf) + 1, bool)  # a word never runs from one text into the next
    boundary[offsets] = True
    before = np.zeros(len(buf), bool)
    before[1:] = is_word[:-1]
    after = np.zeros(len(buf), bool)
    after[:-1] = is_word[1:]
    starts = np.flatnonzero(is_word & ~(before & ~boundary[:-1]))
    ends = np.flatnonzero(is_word & ~(after & ~boundary[1:])) + 1
    first = buf[starts] if len(starts) else np.zeros(0, np.uint8)
    single = (ends - starts == 1) & (first >= ord("a")) & (first <= ord("z"))
    starts, ends = starts[~single], ends[~single]
    return starts, ends, np.searchsorted(starts, offsets)


def normalize_batch(texts: Sequence[str]) -> list[list[str]]:
    """normalize_words for many texts at once (the path check_batch uses)."""
    buf, offsets = _fold_batch(texts)
    starts, ends, word_offsets = _word_spans(buf, offsets)
    raw = buf.tobytes()
    words = [raw[s:e].decode() for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    return [words[a:b] for a, b in zip(word_offsets[:-1], word_offsets[1:], strict=True)]


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
    """The words of a folded batch: spans, values, and the text each belongs to."""

    def __init__(self, buf: np.ndarray, offsets: np.ndarray):
        self.starts, self.ends, self.offsets = _word_spans(buf, offsets)
        self.values = _word_values(buf, self.starts, self.ends)
        self._raw = buf.tobytes()

    def at(self, p: int, n: int) -> list[str]:
        """The words p..p+n-1 (fewer at the end)."""
        s, e = self.starts[p : p + n].tolist(), self.ends[p : p + n].tolist()
        return [self._raw[a:b].decode() for a, b in zip(s, e, strict=True)]

    def text_of(self, pos: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, pos, side="right") - 1


# ------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Match:
    evalset: str
    item_id: str
    ngram: str  # the matched normalized words: a 13-gram or a short question (+ answer)
    rule: str  # "ngram", "question", "question+answer" or "question+choices"


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
        self.items: list[EvalItem] = list(items)
        self.sources = sources or {}
        self._build_ngrams()
        self._build_questions()
        rules = [N, MIN_QUESTION_WORDS, MAX_ITEMS_PER_NGRAM, MAX_ITEMS_PER_QUESTION]
        rules += [COMMON_WORD_SHARE, ANCHOR_WORDS, ANSWER_GAP]
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
        words = _Words(*_fold_batch(texts))
        text_item, text_kind = np.array(text_item, np.int64), np.array(text_kind, np.int64)
        g = _prefix(words.values)
        pos = np.arange(max(len(words.values) - N + 1, 0))
        text = words.text_of(pos)
        start = pos - words.offsets[text]
        q_len = np.diff(words.offsets)[text_kind == _QUESTION][text_item]  # per text
        keep = pos + N <= words.offsets[text + 1]  # inside one text
        keep &= text_kind[text] != _QUESTION  # its 13-grams start question + answer anyway
        # question + choices: only windows that touch the question, so that a run of short
        # generic choices ("1,000 years 10,000 years ...") is not an n-gram of its own
        keep &= (text_kind[text] != _Q_CHOICES) | (start < q_len[text])
        h, item, pos = _windows(g, N, pos[keep]), text_item[text[keep]], pos[keep]

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
        self._index_words = words

    def _build_questions(self) -> None:
        """Short questions (2..12 words): found where their first words occur, then whole."""
        questions = [normalize_words(it.question) for it in self.items]
        self._answers = [normalize_words(it.answer) for it in self.items]
        self._choices = [[c for c in map(normalize, it.choices) if c] for it in self.items]
        # how many questions use each word: "which of the following is correct" is made of
        # words that many questions use, "all matter is made up of" is not
        df: dict[str, int] = {}
        for q in questions:
            for w in set(q):
                df[w] = df.get(w, 0) + 1
        common = max(1, int(COMMON_WORD_SHARE * len(questions)))
        by_words: dict[tuple[str, ...], list[int]] = {}
        for it_idx, q in enumerate(questions):
            if 2 <= len(q) < N:
                by_words.setdefault(tuple(q), []).append(it_idx)
        self._short: list[_ShortQuestion] = []
        for q, owners in sorted(by_words.items(), key=lambda kv: kv[1][0]):
            specific = (
                len(q) >= MIN_QUESTION_WORDS
                and len(owners) <= MAX_ITEMS_PER_QUESTION
                and sum(df[w] <= common for w in set(q)) >= 2
            )
            self._short.append(_ShortQuestion(list(q), specific, owners))
        # hashes of each whole question and of its first words, in one batch
        words = _Words(*_fold_batch([" ".join(s.words) for s in self._short]))
        g = _prefix(words.values)
        first = words.offsets[:-1]
        full = _spans_hash(g, first, words.offsets[1:])
        n_words = np.diff(words.offsets)
        long = n_words >= ANCHOR_WORDS  # the rest (two words) are looked up whole
        anchors = _spans_hash(g, first[long], first[long] + ANCHOR_WORDS)
        self._q_lengths = np.unique(n_words[long])
        self._q_anchors = _HashSet(np.unique(anchors), 20)
        self._q_two = _HashSet(np.unique(full[~long]), 20)
        self._q_order = np.argsort(full, kind="stable")
        self._q_full = _HashSet(full[self._q_order], 20)

    # --- checking -------------------------------------------------------------------------
    def check(self, text: str) -> Match | None:
        raw = _fold(text).encode()
        return self._scan(_Words(np.frombuffer(raw, np.uint8), np.array([0, len(raw)])))[0]

    def check_batch(self, texts: Sequence[str]) -> list[Match | None]:
        results: list[Match | None] = []
        for i in range(0, len(texts), BATCH):
            results.extend(self._scan(_Words(*_fold_batch(texts[i : i + BATCH]))))
        return results

    def _scan(self, words: _Words) -> list[Match | None]:
        """The first match of each text of a folded batch."""
        results: list[Match | None] = [None] * (len(words.offsets) - 1)
        if not len(self.items):
            return results
        g = _prefix(words.values)

        # 13-grams: bitmap, sorted hashes, then word for word (a window may span two texts)
        pos, idx = self._ngrams.find(_windows(g, N))
        text = words.text_of(pos)
        inside = pos + N <= words.offsets[text + 1]
        for p, i, t in zip(
            pos[inside].tolist(), idx[inside].tolist(), text[inside].tolist(), strict=True
        ):
            if results[t] is None:
                ngram = self._index_words.at(int(self._ng_pos[i]), N)
                if words.at(p, N) == ngram:
                    results[t] = self._match(int(self._ng_item[i]), ngram, "ngram")

        # short questions: anchors on their first words, then the hash of each length there
        if not len(self._q_full.hashes):
            return results
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
        return results

    def _question_match(self, short: _ShortQuestion, words: _Words, p: int, start: int, end: int):
        """A short question is at p: contamination on its own, or with its answer or choices?"""
        if short.specific:
            return self._match(short.items[0], short.words, "question")
        q_end = p + len(short.words)
        after = words.at(q_end, min(ANSWER_GAP + N, end - q_end))
        text = None
        for it_idx in short.items:
            answer = self._answers[it_idx]
            if answer and len(short.words) + len(answer) >= MIN_QUESTION_WORDS:
                for gap in range(ANSWER_GAP + 1):
                    if after[gap : gap + len(answer)] == answer:
                        return self._match(it_idx, short.words + answer, "question+answer")
            choices = self._choices[it_idx]
            if len(choices) >= 2 and len(short.words) + sum(c.count(" ") + 1 for c in choices) >= N:
                if text is None:
                    text = f" {' '.join(words.at(start, end - start))} "
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
            "specific_short_questions": sum(s.specific for s in self._short),
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
