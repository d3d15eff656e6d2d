"""Token shards: raw little-endian uint16 GPT-2 ids, one end-of-text token after every document,
plus a Parquet sidecar with one row per document (docs/pretrain_format.md).

`<stem>.bin` holds no header, so `np.memmap(path, dtype=np.uint16)` is the whole shard. A
document's text tokens are `tokens[offset : offset + length]` and `tokens[offset + length]` is
EOT_ID; the next document starts at `offset + length + 1`.
"""

from itertools import accumulate
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ffdata.errors import FFDataError
from ffdata.tokenizer import EOT_ID, VOCAB_SIZE

TOKEN_DTYPE = np.dtype("<u2")
_EOT = np.array([EOT_ID], TOKEN_DTYPE)
assert VOCAB_SIZE <= np.iinfo(TOKEN_DTYPE).max + 1  # GPT-2's 50,257 ids fit in uint16

# Per-document rows of a tokenized shard (work files and final shards share the columns;
# final shards add `shard` and `copy`).
SIDECAR_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("module", pa.string()),
        ("source_row", pa.int64()),
        ("shard", pa.int32()),
        ("offset", pa.int64()),  # first token of the document in the shard
        ("length", pa.int32()),  # text tokens, without the EOT that follows
        ("copy", pa.int16()),  # 0 for the first occurrence; >0 for repeats (upsampling)
    ]
)


def write_sidecar(rows: dict[str, list], path: Path) -> None:
    table = pa.Table.from_pydict(rows, schema=SIDECAR_SCHEMA)
    # Fixed writer options: the same rows always give the same bytes.
    pq.write_table(table, path, compression="zstd", compression_level=3, write_statistics=True)


class TokenShardWriter:
    """Appends documents to `<stem>.bin` and collects their sidecar rows for `<stem>.parquet`."""

    def __init__(self, stem: Path, shard: int = 0):
        self.stem = Path(stem)
        self.stem.parent.mkdir(parents=True, exist_ok=True)
        self.shard = shard
        self.bin_path = self.stem.with_suffix(".bin")
        self.sidecar_path = self.stem.with_suffix(".parquet")
        self._f = open(self.bin_path, "wb")
        self.tokens = 0
        self.rows: dict[str, list] = {name: [] for name in SIDECAR_SCHEMA.names}

    def add(self, doc_id: str, source: str, module: str, source_row: int, ids, copy: int = 0):
        self.add_batch([doc_id], [source], [module], [source_row], [ids], [copy])

    def add_batch(
        self, doc_ids: list, sources: list, modules: list, source_rows: list, ids: list,
        copies: list | None = None,
    ):  # fmt: skip
        """Many documents (id arrays, as `encode_array` gives them) at once: one concatenate for
        the tokens, list extends for the sidecar columns."""
        lengths = [len(x) for x in ids]
        pieces = []
        for x in ids:
            pieces += (x, _EOT)
        if pieces:  # TOKEN_DTYPE is little-endian: the file's byte order on every machine
            self._f.write(np.concatenate(pieces).astype(TOKEN_DTYPE).tobytes())
        r = self.rows
        r["doc_id"] += doc_ids
        r["source"] += sources
        r["module"] += modules
        r["source_row"] += source_rows
        r["shard"] += [self.shard] * len(ids)
        ends = list(accumulate([n + 1 for n in lengths], initial=self.tokens))
        r["offset"] += ends[:-1]  # each document starts where the previous one's EOT ended
        r["length"] += lengths
        r["copy"] += copies if copies is not None else [0] * len(ids)
        self.tokens = ends[-1]

    def close(self) -> int:
        self._f.close()
        write_sidecar(self.rows, self.sidecar_path)
        return self.tokens


def read_tokens(path: Path) -> np.ndarray:
    size = Path(path).stat().st_size
    if size % TOKEN_DTYPE.itemsize:
        raise FFDataError(f"{path}: {size} bytes is not a whole number of uint16 tokens")
    if size == 0:
        return np.zeros(0, TOKEN_DTYPE)
    return np.memmap(path, dtype=TOKEN_DTYPE, mode="r")


def check_shard(bin_path: Path, sidecar_path: Path) -> dict:
    """Check that a shard and its sidecar agree: offsets tile the shard, EOT after each doc."""
    tokens = read_tokens(bin_path)
    side = pq.read_table(sidecar_path, columns=["offset", "length"])
    offsets = side["offset"].to_numpy()
    lengths = side["length"].to_numpy().astype(np.int64)
    ends = offsets + lengths
    expected_starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else ends
    if len(ends) and not np.array_equal(offsets, expected_starts):
        bad = int(np.flatnonzero(offsets != expected_starts)[0])
        raise FFDataError(
            f"{sidecar_path}: row {bad}: offset does not follow the previous document"
        )
    total = int(ends[-1] + 1) if len(ends) else 0
    if total != len(tokens):
        raise FFDataError(f"{bin_path}: {len(tokens)} tokens but the sidecar describes {total}")
    if len(ends) and not np.all(tokens[ends] == EOT_ID):
        bad = int(np.flatnonzero(tokens[ends] != EOT_ID)[0])
        raise FFDataError(f"{bin_path}: document {bad} is not followed by end-of-text")
    return {"documents": len(ends), "tokens": total}
