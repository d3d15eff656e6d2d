"""`ffdata verify` checks what the build record states instead of trusting it: one test per
tampering. Before, removing a shard's entry, editing `rows`, re-pointing a sha256, deleting or
corrupting `_dropped.parquet` all verified fine."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.hashing import sha256_file
from ffdata.sets import list_sets, open_set
from tests.conftest import write_gsm8k_manifest

FFDATA = str(Path(sys.executable).parent / "ffdata")


def ffdata(*args, **env):
    return subprocess.run(
        [FFDATA, *args], capture_output=True, text=True, env={**os.environ, **env}
    )


@pytest.fixture(scope="module")
def built_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("verify")
    m = write_gsm8k_manifest(base / "p", rows=90, rows_per_shard=30)
    built, _ = build_set("gsm8k_sft", m, str(base / "root"), quiet=True)
    return base / "root", built.prefix


@pytest.fixture
def copy(built_root, tmp_path):
    """A fresh copy of the built root, and the folder holding the set's files."""
    root, prefix = built_root
    shutil.copytree(root, tmp_path / "root")
    return tmp_path / "root", tmp_path / "root" / prefix


def edit_record(folder: Path, change, digest: bool) -> None:
    """Apply `change` to the build record; with `digest`, also re-state its sha256 in the set's
    pointer, as a careful tamperer would (so the checks behind the digest are tried too)."""
    path = folder / "_build.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    pointer = folder.parent / "_current.json"
    if digest and pointer.exists():
        data = json.loads(pointer.read_text())
        data["record_sha256"] = sha256_file(path)
        pointer.write_text(json.dumps(data))


def fails(root: Path, expect: str) -> str:
    out = ffdata("verify", "gsm8k_sft", "--root", str(root))
    assert out.returncode == 2, out.stdout
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr
    assert expect in errors[0], errors[0]
    return errors[0]


def test_untampered_set_verifies(copy):
    root, _ = copy
    out = ffdata("verify", "gsm8k_sft", "--root", str(root))
    assert out.returncode == 0, out.stderr
    assert "3 shards, 90 rows verified" in out.stdout


def test_an_edited_record_is_named(copy):
    root, folder = copy
    edit_record(folder, lambda r: r.update(rows=91), digest=False)
    line = fails(root, "_build.json: edited after publishing")
    assert str(folder / "_build.json") in line


def test_a_removed_shard_entry_leaves_an_unlisted_file(copy):
    root, folder = copy
    edit_record(folder, lambda r: r["shards"].pop(1), digest=True)
    fails(root, "1 file(s) not listed in _build.json: part-train-00001.parquet")


def test_edited_shard_rows_disagree_with_the_parquet_footer(copy):
    root, folder = copy
    edit_record(folder, lambda r: r["shards"][0].update(rows=31), digest=True)
    fails(root, "part-train-00000.parquet: 30 rows in its Parquet footer, _build.json says 31")


def test_edited_total_rows_disagree_with_the_shards(copy):
    root, folder = copy
    edit_record(folder, lambda r: r.update(rows=100), digest=True)
    fails(root, "_build.json: rows 100, its shards hold 90")


@pytest.mark.parametrize("digest", [False, True])
def test_a_sha256_repointed_at_a_replaced_shard_is_caught(copy, digest):
    """A shard swapped for one with other rows, its sha256 and size re-stated in the record:
    the record's own digest names the edit; a tamperer who re-states that digest too is caught
    by the row count in the new shard's Parquet footer."""
    import pyarrow.parquet as pq

    root, folder = copy
    shard = folder / "part-train-00000.parquet"
    pq.write_table(pq.read_table(shard).slice(0, 20), shard)

    def repoint(record):
        record["shards"][0].update(sha256=sha256_file(shard), bytes=shard.stat().st_size)

    edit_record(folder, repoint, digest=digest)
    if digest:
        fails(root, "part-train-00000.parquet: 20 rows in its Parquet footer, _build.json says 30")
    else:
        fails(root, "_build.json: edited after publishing")


def test_a_deleted_dropped_file_is_missing(copy):
    root, folder = copy
    (folder / "_dropped.parquet").unlink()
    fails(root, "1 file(s) listed in _build.json missing: _dropped.parquet")


