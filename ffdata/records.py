"""The record every SFT-like set stores, and the Alpaca-style template it renders."""

import json

import pyarrow as pa

from ffdata.hashing import sha256_bytes

SYSTEM_PROMPT = "You are FF-LLM, a helpful assistant."

RECORD_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("set", pa.string()),
        ("block", pa.string()),
        ("source", pa.string()),
        ("source_row", pa.int64()),
        ("system", pa.string()),
        ("instruction", pa.string()),
        ("response", pa.string()),
        ("text", pa.string()),
        ("format", pa.string()),
        ("category", pa.string()),
        ("meta", pa.string()),
    ]
)
FORMATS = ("mcq_letter", "short_fact", "numeric", "yes_no", "list_n", "free")

# Dropped rows: every input row that is not kept lands here with its reason.
DROPPED_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_row", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


# = json.dumps(meta, sort_keys=True, ensure_ascii=False), without building an encoder per call
_META_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def render_prompt(instruction: str, system: str = SYSTEM_PROMPT) -> str:
    """Everything up to and including the response header: the part the loss never sees."""
    return f"### System:\n{system}\n### Instruction:\n{instruction}\n### Response:\n"


def render_alpaca(instruction: str, response: str, system: str = SYSTEM_PROMPT) -> str:
    return render_prompt(instruction, system) + response


def record_id(source: str, source_row: int, seed: int) -> str:
    """Stable across rebuilds: the same source row under the same seed keeps its id."""
    return sha256_bytes(f"{source}|{source_row}|{seed}".encode())[:16]


def make_record(
    *,
    set_name: str,
    block: str,
    source: str,
    source_row: int,
    seed: int,
    instruction: str,
    response: str,
    format: str,
    category: str = "",
    meta: dict | None = None,
    system: str = SYSTEM_PROMPT,
) -> dict:
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")
    return {
        "id": record_id(source, source_row, seed),
        "set": set_name,
        "block": block,
        "source": source,
        "source_row": int(source_row),
        "system": system,
        "instruction": instruction,
        "response": response,
        "text": render_alpaca(instruction, response, system),
        "format": format,
        "category": category,
        "meta": _META_JSON.encode(meta or {}),
    }
