"""Source loaders: each yields (row index, row dict) and checks what it reads.

Local files are pinned by sha256 and must stay inside the project folder; hub datasets are
pinned by revision. Malformed input fails with the file, line and field at fault.

Every row is screened before a builder sees it (`screen`): text with NUL or other control
characters, bidirectional overrides (U+202A-U+202E, U+2066-U+2069) or lone surrogates, a row
over the source's `max_row_bytes`, or nested deeper than `max_depth`, is quarantined with a
reason (control_char, bidi_override, invalid_unicode, too_large, too_deep) and never reaches a
shard. A JSONL line is measured before it is parsed, and read in bounded pieces, so a 10 GB line
costs no more memory than the limit. Sources with `on_malformed: error` also have their field
types checked here (ffdata.layouts), so the build stops at `file:line: field 'question' is null`.
"""

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ffdata import layouts
from ffdata.errors import FFDataError, MalformedRow
from ffdata.hashing import sha256_file
from ffdata.manifest import HUB_FILE_BUILDERS, SourceSpec

MAX_ROW_BYTES = 4 << 20  # default per-row limit: a training row of 4 MiB is no training row
MAX_DEPTH = 32  # default nesting limit: chat rows nest 3-5 levels deep


@dataclass(frozen=True)
class Quarantined:
    """A row the read path refuses: BuildContext.read_source drops it with this reason."""

    reason: str
    detail: str


_BAD_TEXT = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_C0 = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _bad_char(text: str) -> re.Match | None:
    """The first hostile character of `text`. Python's regex scans ~10 ns a character; ASCII text
    (most of it) is cleared first by a C-speed byte deletion (~2 ns a character)."""
    if text.isascii():
        raw = text.encode("ascii")
        if len(raw.translate(None, _C0)) == len(raw):
            return None
    return _BAD_TEXT.search(text)


def _text_reason(char: str) -> str:
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        return "bidi_override"
    if "\ud800" <= char <= "\udfff":
        return "invalid_unicode"
    return "control_char"


