"""Errata: known errors in source files, corrected as rows are read, with lineage.

Public datasets carry mistakes (ARC-Challenge train keys "An iron" where it means "an ion").
Editing the pinned file would break its sha256 and hide the change; instead a manifest names an
errata table (CSV: source, row, field, was, now, reason, reference), pinned by sha256 like any
input. Each erratum names the exact old value: it applies only where the row still says `was`,
so a stale erratum (a changed file, a wrong row) stops the build instead of silently editing
something else. The build record lists every correction applied.

`field` is a dotted path into the row; integer parts index lists (`choices.text.1`).
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_bytes

COLUMNS = ("source", "row", "field", "was", "now", "reason", "reference")


@dataclass
class Errata:
    path: Path
    digest: str
    by_row: dict[tuple[str, int], list[dict]]
    applied: list[dict] = field(default_factory=list)

    def apply(self, source: str, rows: Iterator[tuple[int, dict]]):
        """The source's rows with their errata applied (each checked against `was`)."""
        for idx, row in rows:
            for e in self.by_row.get((source, idx), ()):
                row = _replace(row, e, self.path)
                self.applied.append({k: e[k] for k in COLUMNS})
            yield idx, row

    def check_all_applied(self, source: str) -> None:
        done = {(a["source"], int(a["row"]), a["field"]) for a in self.applied}
        for (src, idx), entries in self.by_row.items():
            for e in entries:
                if src == source and (src, idx, e["field"]) not in done:
                    raise FFDataError(
                        f"{self.path}:{e['_line']}: erratum for source {src!r} row {idx} "
                        f"field {e['field']!r} matched no row read (row out of range?)"
                    )


def _replace(row: dict, e: dict, path: Path) -> dict:
    where = f"{path}:{e['_line']}: source {e['source']!r} row {e['row']} field {e['field']!r}"
    parts = e["field"].split(".")
    row = _copy(row)
    node = row
    try:
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        last = int(parts[-1]) if isinstance(node, list) else parts[-1]
        current = node[last]
    except (KeyError, IndexError, ValueError, TypeError):
        raise FFDataError(f"{where}: no such field in the row") from None
    if current != e["was"]:
        raise FFDataError(
            f"{where}: erratum expects {e['was']!r} but the row says {current!r} "
            "(the source changed, or the erratum names the wrong row)"
        )
    node[last] = e["now"]
    return row


def _copy(obj):
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v) for v in obj]
    return obj


def load_errata(spec, base_dir: Path) -> Errata:
    """Read and check the errata table a manifest names (`errata: {path, sha256}`)."""
    base = base_dir.resolve()
    path = (base / spec.path).resolve()
    if not path.is_relative_to(base):
        raise FFDataError(f"errata: path {spec.path!r} escapes the project folder {base}")
    if not path.is_file():
        raise FFDataError(f"errata: file not found: {path}")
    data = path.read_bytes()
    digest = sha256_bytes(data)
    if digest != spec.sha256:
        raise FFDataError(
            f"{path}: sha256 mismatch for the errata table: manifest pins {spec.sha256[:12]}…, "
            f"file has {digest[:12]}…"
        )
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise FFDataError(f"{path}: errata columns must be {', '.join(COLUMNS)}")
    by_row: dict[tuple[str, int], list[dict]] = {}
    for line, r in enumerate(reader, start=2):
        for col in ("source", "row", "field", "was", "now", "reason"):
            if not (r[col] or "").strip():
                raise FFDataError(f"{path}:{line}: column {col!r} is empty")
        try:
            idx = int(r["row"])
        except ValueError:
            raise FFDataError(f"{path}:{line}: row {r['row']!r} is not an integer") from None
        if r["was"] == r["now"]:
            raise FFDataError(f"{path}:{line}: 'was' and 'now' are the same")
        by_row.setdefault((r["source"], idx), []).append({**r, "_line": line})
    return Errata(path, digest, by_row)
