"""Kill a real pretrain_mix build in the middle of a stage, rerun it: datatrove's completion
files make the rerun skip every finished task, redo the interrupted one, and give the same bytes."""

import os
import signal
import subprocess
import sys
import time

import yaml

from ffdata.build import build_set
from ffdata.pretrain.sample import PROJECT, make_tiny_project
from ffdata.sets import list_sets


def _project(tmp_path):
    manifest = make_tiny_project(tmp_path / "proj", rows=16, total_tokens=12_000, tolerance=0.08,
                                 options={"tokenize_batch": 4, "keep_work": True})  # fmt: skip
    data = yaml.safe_load(manifest.read_text())
    data["decontamination"]["targets"] = []  # keeps each process from building the eval index
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    return manifest


def test_a_killed_build_resumes_without_redoing_finished_tasks(tmp_path):
    manifest = _project(tmp_path)
    root = tmp_path / "root"
    marker = tmp_path / "paused"
    env = dict(
        os.environ, FFDATA_TEST_PAUSE_AFTER="tokenize:3", FFDATA_TEST_PAUSE_MARKER=str(marker)
    )
    code = (
        "from ffdata.build import build_set; "
        f"build_set('pretrain_mix', {str(manifest)!r}, root={str(root)!r}, quiet=True)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, "the build exited before reaching the kill point"
        assert time.monotonic() < deadline, "the build never reached the kill point"
        time.sleep(0.2)
    # the build and its datatrove workers, with no cleanup of any kind: like a lost node (a
    # surviving worker would hold the recipe's build lock, and the rerun would wait for it)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list_sets(str(root)) == []  # nothing published

    work = next((root / "pretrain" / "_work").iterdir())
    done = sorted(p.name for p in (work / "logs" / "tokenize" / "completions").iterdir())
    assert done == ["00000", "00001", "00002"]  # task 3 was killed half-way through
    assert (work / "tokens" / "00003.bin").exists()
    filtered = {p: p.stat().st_mtime_ns for p in (work / "filtered").rglob("*.jsonl.gz")}
    assert len(filtered) == 16  # 8 sources x 2 filter tasks (row ranges of one file)

    resumed, fresh = build_set("pretrain_mix", manifest, root=str(root), quiet=True)
    assert fresh
    stages = resumed.record["targets"]["stages"]
    for name, st in stages.items():
        if name.startswith(("filter/", "exact_", "url_", "minhash_")):
            assert st["ran"] == 0 and st["skipped"] == st["tasks"], name
    assert stages["tokenize"] == {"tasks": 16, "ran": 13, "skipped": 3}
    assert stages["write"]["ran"] == stages["write"]["tasks"] > 0
    assert {p: p.stat().st_mtime_ns for p in filtered} == filtered  # not rewritten

    # the resumed build equals a build that was never interrupted
    clean, _ = build_set("pretrain_mix", manifest, root=str(tmp_path / "clean"), quiet=True)
    assert clean.fingerprint == resumed.fingerprint
    assert [s["sha256"] for s in clean.record["shards"]] == [
        s["sha256"] for s in resumed.record["shards"]
    ]
    assert [s["payload"]["sha256"] for s in clean.record["shards"]] == [
        s["payload"]["sha256"] for s in resumed.record["shards"]
    ]
    assert clean.record["dropped"] == resumed.record["dropped"]
