"""SFT cleaning steps. Each check returns a drop reason (a short stable string) or None.

Reasons used by the SFT builders:
- `empty_turn`: a user or assistant turn that is empty or only whitespace
- `non_english`: the source's own language label says it is not English (WildChat)
- `toxic`: the source's toxicity flag (WildChat `toxic`)
- `refusal`: the answer refuses or carries AI-assistant boilerplate ("As an AI language model")
- `too_long`: longer than the token limit after templating (or `prompt_too_long` when
  truncating cannot help because the prompt alone fills the limit)
- `duplicate`: same normalized instruction + response as an earlier row
- `near_duplicate`: MinHash LSH finds an earlier instruction with estimated Jaccard ≳ 0.8
- `contaminated:<evalset>`: decided by ffdata.decontam through BuildContext.keep_batch

PII is scrubbed, not dropped: e-mail addresses, phone numbers and IP addresses become
`<EMAIL>`, `<PHONE>`, `<IP>`; the record's meta counts what was replaced.
"""

import re
import unicodedata

import numpy as np
import xxhash

# ------------------------------------------------------------------------- refusals

_REFUSAL = re.compile(
    r"\bas an ai(?: language)? model\b"
    r"|\bas a language model\b"
    r"|\bas an ai (?:assistant|developed by)\b"
    r"|\bi(?:'m| am) (?:just )?an ai\b"
    r"|\bi (?:cannot|can't|can not) (?:fulfill|comply with|assist with|help with) (?:that|this|your)"
    r"|\bi(?:'m| am) (?:sorry|afraid),? but i (?:cannot|can't|am unable to|won't)\b"
    r"|\bi(?:'m| am) not able to (?:provide|assist|help) with (?:that|this)\b"
    r"|\bmy (?:knowledge cutoff|training data) (?:date )?(?:is|goes up to)\b",
    re.IGNORECASE,
)


def refusal(response: str) -> str | None:
    m = _REFUSAL.search(response.replace("\u2019", "'"))
    return m.group(0).lower() if m else None


def empty_turn(messages: list[dict]) -> bool:
    return any(not m["content"].strip() for m in messages if m["role"] in ("user", "assistant"))


# ------------------------------------------------------------------------- PII

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
# International or North-American phone numbers with separators; bare digit runs (years, sums,
# ids) are left alone because they are far more often not phone numbers.
_PHONE = re.compile(
    r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w.])"
)
_PII = (("email", _EMAIL, "<EMAIL>"), ("ip", _IPV4, "<IP>"), ("phone", _PHONE, "<PHONE>"))
_PII_HINT = re.compile(r"@|\d[ .()-]*\d")  # cheap pre-check: most texts have no PII at all


def scrub_pii(text: str) -> tuple[str, dict]:
    """Text with PII replaced, and {kind: count} of replacements."""
    if not _PII_HINT.search(text):
        return text, {}
    counts = {}
    for kind, pattern, token in _PII:
        text, n = pattern.subn(token, text)
        if n:
            counts[kind] = n
    return text, counts


# ------------------------------------------------------------------------- exact duplicates

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, lower case, runs of whitespace -> one space: what 'the same text' means here."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", text.lower()).strip()


class ExactDedup:
    """Seen set of 128-bit hashes of normalized instruction + response; first one wins."""

    def __init__(self):
        self.seen: set[int] = set()

    def is_duplicate(self, instruction: str, response: str) -> bool:
        key = xxhash.xxh3_128_intdigest(f"{normalize(instruction)}\x00{normalize(response)}")
        if key in self.seen:
            return True
        self.seen.add(key)
        return False


# ------------------------------------------------------------------------- near duplicates

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_WORD = re.compile(r"\w+")


class MinHashDedup:
    """MinHash LSH over word n-gram shingles of the instruction (datatrove's scheme: 32-bit
    xxhash shingles, (a·x + b) mod 2^61-1 permutations, `bands` × `rows` buckets). Two texts
    collide with probability 1-(1-J^rows)^bands: ~0.5 at Jaccard 0.72, >0.97 at 0.85 for 14×8.
    The first instruction seen in a bucket owns it; later ones are near duplicates."""

    def __init__(self, n_gram: int = 5, bands: int = 14, rows: int = 8, seed: int = 1):
        self.n_gram, self.bands, self.rows = n_gram, bands, rows
        rng = np.random.RandomState(seed)  # fixed seed: the same permutations in every run
        n = bands * rows
        self.a = rng.randint(1, 1 << 32, size=n, dtype=np.uint64)
        self.b = rng.randint(0, 1 << 32, size=n, dtype=np.uint64)
        self.buckets: list[set[bytes]] = [set() for _ in range(bands)]

    def signature(self, text: str) -> np.ndarray:
        words = _WORD.findall(normalize(text))
        n = self.n_gram
        if len(words) <= n:
            shingles = [" ".join(words)]
        else:
            shingles = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
        h = np.fromiter(
            (xxhash.xxh32_intdigest(s) for s in shingles), dtype=np.uint64, count=len(shingles)
        )
        # (n_shingles, n_perm) matrix; values < 2^32 so a·x + b fits in 64 bits before the mod
        phv = ((h[:, None] * self.a + self.b) % _MERSENNE) & _MAX_HASH
        return phv.min(axis=0).astype(np.uint32)

    def is_near_duplicate(self, text: str) -> bool:
        sig = self.signature(text)
        keys = [sig[i * self.rows : (i + 1) * self.rows].tobytes() for i in range(self.bands)]
        if any(k in bucket for k, bucket in zip(keys, self.buckets, strict=True)):
            return True
        for k, bucket in zip(keys, self.buckets, strict=True):
            bucket.add(k)
        return False
