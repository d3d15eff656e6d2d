"""SFT cleaning steps. Each check returns a drop reason (a short stable string) or None.

Reasons used by the SFT builders:
- `empty_turn`: a user or assistant turn that is empty or only whitespace
- `non_english`: the source's own language label says it is not English (WildChat)
- `toxic`: the source's toxicity flag (WildChat `toxic`)
- `refusal`: the answer refuses or carries AI-assistant boilerplate ("As an AI language model")
- `too_long`: longer than the token limit after templating (or `prompt_too_long` when
  truncating cannot help because the prompt alone fills the limit)
- `duplicate`: same normalized instruction + response as an earlier row
- `near_duplicate`: MinHash LSH puts the instruction in a bucket with an earlier one
  (word 5-gram Jaccard ≳ 0.8)
- `contaminated:<evalset>`: decided by ffdata.decontam through BuildContext.keep_batch

PII is scrubbed, not dropped: e-mail addresses, phone numbers and IP addresses become
`<EMAIL>`, `<PHONE>`, `<IP>`; the record's meta counts what was replaced.
"""

import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

# Batch steps run Arrow's RE2 kernels over a whole batch of texts at once: Python's `re` costs
# ~50-100 µs per long text per pattern, more than tokenizing it. Python patterns then run only
# on the few rows a batch pattern flags (to get the exact match or do the replacement).


def _strings(texts: list[str]) -> pa.Array:
    return pa.array(texts, pa.string())


# ------------------------------------------------------------------------- refusals

_REFUSAL_PATTERN = (
    r"\bas an ai(?: language)? model\b"
    r"|\bas a language model\b"
    r"|\bas an ai (?:assistant|developed by)\b"
    r"|\bi(?:'m| am) (?:just )?an ai\b"
    r"|\bi (?:cannot|can't|can not) (?:fulfill|comply with|assist with|help with) (?:that|this|your)"
    r"|\bi(?:'m| am) (?:sorry|afraid),? but i (?:cannot|can't|am unable to|won't)\b"
    r"|\bi(?:'m| am) not able to (?:provide|assist|help) with (?:that|this)\b"
    r"|\bmy (?:knowledge cutoff|training data) (?:date )?(?:is|goes up to)\b"
)
_REFUSAL = re.compile(_REFUSAL_PATTERN, re.IGNORECASE)


def refusal(response: str) -> str | None:
    """The refusal / AI-boilerplate phrase in a response, or None."""
    m = _REFUSAL.search(response.replace("\u2019", "'"))
    return m.group(0).lower() if m else None


def refusal_mask(responses: list[str]) -> np.ndarray:
    """refusal(r) is not None, for a batch, in one RE2 pass."""
    arr = pc.replace_substring(_strings(responses), "\u2019", "'")
    hit = pc.match_substring_regex(arr, _REFUSAL_PATTERN, ignore_case=True)
    return hit.to_numpy(zero_copy_only=False)


def empty_turn(messages: list[dict]) -> bool:
    return any(not m["content"].strip() for m in messages if m["role"] in ("user", "assistant"))


# ------------------------------------------------------------------------- PII

_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
# Phone numbers: with a +country code, a (area code), or the North-American 3-3-4 shape. Bare
# digit runs and arithmetic ("960-480-120=360" in worked solutions) are left alone.
_PHONE = (
    r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{2,4}){2,4}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[ .-]\d{3}[ .-]\d{4})"
)
_PII = (
    ("email", re.compile(rf"\b{_EMAIL}\b"), "<EMAIL>"),
    ("ip", re.compile(rf"\b{_IPV4}\b"), "<IP>"),
    ("phone", re.compile(rf"(?<![\w.+=-]){_PHONE}(?![\w=]|[.-]\d)"), "<PHONE>"),
)
_PII_ANY = f"{_EMAIL}|{_IPV4}|{_PHONE}"  # RE2 has no look-arounds: a superset of the above


