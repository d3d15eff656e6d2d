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

Speed: `TemplateEncoder` encodes only the instruction of a prompt and reuses the ids of the
template's fixed text (system line and headers), which are ~15% of an SFT row's tokens. That
gives the same ids as encoding the whole prompt because GPT-2's pre-tokenizer (a regex with no
look-behind) cannot merge text across the joins it uses; `joins_exactly` states the rule and
anything that does not meet it is encoded whole. Shards are assembled from flat arrays
(`sft_columns`), not per-row lists.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ffdata.records import RECORD_SCHEMA, SYSTEM_PROMPT, render_prompt
from ffdata.tokenizer import EOT_ID, decode, encode_array

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
_EOT = np.array([EOT_ID], np.uint32)
_NO_IDS = np.zeros(0, np.uint32)
_SLOT = "\x00INSTRUCTION\x00"  # stands in for the instruction to cut the template in two


# ------------------------------------------------------------------------- encoding


def _solid(ch: str) -> bool:
    """Surely not whitespace to GPT-2's regex (`\\s`, Unicode White_Space): every White_Space
    character is a control or separator character, which isprintable() rejects, or ' '."""
    return ch.isprintable() and not ch.isspace()


def joins_exactly(left: str, right: str) -> bool:
    """encode(left + right) == encode(left) + encode(right), by GPT-2's pre-tokenizer rules.

    The regex pieces are letters, digits or punctuation (each maybe led by one ' '), and runs
    of whitespace; matching looks ahead but never behind. So a join is exact when
    - left ends in a solid character and right starts with '\\n': no letter/digit/punctuation
      piece takes in a newline, and the pieces of `right` start where it starts;
    - left ends in one '\\n' after a solid character and right starts solid: that newline is a
      piece of its own either way (a run of newlines would not be)."""
    if not left or not right:
        return False
    if right[0] == "\n":
        return _solid(left[-1])
    return left[-1] == "\n" and len(left) > 1 and _solid(left[-2]) and _solid(right[0])


