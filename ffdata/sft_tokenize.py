"""Build-time SFT tokenization: token ids and a loss mask that covers the response only.

The prompt (`render_prompt`: system, instruction, response header) and the response are encoded
separately and concatenated, so the boundary between "not trained on" and "trained on" is exact
(the header ends in a newline, which GPT-2 pre-tokenizes on its own, so the ids equal those of
the whole rendered text). The response is followed by one end-of-text token, inside the loss:
it is how the model learns to stop. GPT-2 has no pad token, so padding (to `pad_to`, when set)
repeats end-of-text with loss mask 0.

Over-long rows (prompt + response + EOT > max_tokens): `overlength: drop` drops them as
`too_long`; `overlength: truncate` cuts the response (and its EOT) to fit, unless the prompt
alone leaves fewer than `min_response_tokens`, which is `prompt_too_long`.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ffdata.records import RECORD_SCHEMA, render_prompt
from ffdata.tokenizer import EOT_ID, decode, encode_batch, tiktoken_encoding

SFT_SCHEMA = pa.schema(
    list(RECORD_SCHEMA)
    + [
        pa.field("input_ids", pa.list_(pa.int32())),
        pa.field("loss_mask", pa.list_(pa.int8())),
        pa.field("n_tokens", pa.int32()),  # real tokens (prompt + response + EOT), no padding
        pa.field("n_loss_tokens", pa.int32()),
        pa.field("truncated", pa.bool_()),
    ]
)


_MASK_VALUES = np.array([0, 1, 0], np.int8)  # prompt, response + EOT, padding


@dataclass
class Tokenized:
    input_ids: np.ndarray | None  # int32; None: the row is dropped, see `reason`
    loss_mask: np.ndarray | None  # int8, 1 on response tokens and their EOT
    n_tokens: int
    n_loss_tokens: int
    truncated: bool
    reason: str = ""
    response: str | None = None  # the cut response text when truncated


def tokenize_pairs(
    prompts: list[str],
    responses: list[str],
    max_tokens: int = 1024,
    overlength: str = "drop",
    pad_to: int | None = None,
    min_response_tokens: int = 16,
    num_threads: int = 1,
) -> list[Tokenized]:
    """Tokenize (rendered prompt, response) pairs; one `Tokenized` per pair, in order."""
    if overlength not in ("drop", "truncate"):
        raise ValueError(f"overlength must be 'drop' or 'truncate', not {overlength!r}")
    if pad_to is not None and pad_to < max_tokens:
        raise ValueError(f"pad_to ({pad_to}) must be at least max_tokens ({max_tokens})")
    if num_threads > 1:
        ids = encode_batch(prompts + responses, num_threads=num_threads)
    else:  # a plain loop: the batch call's thread pool costs more than it saves on one core
        enc = tiktoken_encoding().encode_ordinary
        ids = [enc(t) for t in prompts + responses]
    n = len(prompts)
    out = []
    for p_ids, r_ids in zip(ids[:n], ids[n:], strict=True):
        r_ids.append(EOT_ID)
        total = len(p_ids) + len(r_ids)
        truncated, cut = False, None
        if total > max_tokens:
            room = max_tokens - len(p_ids)
            if overlength == "drop":
                out.append(Tokenized(None, None, total, 0, False, "too_long"))
                continue
            if room < min_response_tokens:
                out.append(Tokenized(None, None, total, 0, False, "prompt_too_long"))
                continue
            r_ids = r_ids[:room]  # no EOT left: a cut answer must not teach stopping there
            truncated, cut, total = True, decode(r_ids), max_tokens
        pad = (pad_to or total) - total
        # numpy arrays, not lists: Arrow converts them ~50x faster when the shard is written
        input_ids = np.array(p_ids + r_ids + [EOT_ID] * pad, np.int32)
        mask = np.repeat(_MASK_VALUES, (len(p_ids), len(r_ids), pad))
        out.append(Tokenized(input_ids, mask, total, len(r_ids), truncated, "", cut))
    return out


def tokenize_records(records: list[dict], **kwargs) -> list[Tokenized]:
    prompts = [render_prompt(r["instruction"], r["system"]) for r in records]
    return tokenize_pairs(prompts, [r["response"] for r in records], **kwargs)


def pad_batch(rows: list[dict], length: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, loss_mask) as (len(rows), length) arrays: rows cut or padded with EOT/mask 0.
    For trainers reading unpadded shards."""
    ids = np.full((len(rows), length), EOT_ID, np.int64)
    mask = np.zeros((len(rows), length), np.int8)
    for i, r in enumerate(rows):
        k = min(len(r["input_ids"]), length)
        ids[i, :k] = r["input_ids"][:k]
        mask[i, :k] = r["loss_mask"][:k]
    return ids, mask
