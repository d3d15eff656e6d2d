"""$FFDATA_CACHE: what `ffdata cache` lists, and what `--prune` removes (only what a build
rebuilds when missing, and only when no build has used it for the given days)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ffdata.cache import DAY, USED, entries, prune, summary
from ffdata.decontam import _load_cached

FFDATA = str(Path(sys.executable).parent / "ffdata")


def _age(path: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(path, (t, t))


def _index(cache, monkeypatch, targets=("factbench",)):
    """A real index, built (or loaded) the way a build does, past the per-process memo."""
    monkeypatch.setenv("FFDATA_CACHE", str(cache))
    return _load_cached.__wrapped__(tuple(targets), "bundled")


def test_loading_an_index_marks_it_used_so_prune_keeps_it(tmp_path, monkeypatch):
    built = _index(tmp_path, monkeypatch)
    (folder,) = entries("decontam", tmp_path)
    _age(folder.path / USED, 90)
    _age(folder.path, 90)
    assert prune(30, dry_run=True, cache=tmp_path) == [e for e in entries("decontam", tmp_path)]
    loaded = _index(tmp_path, monkeypatch)  # a build ran today
    assert loaded.fingerprint == built.fingerprint
    assert prune(30, cache=tmp_path) == []
    assert [e.path for e in entries("decontam", tmp_path)] == [folder.path]


def test_prune_removes_only_what_is_rebuilt_and_unused(tmp_path, monkeypatch):
    built = _index(tmp_path, monkeypatch)
    old_index, new_index = tmp_path / "decontam" / "old", tmp_path / "decontam" / "new"
    for folder, days in ((old_index, 45), (new_index, 3)):
        folder.mkdir()
        (folder / "rest.pickle").write_bytes(b"x" * 1000)
        (folder / USED).touch()
        _age(folder / USED, days)
    (tmp_path / "codehash").mkdir(exist_ok=True)
    old_list, new_list = tmp_path / "codehash" / "old.json", tmp_path / "codehash" / "new.json"
    for path, days in ((old_list, 45), (new_list, 1)):
        path.write_text("[]")
        _age(path, days)
    work = tmp_path / "work" / "pretrain" / "abc"  # resumable work: never pruned, however old
    work.mkdir(parents=True)
    (work / "done").write_text("1")
    _age(work, 400)

    assert {e.path for e in prune(30, dry_run=True, cache=tmp_path)} == {old_index, old_list}
    assert old_index.exists() and old_list.exists()
    removed = prune(30, cache=tmp_path)
    assert {e.path for e in removed} == {old_index, old_list}
    assert sum(e.bytes for e in removed) == 1000 + 2
    assert not old_index.exists() and not old_list.exists()
    assert new_index.exists() and new_list.exists() and (work / "done").exists()
    assert not list((tmp_path / "decontam").glob(".pruned-*"))  # renamed away, then removed
    rows = {r["kind"]: r for r in summary(tmp_path)}
    assert rows["decontam"]["entries"] == 2 and rows["work"]["entries"] == 1
    assert not rows["work"]["prunable"]

    # pruning everything costs only time: the next build rebuilds the same index
    prune(0, cache=tmp_path)
    assert not entries("decontam", tmp_path)
    assert _index(tmp_path, monkeypatch).fingerprint == built.fingerprint
    assert len(entries("decontam", tmp_path)) == 1


def test_cli_lists_and_prunes(tmp_path):
    old = tmp_path / "decontam" / "0123abcd"
    old.mkdir(parents=True)
    (old / "rest.pickle").write_bytes(b"x" * 2_500_000)
    (old / USED).touch()
    _age(old / USED, 60)
    env = {**os.environ, "FFDATA_CACHE": str(tmp_path), "COLUMNS": "160"}

    def ffdata(*args):
        return subprocess.run([FFDATA, "cache", *args], env=env, capture_output=True, text=True)

    listed = ffdata()
    assert listed.returncode == 0, listed.stderr
    assert str(tmp_path) in listed.stdout and "2.5 MB" in listed.stdout
    kept = ffdata("--prune", "--unused-days", "90")
    assert kept.stdout.strip() == "removed nothing (0 B) unused for 90 days" and old.exists()
    gone = ffdata("--prune")
    assert "removed decontam/0123abcd (2.5 MB, last used" in gone.stdout
    assert gone.stdout.strip().endswith("removed 1 decontam (2.5 MB) unused for 30 days")
    assert not old.exists()
    bad = ffdata("--prune", "--unused-days", "-1")
    assert bad.returncode == 2 and "--unused-days must be 0 or more" in bad.stderr
    assert json.loads(json.dumps(summary(tmp_path)))[0]["entries"] == 0