class TemplateEncoder:
    """Token ids (uint32 arrays) of texts and rendered prompts, for one build."""

    def __init__(self):
        self._parts: dict[str, tuple | None] = {}  # system -> (head ids, tail ids)

    def text(self, text: str) -> np.ndarray:
        return encode_array(text)

    def _template(self, system: str) -> tuple | None:
        """(head ids, tail ids) around the instruction, or None when the template cannot be
        joined to an instruction by joins_exactly's rules ("x" stands in for one)."""
        if system not in self._parts:
            pieces = render_prompt(_SLOT, system).split(_SLOT)
            parts = None
            if len(pieces) == 2 and joins_exactly(pieces[0], "x") and joins_exactly("x", pieces[1]):
                parts = (self.text(pieces[0]), self.text(pieces[1]))
            self._parts[system] = parts
        return self._parts[system]

    def prompt(
        self, instruction: str, system: str = SYSTEM_PROMPT, instruction_ids=None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(ids of render_prompt(instruction, system), ids of the instruction alone or None when
        the prompt had to be encoded whole). `instruction_ids`: the instruction's ids when
        already known (a variant of an encoded row)."""
        parts = self._template(system)
        # the template ends its head with a lone newline and starts its tail with one, so the
        # joins are exact when the instruction starts and ends solid (joins_exactly)
        if parts and instruction and _solid(instruction[0]) and _solid(instruction[-1]):
            ids = self.text(instruction) if instruction_ids is None else instruction_ids
            return np.concatenate([parts[0], ids, parts[1]]), ids
        return self.text(render_prompt(instruction, system)), None

    def extend(self, left: str, left_ids: np.ndarray, right: str) -> np.ndarray:
        """ids of left + right, reusing left's ids where the join is exact."""
        if joins_exactly(left, right):
            return np.concatenate([left_ids, self.text(right)])
        return self.text(left + right)


# ------------------------------------------------------------------------- length rules


@dataclass
class Tokenized:
    prompt_ids: np.ndarray | None  # uint32; None: the row is dropped, see `reason`
    response_ids: np.ndarray | None  # uint32, without the EOT (cut when truncated)
    n_tokens: int
    n_loss_tokens: int  # response tokens + their EOT (no EOT when truncated)
    truncated: bool
    reason: str = ""
    response: str | None = None  # the cut response text when truncated
    pad: int = 0

    def pieces(self) -> list[np.ndarray]:
        """The row's ids in order: prompt, response, its EOT (not when cut), padding."""
        out = [self.prompt_ids, self.response_ids]
        if not self.truncated:
            out.append(_EOT)
        if self.pad:
            out.append(np.full(self.pad, EOT_ID, np.uint32))
        return out

    @property
    def input_ids(self) -> np.ndarray | None:
        if self.prompt_ids is None:
            return None
        return np.concatenate(self.pieces()).astype(np.int32)

    @property
    def loss_mask(self) -> np.ndarray | None:
        if self.prompt_ids is None:
            return None
        return np.repeat(_MASK_VALUES, (len(self.prompt_ids), self.n_loss_tokens, self.pad))


def check_options(overlength: str, max_tokens: int, pad_to: int | None) -> None:
    if overlength not in ("drop", "truncate"):
        raise ValueError(f"overlength must be 'drop' or 'truncate', not {overlength!r}")
    if pad_to is not None and pad_to < max_tokens:
        raise ValueError(f"pad_to ({pad_to}) must be at least max_tokens ({max_tokens})")


def fit(
    prompt_ids: np.ndarray,
    response_ids: np.ndarray,
    max_tokens: int = 1024,
    overlength: str = "drop",
    pad_to: int | None = None,
    min_response_tokens: int = 16,
) -> Tokenized:
    """Apply the token limit to one encoded (prompt, response) pair."""
    total = len(prompt_ids) + len(response_ids) + 1  # + EOT
    if total <= max_tokens:
        return Tokenized(
            prompt_ids,
            response_ids,
            total,
            len(response_ids) + 1,
            False,
            pad=(pad_to or total) - total,
        )
    if overlength == "drop":
        return Tokenized(None, None, total, 0, False, "too_long")
    room = max_tokens - len(prompt_ids)
    if room < min_response_tokens:
        return Tokenized(None, None, total, 0, False, "prompt_too_long")
    cut = response_ids[:room]  # no EOT left: a cut answer must not teach stopping there
    return Tokenized(
        prompt_ids,
        cut,
        max_tokens,
        room,
        True,
        "",
        decode(cut.tolist()),
        (pad_to or max_tokens) - max_tokens,
    )


def tokenize_pairs(
    prompts: list[str],
    responses: list[str],
    max_tokens: int = 1024,
    overlength: str = "drop",
    pad_to: int | None = None,
    min_response_tokens: int = 16,
) -> list[Tokenized]:
    """Tokenize (rendered prompt, response) pairs; one `Tokenized` per pair, in order."""
    check_options(overlength, max_tokens, pad_to)
    enc = TemplateEncoder()
    limits = (max_tokens, overlength, pad_to, min_response_tokens)
    return [fit(enc.text(p), enc.text(r), *limits) for p, r in zip(prompts, responses, strict=True)]


def tokenize_records(records: list[dict], **kwargs) -> list[Tokenized]:
    """Tokenize records (instruction, system, response), encoding the template's parts once."""
    kwargs.setdefault("max_tokens", 1024)
    kwargs.setdefault("overlength", "drop")
    check_options(kwargs["overlength"], kwargs["max_tokens"], kwargs.get("pad_to"))
    enc = TemplateEncoder()
    return [
        fit(enc.prompt(r["instruction"], r["system"])[0], enc.text(r["response"]), **kwargs)
        for r in records
    ]


# ------------------------------------------------------------------------- Arrow columns


def sft_columns(toks: list[Tokenized]) -> dict[str, pa.Array]:
    """The tokenized columns of SFT_SCHEMA for kept rows, built from one flat id buffer (Arrow
    converts per-row lists ~50x slower)."""
    pieces = [p for t in toks for p in t.pieces()]
    flat = np.concatenate(pieces) if pieces else _NO_IDS
    lengths = np.array([(len(t.prompt_ids), t.n_loss_tokens, t.pad) for t in toks], np.int64)
    lengths = lengths.reshape(len(toks), 3)
    offsets = np.zeros(len(toks) + 1, np.int32)
    np.cumsum(lengths.sum(axis=1), out=offsets[1:])
    mask = np.repeat(np.tile(_MASK_VALUES, len(toks)), lengths.ravel())
    return {
        "input_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat.view(np.int32))),
        "loss_mask": pa.ListArray.from_arrays(pa.array(offsets), pa.array(mask)),
        "n_tokens": pa.array([t.n_tokens for t in toks], pa.int32()),
        "n_loss_tokens": pa.array(lengths[:, 1], pa.int32()),
        "truncated": pa.array([t.truncated for t in toks], pa.bool_()),
    }


def sft_table(records: list[dict], toks: list[Tokenized]) -> pa.Table:
    """SFT_SCHEMA rows from records (RECORD_SCHEMA fields) and their kept tokenizations."""
    columns = [pa.array([r[f.name] for r in records], f.type) for f in RECORD_SCHEMA]
    tokenized = sft_columns(toks)
    columns += [tokenized[f.name] for f in SFT_SCHEMA if f.name not in RECORD_SCHEMA.names]
    return pa.Table.from_arrays(columns, schema=SFT_SCHEMA)


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