def scrub_pii(text: str) -> tuple[str, dict]:
    """Text with PII replaced, and {kind: count} of replacements."""
    counts = {}
    for kind, pattern, token in _PII:
        text, n = pattern.subn(token, text)
        if n:
            counts[kind] = n
    return text, counts


def pii_mask(texts: list[str]) -> np.ndarray:
    """Rows that may hold PII (a superset of what scrub_pii replaces), in one RE2 pass."""
    return pc.match_substring_regex(_strings(texts), _PII_ANY).to_numpy(zero_copy_only=False)


# ------------------------------------------------------------------------- exact duplicates


def normalize(text: str) -> str:
    """NFKC, lower case, runs of whitespace -> one space: what 'the same text' means here."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.lower().split())


def dedup_key(instruction: str, response: str) -> int:
    """64-bit key of normalize(instruction) + NUL + normalize(response) (a chance collision
    among 10^6 rows is ~3e-8)."""
    return xxhash.xxh3_64_intdigest(f"{normalize(instruction)}\x00{normalize(response)}")


class ExactDedup:
    """Seen set of keys (dedup_keys); the first row with a key wins."""

    def __init__(self):
        self.seen: set[int] = set()

    def is_duplicate(self, key: int) -> bool:
        if key in self.seen:
            return True
        self.seen.add(key)
        return False


# ------------------------------------------------------------------------- near duplicates

_SHIFT = np.uint64(32)


class MinHashDedup:
    """MinHash LSH over word n-gram shingles of the instruction, `bands` × `rows` buckets.

    Words (whitespace-separated, lower-cased) are hashed with xxh32; a shingle hash combines
    n consecutive word hashes; each of the bands·rows permutations is a
    multiply-shift hash ((a·x + b) mod 2^64) >> 32 (a 2-universal family, no modulo needed).
    Two texts share a bucket with probability 1-(1-J^rows)^bands: for the default 8×8, 0.5 at
    Jaccard 0.77, 0.93 at 0.85, 0.99 at 0.9. The first text in a bucket owns it; later ones
    are near duplicates.
    Texts shorter than n words are one shingle of all their words."""

    def __init__(self, n_gram: int = 5, bands: int = 8, rows: int = 8, seed: int = 1):
        self.n_gram, self.bands, self.rows = n_gram, bands, rows
        rng = np.random.RandomState(seed)  # fixed seed: the same permutations in every run
        n = bands * rows
        self.a = rng.randint(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
        self.b = rng.randint(0, 2**63, size=n, dtype=np.uint64)
        # shingle = sum_k word_hash[i+k] * c_k (mod 2^64): position-sensitive, order matters
        self.coef = rng.randint(1, 2**63, size=n_gram, dtype=np.uint64) | np.uint64(1)
        self.buckets: list[set[int]] = [set() for _ in range(bands)]
        self._word_hash: dict[str, int] = {}

    def _words(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(word hashes of all texts, flat; offsets). Words: whitespace-separated, lower case."""
        lists = pc.utf8_split_whitespace(pc.utf8_lower(_strings(texts)))
        enc = lists.flatten().dictionary_encode()
        cache = self._word_hash
        if len(cache) > 2_000_000:  # bounded memory on huge builds; hashes do not change
            cache.clear()
        table = np.array(
            [
                cache.get(w) or cache.setdefault(w, xxhash.xxh32_intdigest(w) + 1)
                for w in enc.dictionary.to_pylist()
            ],
            np.uint64,
        )
        idx = enc.indices.to_numpy(zero_copy_only=False)
        return table[idx], lists.offsets.to_numpy().astype(np.int64)

    def signatures(self, texts: list[str]) -> np.ndarray:
        """(len(texts), bands·rows) uint32 MinHash signatures."""
        n, n_docs = self.n_gram, len(texts)
        if not n_docs:
            return np.zeros((0, len(self.a)), np.uint32)
        words, offsets = self._words(texts)
        lengths = np.diff(offsets)
        with np.errstate(over="ignore"):  # wrapping mod 2^64 is the point
            full = np.zeros(max(len(words) - n + 1, 0), np.uint64)
            for k in range(n):
                full += words[k : k + len(full)] * self.coef[k]
            doc = np.repeat(np.arange(n_docs), lengths)[: len(full)]  # text of the first word
            keep = np.arange(len(full)) + n <= offsets[doc + 1]
            h, doc = full[keep], doc[keep]
            short = np.flatnonzero(lengths < n)  # fewer than n words: one shingle of them all
            if len(short):
                extra = np.zeros(len(short), np.uint64)
                for j, d in enumerate(short.tolist()):
                    for k in range(int(lengths[d])):
                        extra[j] += words[offsets[d] + k] * self.coef[k]
                order = np.argsort(np.concatenate([doc, short]), kind="stable")
                h = np.concatenate([h, extra])[order]
                doc = np.concatenate([doc, short])[order]
            starts = np.searchsorted(doc, np.arange(n_docs))  # every text has a shingle
            # One permutation at a time over all shingles: three passes over one cache-sized
            # vector, ~4x faster than a (shingles x permutations) matrix.
            sig = np.empty((len(self.a), n_docs), np.uint64)
            v = np.empty_like(h)
            for p in range(len(self.a)):
                np.multiply(h, self.a[p], out=v)
                v += self.b[p]
                np.minimum.reduceat(v, starts, out=sig[p])
            # min then >> 32 == min of the shifted values (the shift keeps order): one shift per
            # signature entry rather than one per shingle and permutation
            sig >>= _SHIFT
        return sig.T.astype(np.uint32, order="C")

    def _keys(self, sigs: np.ndarray) -> np.ndarray:
        """(len(sigs), bands) int64: one 64-bit key per band (rows 32-bit values folded by fixed
        odd multipliers); int64 converts to Python ints faster than uint64."""
        bands = sigs.reshape(len(sigs), self.bands, self.rows).astype(np.uint64)
        with np.errstate(over="ignore"):
            keys = (bands * self.a[: self.rows]).sum(axis=2, dtype=np.uint64)
        return keys.view(np.int64)

    def band_keys(self, sigs: np.ndarray) -> list[list[int]]:
        """The band keys of each signature, as Python ints for set lookups."""
        return self._keys(sigs).tolist()

    def is_near_duplicate(self, keys: list[int]) -> bool:
        """Check one text's band keys against every earlier text, then register them."""
        if any(k in bucket for k, bucket in zip(keys, self.buckets, strict=True)):
            return True
        for k, bucket in zip(keys, self.buckets, strict=True):
            bucket.add(k)
        return False

    def keys(self, texts: list[str]) -> np.ndarray:
        """(len(texts), bands) band keys: what near_duplicates_of needs (any process)."""
        return self._keys(self.signatures(texts))

    def near_duplicates(self, texts: list[str]) -> np.ndarray:
        """[is_near_duplicate(keys of t) for t in texts], as a bool array, leaving the same
        buckets, without a Python loop over every text."""
        return self.near_duplicates_of(self.keys(texts))

    def near_duplicates_of(self, keys: np.ndarray) -> np.ndarray:
        """near_duplicates for texts whose band keys (`keys`) are known.

        A text none of whose keys was seen before it (in a bucket, or on an earlier text of the
        batch, duplicate or not) is surely new. Such a text's keys cannot be on any earlier
        text, so registering them all first changes no other decision; the few other texts are
        then settled one by one, in order."""
        n = len(keys)
        seen = np.zeros(n, bool)
        for b, bucket in enumerate(self.buckets):
            col = keys[:, b]
            _, first, inverse = np.unique(col, return_index=True, return_inverse=True)
            seen |= first[inverse] < np.arange(n)  # an earlier text in the batch has this key
            hits = bucket.intersection(col.tolist())
            if hits:
                seen |= np.isin(col, np.fromiter(hits, np.int64, len(hits)))
        for b, bucket in enumerate(self.buckets):
            bucket.update(keys[~seen, b].tolist())
        dup = np.zeros(n, bool)
        for i in np.flatnonzero(seen).tolist():
            dup[i] = self.is_near_duplicate(keys[i].tolist())
        return dup