def screen(row, max_bytes: int, max_depth: int, size: int | None = None) -> Quarantined | None:
    """Why `row` must not reach a shard, or None. `size`: its bytes when already known (the JSONL
    line); otherwise the UTF-8 length of its text is summed."""
    total = size or 0
    stack = [(row, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > max_depth:
            return Quarantined("too_deep", f"nested deeper than {max_depth} levels (max_depth)")
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, list | tuple):
            items = list(enumerate(node))
        else:
            if isinstance(node, str):
                if (m := _bad_char(node)) is not None:
                    char = m.group()
                    where = f"{path or '(row)'}: U+{ord(char):04X} at character {m.start()}"
                    return Quarantined(_text_reason(char), where)
                if size is None:
                    total += len(node) if node.isascii() else len(node.encode("utf-8"))
            continue
        named = [(f"{path}.{key}" if path else str(key), key, value) for key, value in items]
        for name, key, _ in named:
            if isinstance(key, str) and (m := _bad_char(key)) is not None:
                shown = _BAD_TEXT.sub(lambda c: f"\\u{ord(c.group()):04x}", name)  # printable
                return Quarantined(
                    _text_reason(m.group()), f"{shown}: a key holds U+{ord(m.group()):04X}"
                )
        # pushed in reverse: popped in row order, so the first bad field is the one named
        stack.extend((value, name, depth + 1) for name, _, value in reversed(named))
    if total > max_bytes:
        return Quarantined("too_large", f"{total:,} bytes > {max_bytes:,} (max_row_bytes)")
    return None


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


def _lines(path: Path, max_bytes: int) -> Iterator[tuple[int, str | int]]:
    """(line number, text), or (line number, its size) for a line over `max_bytes`, which is
    skipped in bounded pieces rather than read whole."""
    with open(path, "rb") as f:
        lineno = 0
        while raw := f.readline(max_bytes + 1):
            lineno += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                size = len(raw)
                for piece in iter(lambda: f.readline(1 << 20), b""):
                    size += len(piece)
                    if piece.endswith(b"\n"):
                        break
                yield lineno, size
                continue
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise FFDataError(f"{path}:{lineno}: not valid UTF-8 at byte {e.start}") from None


def read_jsonl(path: Path, max_bytes: int = MAX_ROW_BYTES, max_depth: int = MAX_DEPTH):
    """(row index, line number, row or Quarantined) for each non-blank line."""
    row = 0
    for lineno, line in _lines(path, max_bytes):
        if isinstance(line, int):
            yield (
                row,
                lineno,
                Quarantined("too_large", f"{line:,} bytes > {max_bytes:,} (max_row_bytes)"),
            )
            row += 1
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise FFDataError(f"{path}:{lineno}: malformed JSON: {e.msg}") from None
        except RecursionError:  # json's C parser recurses once per level
            obj = Quarantined("too_deep", f"nested deeper than {max_depth} levels (max_depth)")
        if not isinstance(obj, dict | Quarantined):
            raise FFDataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        if not isinstance(obj, Quarantined):
            obj = (
                screen(obj, max_bytes, max_depth, size=len(line.encode("utf-8", "surrogatepass")))
                or obj
            )
        yield row, lineno, obj
        row += 1


def read_csv(path: Path, max_bytes: int = MAX_ROW_BYTES, max_depth: int = MAX_DEPTH):
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise FFDataError(f"{path}:{line}: not valid UTF-8 at byte {e.start}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    row = 0
    try:
        for rec in reader:
            if None in rec:
                raise FFDataError(f"{path}:{reader.line_num}: more fields than the header names")
            yield row, reader.line_num, screen(rec, max_bytes, max_depth) or rec
            row += 1
    except csv.Error as e:  # a field over csv's size limit, a stray quote
        raise FFDataError(f"{path}:{reader.line_num}: unreadable CSV: {e}") from None


def read_parquet(path: Path, max_bytes: int = MAX_ROW_BYTES, max_depth: int = MAX_DEPTH):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise FFDataError(f"{path}: unreadable Parquet: {e}") from None
    for row, rec in enumerate(table.to_pylist()):
        yield row, row, screen(rec, max_bytes, max_depth) or rec


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


def open_source(
    spec: SourceSpec, base_dir: Path, quarantine: bool = False
) -> tuple[str, Iterator[tuple[int, dict]]]:
    """(input hash, row iterator). The hash goes into the build fingerprint.

    A screened-out row is yielded as a Quarantined (reason, detail) when `quarantine` is set
    (BuildContext.read_source drops it); otherwise it stops the read with one error line."""
    max_bytes = spec.max_row_bytes or MAX_ROW_BYTES
    max_depth = spec.max_depth or MAX_DEPTH
    if spec.loader == "hf":
        where, digest = f"source {spec.name!r} ({spec.uri})", f"hf:{spec.uri}@{spec.revision}"
        rows = ((i, i, screen(r, max_bytes, max_depth) or r) for i, r in read_hf(spec))
    elif spec.loader == "generator":
        raise FFDataError(f"source {spec.name!r} is a generator: it has no rows to read")
    else:
        path = resolve_path(spec, base_dir)
        where, digest = str(path), check_sha256(spec, path)
        rows = READERS[spec.loader](path, max_bytes, max_depth)
    return digest, _checked(spec, rows, where, quarantine)


def _checked(spec: SourceSpec, rows, where: str, quarantine: bool):
    # hub rows are numbered from 0, file lines from 1: "… row 5" / "data.jsonl:6"
    sep = " row " if spec.loader == "hf" else ":"
    strict = spec.on_malformed == "error"
    seen = 0
    for idx, line, row in rows:
        seen += 1
        if isinstance(row, Quarantined):
            if not quarantine:
                raise FFDataError(f"{where}{sep}{line}: {row.reason}: {row.detail}")
        elif strict:
            try:
                layouts.check(spec.adapter or spec.name, row)
            except MalformedRow as e:
                raise FFDataError(f"{where}{sep}{line}: {e} (on_malformed: error)") from None
        yield idx, row
    if not seen:  # an empty or blank-only file would build a set short of this source
        raise FFDataError(f"{where}: source {spec.name!r} has no rows")


def input_hash(spec: SourceSpec, base_dir: Path) -> str:
    if spec.loader == "hf":
        where = ",".join(spec.files) if spec.files else f"{spec.subset}/{spec.split}"
        return f"hf:{spec.uri}/{where}@{spec.revision}"
    if spec.loader == "generator":
        return f"generator:{spec.adapter or spec.name}"
    return check_sha256(spec, resolve_path(spec, base_dir))
