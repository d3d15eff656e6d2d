"""datatrove readers for the pretraining sources, and adapters for each hub schema.

Each adapter turns a row of the source's real schema into a datatrove Document whose metadata
carries what the rest of the pipeline needs: source, module, source_row (for the dropped-row
record), url (for URL dedup) and priority (which copy exact dedup keeps: higher quality wins).
A row that breaks its schema is an error naming file, row and field; a row whose text is empty
is kept as a placeholder and dropped by the first step with reason `malformed`, so it is counted.
"""

from dataclasses import dataclass
from pathlib import Path

from datatrove.pipeline.readers import HuggingFaceDatasetReader, JsonlReader, ParquetReader

from ffdata.errors import FFDataError
from ffdata.pretrain.config import SourcePlan

MALFORMED_PLACEHOLDER = "\x00"  # non-empty, so datatrove's readers do not skip the row silently
QUALITY_PRIORITY = {"high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True)
class Schema:
    fields: tuple[str, ...]  # required fields of the hub schema
    id_field: str | None  # None: the id is made from source, file and row
    url_field: str | None
    title_field: str | None = None  # prepended to the text as its first paragraph


SCHEMAS = {
    # HuggingFaceFW/fineweb (also has file_path)
    "fineweb": Schema(
        ("text", "id", "dump", "url", "date", "language", "language_score", "token_count"),
        "id",
        "url",
    ),
    # HuggingFaceFW/fineweb-edu and fineweb-edu-score-2
    "fineweb_edu": Schema(
        (
            "text",
            "id",
            "dump",
            "url",
            "language",
            "language_score",
            "token_count",
            "score",
            "int_score",
        ),
        "id",
        "url",
    ),
    "c4": Schema(("text", "timestamp", "url"), None, "url"),  # allenai/c4 en
    "wikipedia": Schema(("id", "url", "title", "text"), "id", "url"),  # wikimedia/wikipedia
    # vblagoje/cc_news: the title is part of the article text a model should see
    "cc_news": Schema(("title", "text", "domain", "date", "url"), None, "url", "title"),
    "clean_web": Schema(("id", "url", "text"), "id", "url"),  # our own local clean-web files
}


def _source_row(id_in_file) -> int:
    """A row number unique within the source: the row in a local file, or for a hub stream
    (ids `<shard>/<row>` from HuggingFaceDatasetReader) shard * 2^32 + row."""
    if isinstance(id_in_file, int):
        return id_in_file
    shard, _, row = str(id_in_file).partition("/")
    return (int(shard) << 32) + int(row)


def adapt_row(self, data: dict, path: str, id_in_file) -> dict:
    """datatrove adapter (bound to the reader): a hub-schema row -> Document fields."""
    src = self.ff_source
    schema = SCHEMAS[src["schema"]]
    row = _source_row(id_in_file)
    where = f"{path}:{row + 1 if isinstance(id_in_file, int) else id_in_file}"
    for name in schema.fields:
        if name not in data:
            raise FFDataError(
                f"{where}: source {src['name']!r}: field {name!r} is missing "
                f"(schema {src['schema']!r} has {list(schema.fields)})"
            )
    text = data["text"]
    if not isinstance(text, str):
        raise FFDataError(
            f"{where}: source {src['name']!r}: field 'text' must be a string, got {type(text).__name__}"
        )
    meta = {
        "source": src["name"],
        "module": src["module"],
        "source_row": row,
        "url": str(data.get(schema.url_field) or "") if schema.url_field else "",
        "priority": src["priority"],
    }
    if schema.title_field and data.get(schema.title_field) and text.strip():
        text = f"{data[schema.title_field]}\n\n{text}"
    if not text.strip():
        meta["malformed"] = "empty text"
        text = MALFORMED_PLACEHOLDER
    doc_id = (
        str(data[schema.id_field])
        if schema.id_field
        else f"{src['name']}:{Path(path).name}:{id_in_file}"
    )
    return {"text": text, "id": doc_id, "metadata": meta}


def task_rows(n_rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """Task `rank`'s contiguous slice [lo, hi) of a file's rows. Slices in rank order tile the
    file, so the tasks' outputs read back in rank order are the one-task output."""
    return rank * n_rows // world_size, (rank + 1) * n_rows // world_size


def line_index(path: Path, every: int = 4096) -> dict:
    """One pass over an uncompressed JSONL file: its row count (blank lines are not rows) and,
    for rows 0, every, 2·every, ..., the (byte offset, line number) of that row's line. With it
    each task seeks near its first row: the file is read once in all, not once per task."""
    rows, marks, pos = 0, [], 0
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                if rows % every == 0:
                    marks.append((pos, lineno))
                rows += 1
            pos += len(line)
    return {"rows": rows, "every": every, "marks": marks}


class RowRangeReader:
    """For local files: every task reads its own contiguous range of each file's rows, so a
    source in one file still splits into as many tasks as the manifest asks for (datatrove's
    readers hand out whole files). Rows outside the range are not parsed."""

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        files = self.data_folder.list_files(
            recursive=self.recursive, glob_pattern=self.glob_pattern
        )
        if not files:
            raise FFDataError(f"{self.data_folder.path}: no file matches {self.glob_pattern!r}")
        for filepath in files:
            self.stat_update("input_files")
            lo, hi = task_rows(self.count_rows(filepath), rank, world_size)
            for doc in self.read_rows(filepath, lo, hi):
                self.update_doc_stats(doc)
                yield doc


class StrictJsonlReader(RowRangeReader, JsonlReader):
    """JsonlReader that stops on a malformed line (datatrove's logs a warning and skips it,
    which would lose the row from the accounting). Blank lines are not rows."""

    name = "🐿 Jsonl (strict)"
    line_indexes: dict[str, dict] = {}  # file name -> line_index(), set by make_reader

    def count_rows(self, filepath: str) -> int:
        if index := self.line_indexes.get(filepath):
            return index["rows"]
        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            return sum(1 for line in f if line.strip())

    def read_rows(self, filepath: str, lo: int, hi: int):
        import orjson

        full = self.data_folder.resolve_paths(filepath)
        row, first_line = 0, 1
        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            if index := self.line_indexes.get(filepath):  # start at the last mark before lo
                k = lo // index["every"]
                if k < len(index["marks"]):
                    offset, first_line = index["marks"][k]
                    f.seek(offset)
                    row = k * index["every"]
            for lineno, line in enumerate(f, start=first_line):
                if row >= hi:
                    break
                if not line.strip():
                    continue
                if row < lo:
                    row += 1
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise FFDataError(f"{full}:{lineno}: malformed JSON: {e}") from None
                if not isinstance(obj, dict):
                    raise FFDataError(f"{full}:{lineno}: expected a JSON object")
                with self.track_time():
                    document = self.get_document_from_dict(obj, full, row)
                row += 1
                if document:
                    yield document


class RowRangeParquetReader(RowRangeReader, ParquetReader):
    name = "📒 Parquet (row ranges)"

    def count_rows(self, filepath: str) -> int:
        import pyarrow.parquet as pq

        with self.data_folder.open(filepath, "rb") as f:
            return pq.ParquetFile(f).metadata.num_rows

    def read_rows(self, filepath: str, lo: int, hi: int):
        import pyarrow.parquet as pq

        start = 0  # row number of the batch's first row
        with self.data_folder.open(filepath, "rb") as f, pq.ParquetFile(f) as pqf:
            for batch in pqf.iter_batches(batch_size=self.batch_size):
                end = start + batch.num_rows
                if end > lo and start < hi:
                    a, b = max(lo, start), min(hi, end)
                    with self.track_time("batch"):
                        rows = batch.slice(a - start, b - a).to_pylist()
                        docs = [
                            self.get_document_from_dict(r, filepath, a + i)
                            for i, r in enumerate(rows)
                        ]
                    yield from (d for d in docs if d)
                start = end
                if start >= hi:
                    break


def source_info(plan: SourcePlan) -> dict:
    return {
        "name": plan.name,
        "module": plan.module,
        "schema": plan.schema,
        "priority": QUALITY_PRIORITY.get(plan.quality, 1),
    }


def make_reader(plan: SourcePlan, base_dir: Path):
    """The datatrove reader for one source, with our adapter bound to it."""
    spec = plan.spec
    if spec.loader == "hf":
        options = {"split": spec.split or "train", "revision": spec.revision}
        if spec.subset:
            options["name"] = spec.subset
        options.update(spec.options.get("load_kwargs", {}))
        reader = HuggingFaceDatasetReader(
            spec.uri,
            dataset_options=options,
            streaming=bool(spec.options.get("streaming", True)),
            adapter=adapt_row,
        )
    else:
        path = (base_dir / spec.path).resolve()
        cls = StrictJsonlReader if spec.loader == "jsonl" else RowRangeParquetReader
        reader = cls(
            str(path.parent),
            glob_pattern=path.name,
            recursive=False,
            adapter=adapt_row,
        )
        if spec.loader == "jsonl" and path.suffix == ".jsonl" and path.is_file():  # uncompressed
            reader.line_indexes = {path.name: line_index(path)}
        reader.add_file_path = False  # the path is in the dropped-row record already
    reader.ff_source = source_info(plan)
    return reader
