"""What ffdata keeps under $FFDATA_CACHE (default ~/.cache/ffdata), and pruning it.

`ffdata cache` lists each kind with its size; `ffdata cache --prune` removes the entries of the
kinds that are only a speed-up (rebuilt when missing) and that no build has used for
`--unused-days` days. Work a build needs to resume or finish is listed, never pruned.
"""

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ffdata.storage import default_cache_dir

# kind -> (what it holds, whether prune may remove it)
KINDS = {
    "decontam": ("decontamination indexes (one per eval-set digest and code version)", True),
    "codehash": ("import lists of project files (one per file version)", True),
    "work": ("resumable pretrain_mix work", False),
    "staging": ("sets being assembled for an S3 root, or left by a killed build", False),
    "locks": ("build locks", False),
}  # fmt: skip
USED = "used"  # a decontamination index's marker, touched by every process that loads it
DAY = 86400.0


@dataclass
class Entry:
    kind: str
    path: Path
    bytes: int
    last_used: float  # epoch seconds


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _last_used(kind: str, path: Path) -> float:
    marker = path / USED
    if kind == "decontam" and marker.exists():
        return marker.stat().st_mtime
    return path.stat().st_mtime  # a codehash entry is rewritten, never read-touched: its age


def entries(kind: str, cache: Path | None = None) -> list[Entry]:
    folder = (cache or default_cache_dir()) / kind
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):  # an index being written, or being removed
            continue
        try:
            found.append(Entry(kind, path, _size(path), _last_used(kind, path)))
        except FileNotFoundError:  # removed meanwhile by another process
            continue
    return found


def summary(cache: Path | None = None) -> list[dict]:
    """Per kind: entries, bytes, when the least recently used one was last used."""
    rows = []
    for kind, (about, prunable) in KINDS.items():
        found = entries(kind, cache)
        rows.append({
            "kind": kind,
            "entries": len(found),
            "bytes": sum(e.bytes for e in found),
            "oldest_use": min((e.last_used for e in found), default=None),
            "prunable": prunable,
            "about": about,
        })  # fmt: skip
    return rows


def prune(unused_days: float, dry_run: bool = False, cache: Path | None = None) -> list[Entry]:
    """Remove the prunable entries last used more than `unused_days` days ago. An entry is
    renamed away first, so a process loading it sees it whole or not at all."""
    if unused_days < 0:
        raise ValueError(f"--unused-days must be 0 or more, not {unused_days}")
    cutoff = time.time() - unused_days * DAY
    removed = []
    for kind, (_, prunable) in KINDS.items():
        if not prunable:
            continue
        for entry in entries(kind, cache):
            if entry.last_used >= cutoff:
                continue
            removed.append(entry)
            if dry_run:
                continue
            gone = entry.path.with_name(f".pruned-{os.getpid()}-{entry.path.name}")
            try:
                entry.path.rename(gone)
            except FileNotFoundError:  # another prune got there first
                continue
            if gone.is_dir():
                shutil.rmtree(gone, ignore_errors=True)
            else:
                gone.unlink(missing_ok=True)
    return removed


def mark_used(path: Path) -> None:
    """Note that a decontamination index was loaded now (what prune goes by)."""
    try:
        (path / USED).touch()
    except OSError:  # a read-only cache: it is then never pruned by use, only by hand
        pass
