"""Foundation behaviour: fingerprints, byte-identical rebuilds, atomic publication, verify, bad input."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.sets import list_sets, open_set
from tests.conftest import write_gsm8k_manifest

FFDATA = str(Path(sys.executable).parent / "ffdata")


def shard_hashes(built):
    return [(s["path"], s["sha256"]) for s in built.record["shards"]]


def test_build_twice_gives_identical_shards_and_new_seed_new_fingerprint(tmp_path):
    m = write_gsm8k_manifest(tmp_path / "p", rows=250)
    a, fresh_a = build_set("gsm8k_sft", m, str(tmp_path / "root1"), quiet=True)
    b, fresh_b = build_set("gsm8k_sft", m, str(tmp_path / "root2"), quiet=True)
    assert fresh_a and fresh_b
    assert a.fingerprint == b.fingerprint
    assert shard_hashes(a) == shard_hashes(b)
    assert [s["path"] for s in a.record["shards"]] == [
        "part-train-00000.parquet",
        "part-train-00001.parquet",
        "part-train-00002.parquet",
    ]
    again, fresh = build_set("gsm8k_sft", m, str(tmp_path / "root1"), quiet=True)
    assert not fresh and again.fingerprint == a.fingerprint

    m2 = write_gsm8k_manifest(tmp_path / "p2", seed=7, rows=250)
    c, _ = build_set("gsm8k_sft", m2, str(tmp_path / "root1"), quiet=True)
    assert c.fingerprint != a.fingerprint
    assert len(list_sets(str(tmp_path / "root1"))) == 2


def test_build_record_reconciles_and_counts(tmp_path):
    m = write_gsm8k_manifest(tmp_path / "p", rows=120)
    built, _ = build_set("gsm8k_sft", m, str(tmp_path / "root"), quiet=True)
    rec = built.record
    assert rec["rows"] == 120 == rec["counts"]["by_part"]["train"]
    r = rec["reconciliation"]
    assert r["input"] == r["kept"] + r["dropped"] == 7473
    assert r["rows_read"] == {"gsm8k_train": 7473}
    assert rec["dropped"]["by_reason"] == {"over_quota": 7353}
    dropped = pq.read_table(built.dropped_path())
    assert dropped.num_rows == 7353 and set(dropped["reason"].to_pylist()) == {"over_quota"}
    table = built.read_table("train")
    assert table.num_rows == 120
    first = table.slice(0, 1).to_pylist()[0]
    assert first["text"].startswith(
        "### System:\nYou are FF-LLM, a helpful assistant.\n### Instruction:\n"
    )
    assert "\n### Response:\n" in first["text"] and "<<" not in first["response"]
    assert rec["tokens"] > 120 * 50


def test_verify_catches_one_flipped_byte(tmp_path):
    root = tmp_path / "root"
    m = write_gsm8k_manifest(tmp_path / "p", rows=150)
    built, _ = build_set("gsm8k_sft", m, str(root), quiet=True)
    ok = subprocess.run(
        [FFDATA, "verify", "gsm8k_sft", "--root", str(root)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    shard = built.storage.path(f"{built.prefix}/part-train-00001.parquet")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    bad = subprocess.run(
        [FFDATA, "verify", "gsm8k_sft", "--root", str(root)], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "part-train-00001.parquet: sha256 mismatch" in bad.stderr
    with pytest.raises(FFDataError, match="sha256 mismatch"):
        open_set(str(root), "gsm8k_sft").verify()


def test_killed_build_leaves_no_visible_set_and_next_build_completes(tmp_path):
    root = tmp_path / "root"
    m = write_gsm8k_manifest(tmp_path / "p", rows=7473, rows_per_shard=20)
    proc = subprocess.Popen(
        [FFDATA, "build", "gsm8k_sft", "--manifest", str(m), "--root", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = root / "sft" / "gsm8k" / "_staging"
    deadline = time.time() + 60
    while time.time() < deadline and not list(staging.glob("*/part-train-00003.parquet")):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(staging.glob("*/part-*.parquet")), "the build was killed before writing a shard"
    assert not list(root.rglob("_build.json"))
    assert list_sets(str(root)) == []
    listing = subprocess.run([FFDATA, "ls", "--root", str(root)], capture_output=True, text=True)
    assert "gsm8k_sft" not in listing.stdout
    built, fresh = build_set("gsm8k_sft", m, str(root), quiet=True)
    assert fresh and built.record["rows"] > 7000
    built.verify()
    assert not list(staging.glob("*/*"))  # the staging leftovers were replaced and moved


def cli_build(manifest, root):
    return subprocess.run(
        [FFDATA, "build", "gsm8k_sft", "--manifest", str(manifest), "--root", str(root)],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    "case, expect",
    [
        ("missing_file", "file not found"),
        ("sha_mismatch", "sha256 mismatch"),
        ("escapes_root", "escapes the project folder"),
        ("malformed_line", "train.jsonl:3: malformed JSON"),
        ("non_utf8", "train.jsonl:2: not valid UTF-8"),
        ("unknown_builder", "unknown builder 'nosuch'"),
    ],
)
def test_bad_input_is_one_clear_line_and_no_visible_set(tmp_path, case, expect):
    project = tmp_path / "p"
    kwargs = {}
    if case == "missing_file":
        kwargs["source_path"] = "data/sources/gsm8k/absent.jsonl"
    elif case == "sha_mismatch":
        kwargs["sha256"] = "ab" * 32
    elif case == "escapes_root":
        kwargs["source_path"] = "../outside.jsonl"
        (tmp_path / "outside.jsonl").write_text("{}\n")
    m = write_gsm8k_manifest(project, rows=10, **kwargs)
    if case in ("malformed_line", "non_utf8"):
        bad = project / "data/sources/gsm8k/train.jsonl"
        good = '{"question": "q", "answer": "a\\n#### 1"}\n'
        body = good + good + '{"question": oops}\n' if case == "malformed_line" else good
        data = body.encode() + (b'{"question": "caf\xe9"}\n' if case == "non_utf8" else b"")
        bad.write_bytes(data)
        from ffdata.hashing import sha256_file

        m = write_gsm8k_manifest(project, rows=10, sha256=sha256_file(bad))
    if case == "unknown_builder":
        m.write_text(m.read_text().replace('version: "1"', 'version: "1"\nbuilder: nosuch'))
    out = cli_build(m, tmp_path / "root")
    assert out.returncode == 2
    errors = [line for line in out.stderr.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr
    assert expect in out.stderr.replace("\n", ""), out.stderr
    assert not list((tmp_path / "root").rglob("_build.json"))


def test_build_cli_prints_path_and_fingerprint_then_is_a_noop(tmp_path):
    m = write_gsm8k_manifest(tmp_path / "p", rows=50)
    first = cli_build(m, tmp_path / "root")
    assert first.returncode == 0, first.stderr
    fp = next(
        line.split()[-1] for line in first.stdout.splitlines() if line.startswith("fingerprint")
    )
    assert len(fp) == 64 and (tmp_path / "root/sft/gsm8k" / fp / "g-1" / "_build.json").exists()
    assert (tmp_path / "root/sft/gsm8k/latest").read_text() == fp
    second = cli_build(m, tmp_path / "root")
    assert "already built" in second.stdout and fp in second.stdout
    show = subprocess.run(
        [FFDATA, "show", "gsm8k_sft", "--root", str(tmp_path / "root")],
        capture_output=True,
        text=True,
    )
    assert json.loads(show.stdout)["fingerprint"] == fp


# Recipes and the recipe half of their fingerprints (ffdata.build.recipe_digest: the resolved
# manifest, its inputs, the builder and its VERSION) as of this writing. A build is found again
# by its fingerprint, so a change to how recipes are hashed (a new manifest field dumped as
# null, say) would silently rebuild every set under a new name. The code half of the
# fingerprint changes with every edit of the code that shapes a set, on purpose, and is tested
# below instead of pinned. Re-pinned 2026-12-04: decontamination v2, errata, the teacher's
# identity, shortcut gates and new repair/surgical recipes changed every recipe once.
PINNED_RECIPES = {
    "manifests/distill_v3.yaml": "6d4af4de34ee889e1e5229a6b740f5aeaa2b25f8416f9ffe3cb2b2abe09ea73d",
    "manifests/dpo_v1.yaml": "3196fb3df6cbdf25d33dfdb9f8dc76944deb3edb94a038d048d875c32ab0227f",
    "manifests/dpo_v2.yaml": "612aa88fec858dfd94a74e509dd6520dc462e256d1569651a77bc7ffdde2a6e0",
    "manifests/format_only_v1.yaml": "3fe6be671291eb51368f3230d8396291507b115fe1c9cb4de006bd25fb960902",
    "manifests/format_only_v3.yaml": "3de5146ff0edf3aa617c5a4a911fa0d65126c9a395e2ca7ddcfc8718e3240c48",
    "manifests/gsm8k_sft.yaml": "3942f8922378a92e639cd48baf3109c6154a1a7c444ffc06f2ed88bb04dce355",
    "manifests/lora_v4b.yaml": "5a623321a5082adeec28d4ff9aba3795f5d10b5e135f424778111c1d9d16945a",
    "manifests/pretrain_mix.yaml": "b50292bdea195d73f70bd2b421ddb5c26b367bed30805e327bdacbb5ea5c7b81",
    "manifests/pretrain_mix_full.yaml": "67f11b971c795f3d3037e51154de239e89d71af19490018a0e05ebed742edc49",
    "manifests/repair_blocks.yaml": "88832a816b5511e77545d956b12a2a96125864d53b86e2ef22beff787823b44c",
    "manifests/sft_shards_v2.yaml": "d41115f6438cace5a704db92191d98053b47737898c7179cbbce613e24a7fc70",
    "manifests/surgical.yaml": "fa27aef3e1b3ec8f18946a554459d70f6cbb4ac4e696b11dcf1cc9ccf63232c5",
    "manifests/full/distill_v3.yaml": "9c6f461402921fa144f46bc9f4e1abab296708ab34cf2380f516ebe4e21e1b0e",
    "manifests/full/dpo_v1.yaml": "cd24ea7856289e0f6108c05f620a453a60f29d7b8e05d0f8104cf9747cbda509",
    "manifests/full/dpo_v2.yaml": "48eb47bc57270e91fe5737d77186f14a77f3d01990e5ea9fa46ca1ea95ea6681",
    "manifests/full/sft_shards_v2.yaml": "333fbb50ebc14ac47e7efc7c46d6a8eb4342c028e119bf30ae67a259f03eb87a",
}


def test_recipe_digests_change_only_with_the_recipe():
    from ffdata.build import build_inputs, load_builder, project_dir, recipe_digest
    from ffdata.manifest import load_manifest

    repo = Path(__file__).resolve().parent.parent
    for rel, pinned in PINNED_RECIPES.items():
        manifest = load_manifest(repo / rel)
        builder = manifest.builder or manifest.name
        inputs = build_inputs(manifest, project_dir(repo / rel), "bundled")
        got = recipe_digest(manifest, inputs, builder, load_builder(builder).VERSION)
        assert got == pinned, (
            f"{rel}: recipe digest {got[:12]}, pinned {pinned[:12]}. If the recipe, its inputs "
            "or its builder's VERSION changed on purpose, update PINNED_RECIPES; if not, "
            "the hashing changed and every built set would be rebuilt under a new name"
        )


def test_an_edit_of_a_generator_changes_the_fingerprint_of_the_sets_it_shapes(tmp_path):
    """The fingerprint hashed only the builder's VERSION: an edit of
    ffdata/generators/numeric.py rebuilt nothing and published new bytes under the old name.
    Now the code digest covers every project module the builder (and the runner) imports."""
    from ffdata.build import fingerprint
    from ffdata.codehash import code_digest
    from ffdata.manifest import load_manifest

    repo = Path(__file__).resolve().parent.parent
    for pkg in ("builders", "ffdata"):
        shutil.copytree(
            repo / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("data", "__pycache__")
        )
    before = {b: code_digest(b, tmp_path) for b in ("repair_blocks", "gsm8k_sft")}
    assert "ffdata/generators/numeric.py" in before["repair_blocks"]["files"]
    assert "ffdata/build.py" in before["gsm8k_sft"]["files"]  # the runner shapes every set

    numeric = tmp_path / "ffdata" / "generators" / "numeric.py"
    numeric.write_text(numeric.read_text() + "\n# an edit\n")
    after = {b: code_digest(b, tmp_path) for b in ("repair_blocks", "gsm8k_sft")}
    assert after["repair_blocks"]["digest"] != before["repair_blocks"]["digest"]
    assert after["gsm8k_sft"] == before["gsm8k_sft"]  # it does not import the generators

    m = load_manifest(repo / "manifests" / "repair_blocks.yaml")
    fps = {
        fingerprint(m, {}, "repair_blocks", "1", d["repair_blocks"]["digest"])
        for d in (before, after)
    }
    assert len(fps) == 2


def test_the_code_closure_follows_lazy_and_relative_imports(tmp_path):
    from ffdata.codehash import module_closure

    (tmp_path / "builders").mkdir()
    (tmp_path / "builders" / "__init__.py").write_text("")
    (tmp_path / "ffdata" / "sub").mkdir(parents=True)
    (tmp_path / "ffdata" / "__init__.py").write_text("")
    (tmp_path / "ffdata" / "sub" / "__init__.py").write_text("")
    (tmp_path / "ffdata" / "sub" / "a.py").write_text("from . import b\n")
    (tmp_path / "ffdata" / "sub" / "b.py").write_text("import json\n")
    (tmp_path / "ffdata" / "lazy.py").write_text("X = 1\n")
    (tmp_path / "ffdata" / "unused.py").write_text("")
    (tmp_path / "builders" / "x.py").write_text(
        "from ffdata.sub import a\n\ndef build(ctx):\n    from ffdata import lazy\n"
    )
    got = {p.relative_to(tmp_path).as_posix() for p in module_closure(["builders.x"], tmp_path)}
    assert got == {
        "builders/__init__.py", "builders/x.py", "ffdata/__init__.py", "ffdata/lazy.py",
        "ffdata/sub/__init__.py", "ffdata/sub/a.py", "ffdata/sub/b.py",
    }  # fmt: skip


def test_the_cached_import_lists_follow_every_edit(tmp_path, monkeypatch):
    """Import lists are cached by file content (a build spent ~0.1 s parsing them): an edit
    that adds an import must reach the closure, and a damaged cache entry is scanned again."""
    from ffdata.codehash import module_closure

    monkeypatch.setenv("FFDATA_CACHE", str(tmp_path / "cache"))
    project = tmp_path / "p"
    for pkg in ("builders", "ffdata"):
        (project / pkg).mkdir(parents=True)
        (project / pkg / "__init__.py").write_text("")
    (project / "ffdata" / "a.py").write_text("X = 1\n")
    (project / "ffdata" / "b.py").write_text("Y = 2\n")
    (project / "builders" / "x.py").write_text("from ffdata import a\n")

    def closure():
        paths = module_closure(["builders.x"], project)
        return {p.relative_to(project).as_posix() for p in paths}

    assert "ffdata/b.py" not in closure()
    entries = list((tmp_path / "cache" / "codehash").glob("*.json"))
    assert len(entries) == 4  # two inits, x.py, a.py
    (project / "ffdata" / "a.py").write_text("from ffdata import b\nX = 1\n")
    assert "ffdata/b.py" in closure()  # new bytes, new key: scanned, not served stale
    for entry in (tmp_path / "cache" / "codehash").glob("*.json"):
        entry.write_text("{damaged")
    assert "ffdata/b.py" in closure()


def test_a_second_build_of_the_same_recipe_waits_and_finds_the_first(tmp_path):
    """Two builds of one recipe shared one staging folder: the second deleted the first's
    shards mid-build and it crashed. Now the second waits on the recipe's lock, then finds
    the set the first published."""
    import fcntl

    from ffdata.storage import open_storage

    root = tmp_path / "root"
    m = write_gsm8k_manifest(tmp_path / "p", rows=7473, rows_per_shard=500)
    cmd = [FFDATA, "build", "gsm8k_sft", "--manifest", str(m), "--root", str(root)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staging = root / "sft" / "gsm8k" / "_staging"
    deadline = time.time() + 120
    while time.time() < deadline and not list(staging.glob("*/")):  # the first holds the lock
        time.sleep(0.01)
    (fp_dir,) = staging.glob("*/")
    lock = open_storage(str(root)).lock_path(f"sft/gsm8k/{fp_dir.name}")
    with open(lock) as f:  # the first build holds it while its staging folder exists
        with pytest.raises(BlockingIOError):
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    second = subprocess.run(cmd, capture_output=True, text=True)
    out_first, err_first = first.communicate(timeout=300)
    assert first.returncode == 0, err_first[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    assert "waiting for another build of sft/gsm8k/" in second.stderr
    assert "already built" in second.stdout and "already built" not in out_first
    fingerprints = {
        line for line in (out_first + second.stdout).splitlines() if "fingerprint:" in line
    }
    assert len(fingerprints) == 1
    open_set(str(root), "gsm8k_sft").verify()


def test_setwriter_add_after_add_table_on_one_part_is_an_error(tmp_path):
    """`add` after `add_table` on the same part buffered rows that `_flush` never wrote (it
    writes a part's tables only), while the context counted them kept."""
    import pyarrow as pa

    from ffdata.records import RECORD_SCHEMA
    from ffdata.sets import SetWriter

    row = {name: None for name in RECORD_SCHEMA.names}
    row.update(id="a", text="t", source="s", source_row=0)
    writer = SetWriter(tmp_path / "stage", rows_per_shard=10)
    writer.add_table("p", pa.Table.from_pylist([row], schema=RECORD_SCHEMA))
    with pytest.raises(FFDataError, match="part 'p': rows added both as tables and one by one"):
        writer.add("p", dict(row, id="b"))
    writer.add("q", dict(row, id="c"))  # another part may take rows one by one
    shards = writer.close([])
    assert sorted((s["part"], s["rows"]) for s in shards) == [("p", 1), ("q", 1)]


def test_shards_and_row_groups_do_not_depend_on_how_rows_arrive(tmp_path, monkeypatch):
    """SetWriter streams row groups of ROW_GROUP rows into each shard during the build: the
    bytes must follow the rows alone, whether a builder adds them one by one or in tables of
    any size (a worker's chunk, a dedup batch)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ffdata import sets
    from ffdata.records import RECORD_SCHEMA

    monkeypatch.setattr(sets, "ROW_GROUP", 7)
    rows = []
    for i in range(40):
        row = {name: None for name in RECORD_SCHEMA.names}
        rows.append(dict(row, id=f"r{i}", text=f"row {i} " * (i % 5 + 1), source="s", source_row=i))
    table = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)

    def shards(feed, name):
        writer = sets.SetWriter(tmp_path / name, rows_per_shard=16)
        feed(writer)
        return writer, [(s["path"], s["rows"], s["sha256"], s["tokens"]) for s in writer.close([])]

    def one_by_one(w):
        for row in rows:
            w.add("p", row)

    def in_pieces(w):
        at = 0
        for n in (3, 11, 1, 25):
            w.add_table("p", table.slice(at, n))
            at += n

    _, single = shards(one_by_one, "a")
    _, pieces = shards(in_pieces, "b")
    _, whole = shards(lambda w: w.add_table("p", table), "c")
    assert single == pieces == whole
    assert [s[1] for s in single] == [16, 16, 8]
    first = pq.ParquetFile(tmp_path / "a" / "part-p-00000.parquet")
    groups = [first.metadata.row_group(g).num_rows for g in range(first.num_row_groups)]
    assert groups == [7, 7, 2]
    back = pa.concat_tables(pq.read_table(tmp_path / "a" / s[0]) for s in single)
    assert back.column("id").to_pylist() == [r["id"] for r in rows]


def test_a_glob_character_in_the_root_path_reads_only_that_root(tmp_path):
    """DuckDB globbed a `*` in a local root path: with a sibling folder that matched,
    `ffdata sql` counted both sets' rows. Paths handed to read_parquet are escaped."""
    import shutil

    root = tmp_path / "r*t"
    m = write_gsm8k_manifest(tmp_path / "p", rows=50)
    build_set("gsm8k_sft", m, str(root), quiet=True)
    shutil.copytree(root, tmp_path / "rXt")  # matches the pattern r*t
    out = subprocess.run(
        [FFDATA, "sql", "SELECT count(*) AS n FROM gsm8k_sft", "--format", "csv",
         "--root", str(root)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["n", "50"]
