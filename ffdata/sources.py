"""Source loaders: each yields (row index, row dict) and checks what it reads.

Local files are pinned by sha256 and must stay inside the project folder; hub datasets are
pinned by revision. Malformed input fails with the file, line and field at fault.
"""

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_file
from ffdata.manifest import HUB_FILE_BUILDERS, SourceSpec


def resolve_path(spec: SourceSpec, base_dir: Path) -> Path:
    base = base_dir.resolve()
    path = (base / spec.path).resolve()
    if not path.is_relative_to(base):
        raise FFDataError(
            f"source {spec.name!r}: path {spec.path!r} escapes the project folder {base}"
        )
    if not path.exists():
        raise FFDataError(f"source {spec.name!r}: file not found: {path}")
    return path


def check_sha256(spec: SourceSpec, path: Path) -> str:
    digest = sha256_file(path)
    if spec.sha256 and digest != spec.sha256:
        raise FFDataError(
            f"{path}: sha256 mismatch for source {spec.name!r}: "
            f"manifest pins {spec.sha256[:12]}…, file has {digest[:12]}…"
        )
    return digest


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise FFDataError(f"{path}:{lineno}: not valid UTF-8 at byte {e.start}") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    row = 0
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise FFDataError(f"{path}:{lineno}: malformed JSON: {e.msg}") from None
        if not isinstance(obj, dict):
            raise FFDataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield row, obj
        row += 1


def read_csv(path: Path) -> Iterator[tuple[int, dict]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise FFDataError(f"{path}:{line}: not valid UTF-8 at byte {e.start}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row, rec in enumerate(reader):
        if None in rec:
            raise FFDataError(f"{path}:{reader.line_num}: more fields than the header names")
        yield row, rec


def read_parquet(path: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise FFDataError(f"{path}: unreadable Parquet: {e}") from None
    yield from enumerate(table.to_pylist())


def hub_file_urls(spec: SourceSpec) -> list[str]:
    """`hf://` URLs of a source's `files` at its pinned revision (huggingface_hub's HfFileSystem
    reads them). For repos that are a loading script plus data files, such as
    tatsu-lab/alpaca_farm: datasets >= 4 no longer runs loading scripts, but reads the files."""
    return [f"hf://datasets/{spec.uri}@{spec.revision}/{f}" for f in spec.files or []]


def read_hf(spec: SourceSpec) -> Iterator[tuple[int, dict]]:
    """A hub dataset at its pinned revision: the repo's own configuration (`subset`, `split`),
    or its `files` read with the builder for their type (split `train`, or the manifest's).
    `options.load_kwargs` passes extra arguments (e.g. `data_files` to read a local mirror with
    the hub schema)."""
    import datasets

    kwargs = dict(spec.options.get("load_kwargs", {}))
    try:
        if spec.files:
            kwargs.setdefault("data_files", hub_file_urls(spec))
            builder = HUB_FILE_BUILDERS[Path(spec.files[0]).suffix]
            ds = datasets.load_dataset(builder, split=spec.split or "train", **kwargs)
        else:
            ds = datasets.load_dataset(
                spec.uri, spec.subset, split=spec.split, revision=spec.revision, **kwargs
            )
    except Exception as e:
        raise FFDataError(
            f"source {spec.name!r}: cannot load {spec.uri}@{spec.revision}: {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}"
        ) from None
    yield from enumerate(ds)


READERS = {"jsonl": read_jsonl, "csv": read_csv, "table": read_csv, "parquet": read_parquet}


def open_source(spec: SourceSpec, base_dir: Path) -> tuple[str, Iterator[tuple[int, dict]]]:
    """(input hash, row iterator). The hash goes into the build fingerprint."""
    if spec.loader == "hf":
        return f"hf:{spec.uri}@{spec.revision}", read_hf(spec)
    if spec.loader == "generator":
        raise FFDataError(f"source {spec.name!r} is a generator: it has no rows to read")
    path = resolve_path(spec, base_dir)
    digest = check_sha256(spec, path)
    return digest, READERS[spec.loader](path)


def input_hash(spec: SourceSpec, base_dir: Path) -> str:
    if spec.loader == "hf":
        where = ",".join(spec.files) if spec.files else f"{spec.subset}/{spec.split}"
        return f"hf:{spec.uri}/{where}@{spec.revision}"
    if spec.loader == "generator":
        return f"generator:{spec.adapter or spec.name}"
    return check_sha256(spec, resolve_path(spec, base_dir))
