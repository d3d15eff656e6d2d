"""The GPT-2 BPE tokenizer, bundled with the package and loaded without network.

Two encoders share the same bundled files: tiktoken (fast, used for building shards) and
HF `tokenizers`/transformers (exported next to every checkpoint). Tests check they agree id for id.
"""

import json
from functools import cache
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_file

TOKENIZER_DIR = Path(__file__).parent / "data" / "tokenizer" / "gpt2"
EOT_ID = 50256
EOT_TEXT = "<|endoftext|>"
VOCAB_SIZE = 50257

# sha256 of the bundled files (see data/tokenizer/gpt2/PROVENANCE.md); a changed file is refused.
BUNDLED_SHA256 = {
    "gpt2.tiktoken": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "vocab.json": "3ba3c3109ff33976c4bd966589c11ee14fcaa1f4c9e5e154c2ed7f99d80709e7",
    "merges.txt": "fe36cab26d4f4421ed725e10a2e9ddb7f799449c603a96e7f29b5a3c82a95862",
}
# GPT-2's pre-tokenization regex (tiktoken's r50k pattern).
_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _checked(name: str) -> Path:
    path = TOKENIZER_DIR / name
    if not path.exists():
        raise FFDataError(f"{path}: bundled tokenizer file is missing")
    digest = sha256_file(path)
    if digest != BUNDLED_SHA256[name]:
        raise FFDataError(f"{path}: sha256 {digest[:12]}… does not match the bundled GPT-2 BPE")
    return path


@cache
def tiktoken_encoding():
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(_checked("gpt2.tiktoken")))
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=_PAT,
        mergeable_ranks=ranks,
        special_tokens={EOT_TEXT: EOT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )


def encode(text: str) -> list[int]:
    """Encode plain text; `<|endoftext|>` inside text is treated as ordinary characters."""
    return tiktoken_encoding().encode_ordinary(text)


def encode_batch(texts: list[str], num_threads: int = 1) -> list[list[int]]:
    enc = tiktoken_encoding()
    if num_threads <= 1:  # tiktoken's thread-pool batch call measured ~2.6x slower than a loop
        return [enc.encode_ordinary(t) for t in texts]
    return enc.encode_ordinary_batch(texts, num_threads=num_threads)


def encode_array(text: str):
    """encode(text) as a uint32 numpy array. tiktoken's buffer path skips the Python list of ints,
    which makes it faster than `encode_ordinary` itself; no special tokens are allowed, so the
    ids are the same ("<|endoftext|>" in the text is encoded as ordinary text)."""
    enc = tiktoken_encoding()
    try:
        return enc.encode_to_numpy(text, disallowed_special=())
    except UnicodeEncodeError:  # lone surrogates: encode_ordinary knows what to do with them
        import numpy as np  # only here: the hot path above needs no import per call

        return np.array(enc.encode_ordinary(text), np.uint32)


def decode(ids: list[int]) -> str:
    return tiktoken_encoding().decode(ids)


@cache
def hf_tokenizer():
    """A transformers GPT2TokenizerFast built from the same bundled files."""
    from transformers import GPT2TokenizerFast

    vocab = json.loads(_checked("vocab.json").read_text(encoding="utf-8"))
    merges = [
        tuple(line.split())
        for line in _checked("merges.txt").read_text(encoding="utf-8").splitlines()[1:]
        if line
    ]
    # transformers 5: vocab=/merges= objects; the old *_file keywords silently build an empty one.
    tok = GPT2TokenizerFast(
        vocab=vocab,
        merges=merges,
        unk_token=EOT_TEXT,
        bos_token=EOT_TEXT,
        eos_token=EOT_TEXT,
        add_prefix_space=False,
        model_max_length=1024,
    )
    tok.pad_token = EOT_TEXT
    if tok.encode("Hello world") != [15496, 995]:
        raise FFDataError(f"{TOKENIZER_DIR}: HF tokenizer built from bundled files gives wrong ids")
    return tok


def save_hf_tokenizer(out_dir: str | Path) -> None:
    """Write tokenizer files next to a checkpoint so from_pretrained works offline."""
    hf_tokenizer().save_pretrained(str(out_dir))
