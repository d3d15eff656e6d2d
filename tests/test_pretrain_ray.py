"""pretrain_mix on a real Ray cluster (local, 2 CPUs) through datatrove's RayPipelineExecutor,
driven by the CLI as a user would: `ffdata build pretrain_mix --executor ray`. The set must be
byte-identical to the local executor's build, and a driver killed in the middle of a stage must
resume on the cluster, skipping the tasks that finished."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import yaml

from ffdata.build import build_set
from ffdata.pretrain.sample import PROJECT, make_tiny_project
from ffdata.sets import list_sets

FFDATA = [str(Path(sys.executable).parent / "ffdata")]  # the console script, as a user runs it


def _set_files(root: Path) -> dict[str, bytes]:
    """Every published file of the one set under root except the record (which has times)."""
    (s,) = list_sets(str(root))
    folder = s.storage.path(s.prefix)
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.name.startswith("part-mix-") or p.name == "_dropped.parquet"
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """As small as a real pretrain_mix gets: three sources (JSONL and Parquet readers), one
    task each, exact dedup. Every task is a new Ray actor process (seconds on 2 CPUs), so
    stages and tasks are what the test's time is made of. No decontamination index: each Ray
    task process would build its own, seconds apiece. One task per actor (datatrove's default):
    with more, datatrove forks a process pool inside the actor, and here a pool worker
    deadlocked on its queue lock after its tasks were done."""
    base = tmp_path_factory.mktemp("ray")
    manifest = make_tiny_project(
        base / "proj", rows=10, total_tokens=6_000, tolerance=0.1,
        targets={"shares": {"fineweb": 0.85, "c4": 0.0, "wikipedia": 0.15, "clean_web": 0.0,
                            "news": 0.0}},
        options={"tasks": 1, "tokenize_batch": 2, "keep_work": True,
                 "dedup": {"exact": True, "url": False, "minhash": False},
                 "executor": {"kind": "local", "workers": 2, "ray": {"mem_per_cpu_gb": 0.25}}},
    )  # fmt: skip
    data = yaml.safe_load(manifest.read_text())
    keep = ("fineweb", "fineweb_edu", "wikipedia_en")
    data["sources"] = [s for s in data["sources"] if s["name"] in keep]
    data["decontamination"]["targets"] = []
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    return base, manifest


@pytest.fixture(scope="module")
def reference(project):
    """The local executor's build of the same manifest."""
    base, manifest = project
    s, _ = build_set("pretrain_mix", manifest, root=str(base / "local"), quiet=True)
    return s, _set_files(base / "local")


@pytest.fixture(scope="module")
def cluster():
    """A real local Ray cluster; the CLI runs as a second driver that joins it."""
    ctx = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    # after init: ray.init put its auth settings in this environment for the drivers we start
    env = dict(os.environ, RAY_ADDRESS=ctx.address_info["gcs_address"])
    yield env
    ray.shutdown()


def _build(manifest, root, env, **kw):
    cmd = [*FFDATA, "build", "pretrain_mix", "--manifest", str(manifest), "--root", str(root),
           "--executor", "ray"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)  # fmt: skip


def _record(root: Path) -> dict:
    (s,) = list_sets(str(root))
    return s.record


def _work(root: Path) -> Path:
    return next((root / "pretrain" / "_work").iterdir())


def test_ray_build_is_byte_identical_to_the_local_build(project, reference, cluster):
    base, manifest = project
    root = base / "ray"
    proc = _build(manifest, root, cluster)
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, out[-4000:]
    ref_set, ref_files = reference
    rec = _record(root)
    assert rec["fingerprint"] == ref_set.fingerprint  # the executor is not in the fingerprint
    files = _set_files(root)
    assert sorted(files) == sorted(ref_files)
    assert len([n for n in files if n.endswith(".bin")]) >= 2  # more than one shard
    for name, data in files.items():
        assert data == ref_files[name], name
    # every stage really ran on Ray: datatrove saved a Ray executor's settings for each
    logs = _work(root) / "logs"
    stages = sorted(p.parent.relative_to(logs) for p in logs.rglob("executor.json"))
    assert len(stages) == len(rec["targets"]["stages"])
    for st in stages:
        saved = json.loads((logs / st / "executor.json").read_text())
        assert saved["mem_per_cpu_gb"] == 0.25 and "nodes_per_task" in saved, st


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_ray_driver_resumes_and_ends_with_the_same_bytes(project, reference, cluster,
                                                                    tmp_path):  # fmt: skip
    _, manifest = project
    root = tmp_path / "root"
    marker = tmp_path / "paused"
    env = dict(cluster, FFDATA_TEST_PAUSE_AFTER="tokenize:1", FFDATA_TEST_PAUSE_MARKER=str(marker))
    proc = _build(manifest, root, env, start_new_session=True)
    deadline = time.monotonic() + 900
    while not marker.exists():  # tokenize task 1 pauses half-way, inside a Ray worker
        assert proc.poll() is None, f"the build exited before the kill point:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, "the build never reached the kill point"
        time.sleep(0.2)
    paused_pid = int(marker.read_text().split()[1])
    assert paused_pid != proc.pid  # the pause is in a cluster worker, not in the driver
    completions = _work(root) / "logs" / "tokenize" / "completions"
    while not (completions.exists() and any(completions.iterdir())):  # some tasks have ended
        assert time.monotonic() < deadline, "no tokenize task completed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver only, with no cleanup of any kind
    proc.wait()
    proc.stdout.close()
    try:
        # Ray ends a dead driver's tasks: the paused worker must not live on and write later
        end = time.monotonic() + 120
        while not _gone(paused_pid) and time.monotonic() < end:
            time.sleep(0.5)
        assert _gone(paused_pid), "the paused Ray worker outlived its driver"
    finally:
        if not _gone(paused_pid):
            os.kill(paused_pid, signal.SIGKILL)
    assert list_sets(str(root)) == []  # nothing published

    work = _work(root)
    done = {int(p.name) for p in completions.iterdir()}
    tasks = json.loads((work / "logs" / "tokenize" / "executor.json").read_text())["world_size"]
    assert 1 not in done and 0 < len(done) < tasks
    filtered = {p: p.stat().st_mtime_ns for p in (work / "filtered").rglob("*.jsonl.gz")}
    assert filtered

    proc = _build(manifest, root, cluster)
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, out[-4000:]
    stages = _record(root)["targets"]["stages"]
    for name, st in stages.items():
        if name not in ("tokenize", "write"):
            assert st["ran"] == 0 and st["skipped"] == st["tasks"], name
    assert stages["tokenize"] == {"tasks": tasks, "ran": tasks - len(done), "skipped": len(done)}
    assert {p: p.stat().st_mtime_ns for p in filtered} == filtered  # not rewritten
    assert _set_files(root) == reference[1]


def test_a_ray_stage_with_failed_tasks_fails_instead_of_polling(tmp_path, monkeypatch):
    """RayPipelineExecutor.run() returns once its tasks have ended; a failed task leaves no
    completion file. The driver used to poll for it every 30 s forever, as it does for Slurm
    (whose run() only submits)."""
    from types import SimpleNamespace

    from ffdata.errors import FFDataError
    from ffdata.manifest import load_manifest
    from ffdata.pretrain.config import load_config
    from ffdata.pretrain.pipeline import Pipeline

    m = load_manifest(make_tiny_project(tmp_path / "proj", rows=4))
    m.options["executor"] = {"kind": "ray"}
    monkeypatch.delenv("FFDATA_EXECUTOR", raising=False)
    pipe = Pipeline(load_config(m), tmp_path / "proj", tmp_path / "work")
    ended = SimpleNamespace(get_incomplete_ranks=lambda: [3],
                            logging_dir=SimpleNamespace(path="LOGS"))  # fmt: skip
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail(f"polled ({s} s)"))
    with pytest.raises(FFDataError, match=r"stage tokenize: 1 tasks did not complete \(see LOGS"):
        pipe._wait(ended, "tokenize")
