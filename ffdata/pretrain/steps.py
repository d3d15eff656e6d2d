"""Our datatrove steps: each is a small class with one `run` generator, like datatrove's own.

- `CheckMalformed`: first step of every source; drops placeholder rows (empty text) with reason
  `malformed` and writes how many rows the task read, for the accounting.
- `Decontaminate`: ffdata.decontam as a datatrove filter (batched `check_batch`).
- `DroppedRows`: an exclusion writer that keeps one compact row per dropped document
  (doc_id, source, source_row, reason, detail) instead of the whole text.
- `TokenizeToShards`: tiktoken GPT-2 (ids identical to the HF tokenizer) into uint16 shards with
  an end-of-text token after each document, plus the per-document sidecar.
"""

import json
import os
import time
from pathlib import Path

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.parquet import ParquetWriter
from datatrove.utils.batching import batched

from ffdata.pretrain.format import TokenShardWriter

DROPPED_ROW_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("source_row", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


def _dropped_row(self, doc: Document) -> dict:
    meta = doc.metadata
    if self.ff_reason is None:  # the filter's own reason is the reason (decontamination)
        reason, detail = meta.get("filter_reason", "dropped"), meta.get("decontam_detail", "")
    else:
        reason = self.ff_reason
        detail = meta.get("malformed") or meta.get("filter_reason") or ""
    return {
        "doc_id": doc.id,
        "source": meta["source"],
        "source_row": int(meta["source_row"]),
        "reason": reason,
        "detail": str(detail),
    }


def pause_hook(stage: str) -> None:
    """Test hook: with FFDATA_TEST_PAUSE_AFTER=<stage>, write the stage's name and the pausing
    process's id to the file $FFDATA_TEST_PAUSE_MARKER and sleep, so a test can kill the build
    at a known point (and see that the paused process goes with it)."""
    if os.environ.get("FFDATA_TEST_PAUSE_AFTER") == stage:
        marker = os.environ.get("FFDATA_TEST_PAUSE_MARKER")
        if marker:  # written whole, then renamed: a reader never sees half of it
            Path(f"{marker}.tmp").write_text(f"{stage} {os.getpid()}")
            os.replace(f"{marker}.tmp", marker)
        time.sleep(600)


class DroppedRows(ParquetWriter):
    """Exclusion writer: one compact Parquet row per dropped document. `reason=None` takes the
    reason the filter gave (e.g. `contaminated:mmlu`)."""

    name = "🗑 Dropped rows"

    def __init__(self, output_folder: str, reason: str | None):
        super().__init__(
            output_folder,
            output_filename="${rank}.parquet",
            compression="zstd",
            adapter=_dropped_row,
            schema=DROPPED_ROW_SCHEMA,
            use_content_defined_chunking=False,
            write_page_index=False,
        )
        self.ff_reason = reason


class CheckMalformed(BaseFilter):
    """Drops rows the reader marked malformed, and records the task's input row count."""

    name = "🩺 Malformed rows"

    def __init__(self, counts_dir: str, source: str, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.counts_dir = counts_dir
        self.source = source

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if "malformed" in doc.metadata:
            return False, doc.metadata["malformed"]
        return True

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        seen = 0

        def counted(docs):
            nonlocal seen
            for doc in docs:
                seen += 1
                yield doc

        yield from super().run(counted(data), rank, world_size)
        out = Path(self.counts_dir) / self.source / f"{rank:05d}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"source": self.source, "rank": rank, "rows": seen}) + "\n")


class Decontaminate(BaseFilter):
    """Drops (or, with action `report`, only records) documents sharing a 13-gram or a whole
    short question with an evaluation item."""

    name = "🧼 Decontaminate"

    def __init__(
        self,
        targets: list[str],
        action: str = "drop",
        exclusion_writer=None,
        report_writer=None,
        source: str = "auto",
    ):
        super().__init__(exclusion_writer, batch_size=64)
        self.targets = list(targets)
        self.source = source  # the eval-set copy build_set resolved: never re-resolved here
        self.action = action
        self.report_writer = report_writer
        self._index = None

    @property
    def index(self):
        if self._index is None:  # built in the worker process; cached per process
            from ffdata.decontam import Decontaminator

            self._index = Decontaminator.load(targets=self.targets, source=self.source)
        return self._index

    def filter(self, doc: Document):
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]):
        out = []
        for doc, match in zip(batch, self.index.check_batch([d.text for d in batch]), strict=True):
            if match is None:
                out.append(True)
                continue
            reason = f"contaminated:{match.evalset}"
            doc.metadata["decontam_detail"] = f"{match.item_id}: {match.ngram}"
            if self.action == "report":
                self.stat_update(f"reported_{reason}")
                if self.report_writer:
                    doc.metadata["filter_reason"] = reason
                    self.report_writer.write(doc, self._rank)
                    del doc.metadata["filter_reason"]
                out.append(True)
            else:
                out.append((False, reason))
        return out

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        self._rank = rank
        if self.report_writer is None:
            yield from super().run(data, rank, world_size)
            return
        with self.report_writer:
            yield from super().run(data, rank, world_size)


class TokenizeToShards(PipelineStep):
    """Documents in -> `<rank>.bin` (uint16 GPT-2 ids, EOT after each document) + `<rank>.parquet`
    (doc_id, source, module, source_row, offset, length). Uses tiktoken on the bundled BPE files,
    whose ids the tests check against the HF tokenizer."""

    type = "🔢 - TOKENIZER"
    name = "✂ tiktoken GPT-2 shards"

    def __init__(self, output_dir: str, batch_size: int = 256):
        super().__init__()
        self.output_dir = output_dir
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        from ffdata.tokenizer import encode_array

        # A plain loop over tiktoken's numpy-buffer encode: its thread-pool batch call costs more
        # than the encoding itself for web-sized documents on one core, and the buffer path skips
        # the Python list of ints (bench/pretrain_tokens.py).
        writer = TokenShardWriter(Path(self.output_dir) / f"{rank:05d}", shard=rank)
        for i, batch in enumerate(batched(data or [], self.batch_size)):
            if i == 1:  # tests kill the build here: a task with half its output written
                pause_hook(f"tokenize:{rank}")
            with self.track_time("batch"):
                before = writer.tokens
                metas = [doc.metadata for doc in batch]
                writer.add_batch(
                    [doc.id for doc in batch],
                    [m["source"] for m in metas],
                    [m["module"] for m in metas],
                    [int(m["source_row"]) for m in metas],
                    [encode_array(doc.text) for doc in batch],
                )
                # per batch, not per document: datatrove's running stats are not free
                self.stat_update("documents", value=len(batch), unit="batch")
                self.stat_update("tokens", value=writer.tokens - before, unit="batch")
        writer.close()
        return
        yield  # a generator that consumes its input and yields nothing