def test_a_corrupted_dropped_file_is_caught(copy):
    root, folder = copy
    path = folder / "_dropped.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    fails(root, "_dropped.parquet: sha256 mismatch")


def test_a_replaced_dropped_file_must_match_the_dropped_total(copy):
    """A consistent tamperer swaps in another valid _dropped.parquet and re-states its hash
    and size: its footer still disagrees with the record's dropped total."""
    import pyarrow.parquet as pq

    root, folder = copy
    path = folder / "_dropped.parquet"
    pq.write_table(pq.read_table(path).slice(0, 10), path)

    def restate(record):
        entry = record["dropped"]["file"]
        entry.update(sha256=sha256_file(path), bytes=path.stat().st_size, rows=10)

    edit_record(folder, restate, digest=True)
    fails(root, "_build.json: dropped total 7383, _dropped.parquet holds 10")


def test_an_extra_file_in_the_set_is_named(copy):
    root, folder = copy
    shutil.copy(folder / "part-train-00000.parquet", folder / "part-train-00003.parquet")
    fails(root, "not listed in _build.json: part-train-00003.parquet")


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_bad_record_affects_only_its_own_set(tmp_path, damage):
    """One empty or truncated _build.json broke ls, sql, build and train for every set of
    the root. Now that set is skipped with one line naming its record; the others work, and
    building it again replaces it."""
    root = tmp_path / "root"
    m_bad = write_gsm8k_manifest(tmp_path / "p1", rows=40)
    m_ok = write_gsm8k_manifest(tmp_path / "p2", seed=3, rows=50)
    bad, _ = build_set("gsm8k_sft", m_bad, str(root), quiet=True)
    good, _ = build_set("gsm8k_sft", m_ok, str(root), quiet=True)
    record = root / bad.prefix / "_build.json"
    record.write_bytes(b"" if damage == "empty" else record.read_bytes()[:200])

    assert [s.fingerprint for s in list_sets(str(root))] == [good.fingerprint]
    listing = ffdata("ls", "--root", str(root), COLUMNS="300")
    assert listing.returncode == 0, listing.stderr
    assert good.fingerprint[:12] in listing.stdout and bad.fingerprint[:12] not in listing.stdout
    warnings = [line for line in listing.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and str(record) in warnings[0], listing.stderr
    assert "unreadable build record" in warnings[0]

    assert ffdata("verify", "gsm8k_sft", "--root", str(root)).returncode == 0
    sql = ffdata("sql", "SELECT count(*) AS n FROM gsm8k_sft", "--root", str(root))
    assert sql.returncode == 0 and "50" in sql.stdout, sql.stderr
    with pytest.raises(FFDataError, match="unreadable build record"):
        open_set(str(root), f"gsm8k_sft@{bad.fingerprint[:12]}")

    again = ffdata("build", "gsm8k_sft", "--manifest", str(m_bad), "--root", str(root))
    assert again.returncode == 0 and "already built" not in again.stdout, again.stderr
    rebuilt = open_set(str(root), f"gsm8k_sft@{bad.fingerprint[:12]}")
    rebuilt.verify()
    assert len(list_sets(str(root))) == 2


def test_a_stray_file_beside_the_generations_is_named(copy):
    root, folder = copy
    shutil.copy(folder / "part-train-00000.parquet", folder.parent / "part-train-00000.parquet")
    fails(root, "1 file(s) outside its generation folders: part-train-00000.parquet")


def test_a_set_in_the_layout_before_generations_is_named_not_silently_gone(copy):
    """Sets built before generations kept their files and `_build.json` right under
    <layout>/<fingerprint>/: ls names them with one line instead of dropping them silently."""
    root, folder = copy
    old = folder.parent.parent / ("cd" * 32)
    shutil.copytree(folder, old)
    listing = ffdata("ls", "--root", str(root))
    assert listing.returncode == 0, listing.stderr
    assert listing.stderr.splitlines() == [
        f"warning: {old / '_build.json'}: set in the layout before generations (no "
        "_current.json); build it again to use it; set skipped"
    ]
