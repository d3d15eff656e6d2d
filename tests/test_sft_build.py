"""sft_shards_v2 end to end on the offline manifest: drop reasons, masks, reconciliation,
byte-identical rebuilds; the SFT builders on several worker processes (--workers N)."""

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ffdata.build import build_set
from ffdata.errors import FFDataError, MalformedRow
from ffdata.evalsets import load_evalset
from ffdata.hashing import sha256_file
from ffdata.records import render_alpaca, render_prompt
from ffdata.tokenizer import EOT_ID, decode, encode
from ffdata.workers import OrderedPool, worker_count

from .conftest import REPO, write_gsm8k_manifest

FFDATA = str(Path(sys.executable).parent / "ffdata")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    built, fresh = build_set("sft_shards_v2", root=str(root), quiet=True)
    assert fresh
    return built


def test_every_drop_reason_fires_with_the_right_row(built):
    dropped = pq.read_table(built.dropped_path()).to_pylist()
    got = {(d["source"], d["reason"]) for d in dropped}
    expected = {
        ("openhermes", "refusal"),
        ("openhermes", "empty_turn"),
        ("openhermes", "duplicate"),
        ("openhermes", "near_duplicate"),
        ("openhermes", "unknown_role:tool"),
        ("openhermes", "too_long"),
        ("ultrachat", "contaminated:gsm8k"),  # the pasted GSM8K test question
        ("ultrachat", "no_response"),
        ("wildchat", "non_english"),
        ("wildchat", "toxic"),
        ("wildchat", "refusal"),
        ("gsm8k_train", "over_quota"),
    }
    assert expected <= got, expected - got
    rec = built.record
    assert rec["reconciliation"]["ok"]
    assert rec["reconciliation"]["input"] - rec["counts"]["by_part"]["aug"] == sum(
        rec["reconciliation"]["rows_read"].values()
    )
    assert rec["counts"]["by_source"]["gsm8k_train"] == 3000  # the manifest's cap


def test_rows_carry_ids_masks_and_scrubbed_pii(built):
    rows = built.read_table().to_pylist()
    assert {r["block"] for r in rows} == {"core", "augmentation"}
    for r in rows[:400] + rows[-200:]:
        prompt = encode(render_prompt(r["instruction"], r["system"]))
        assert r["input_ids"][: len(prompt)] == prompt
        assert r["input_ids"] == encode(
            render_alpaca(r["instruction"], r["response"], r["system"])
        ) + [EOT_ID]
        assert sum(r["loss_mask"]) == r["n_loss_tokens"] == len(r["input_ids"]) - len(prompt)
        trained = [t for t, m in zip(r["input_ids"], r["loss_mask"], strict=True) if m]
        assert decode(trained) == r["response"] + "<|endoftext|>"
        assert r["n_tokens"] <= 1024
    text = "\n".join(r["text"] for r in rows)
    assert "jane.doe@example.com" not in text and "<EMAIL>" in text
    scrubbed = [json.loads(r["meta"]).get("pii_scrubbed") for r in rows]
    assert {"email": 2, "phone": 1} in scrubbed
    multi = [
        r for r in rows if r["source"] == "ultrachat" and r["instruction"].startswith("User: ")
    ]
    assert multi and multi[0]["instruction"].count("User: ") >= 2
    aug = [r for r in rows if r["block"] == "augmentation"]
    variants = {json.loads(r["meta"])["variant"] for r in aug}
    assert variants == {"final_answer_only", "system_prompt"}
    for r in aug:
        meta = json.loads(r["meta"])
        assert meta["parent_id"] and meta["parent_source"]
        if meta["variant"] == "final_answer_only":
            assert r["format"] == "numeric" and r["response"].lstrip("-").replace(".", "").isdigit()
    assert built.record["tokens"] == sum(r["n_tokens"] for r in rows)


def test_rebuild_is_byte_identical(built, tmp_path):
    again, fresh = build_set("sft_shards_v2", root=str(tmp_path), quiet=True)
    assert fresh and again.fingerprint == built.fingerprint
    assert [s["sha256"] for s in again.record["shards"]] == [
        s["sha256"] for s in built.record["shards"]
    ]


def test_manifest_targets_stay_in_the_record_and_the_audit_compares_them(built, tmp_path):
    import yaml

    from ffdata.audit import connect, run_audit

    manifest = yaml.safe_load((REPO / "manifests" / "sft_shards_v2.yaml").read_text())
    for src in manifest["sources"]:  # a project of its own: source paths stay inside it
        (tmp_path / src["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / src["path"], tmp_path / src["path"])
    manifest["targets"]["by_block"] = {"core": 5000, "augmentation": 400}
    (tmp_path / "manifests").mkdir()
    shutil.copy(REPO / "manifests" / "errata.csv", tmp_path / "manifests" / "errata.csv")
    path = tmp_path / "manifests" / "sft_shards_v2.yaml"
    path.write_text(yaml.safe_dump(manifest))
    s, _ = build_set("sft_shards_v2", path, root=str(tmp_path / "root"), quiet=True)
    assert s.record["targets"]["by_block"] == {"core": 5000, "augmentation": 400}
    by_block = s.record["counts"]["by_block"]
    results = run_audit(connect(str(tmp_path / "root"), evalsets=False), "sft_shards_v2")
    comp = next(r for r in results if r.title.startswith("Targets vs actual"))
    rows = {r[0]: dict(zip(comp.columns, r, strict=True)) for r in comp.rows}
    assert rows["by_block.core"]["actual"] == by_block["core"]
    assert rows["by_block.core"]["deviation"] == by_block["core"] - 5000
    assert rows["by_block.augmentation"]["actual"] == by_block["augmentation"]


# ------------------------------------------------------------------ --workers N


def _outputs(built) -> dict:
    """What must not depend on the worker count: each shard and _dropped.parquet by sha256,
    and the build record's counts (everything but its timestamps and timings)."""
    rec = built.record
    keys = ("fingerprint", "rows", "tokens", "counts", "dropped", "reconciliation", "targets")
    return {
        "shards": [(s["path"], s["sha256"]) for s in rec["shards"]],
        "dropped_file": sha256_file(built.dropped_path()),
        **{k: rec[k] for k in (*keys, "contamination_reported")},
    }


def _build_with(monkeypatch, workers: int, *args, **kwargs):
    """build_set with FFDATA_WORKERS (what `ffdata build --workers N` sets); also returns the
    CPU seconds spent by child processes that ended meanwhile (the workers)."""
    monkeypatch.setenv("FFDATA_WORKERS", str(workers))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    built, fresh = build_set(*args, quiet=True, **kwargs)
    _reap_workers()  # a worker ends after the pool closes its pipe: count its CPU once it has
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert fresh
    return built, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _gsm8k_project(tmp_path, edit) -> Path:
    """gsm8k_sft over GSM8K train with rows changed by `edit(lines)`, quota 2,000 of 7,473
    (several chunks of work: the workers read ahead of the decisions)."""
    project = tmp_path / "p"
    write_gsm8k_manifest(project)
    src = project / "data/sources/gsm8k/train.jsonl"
    lines = src.read_text().splitlines()
    edit(lines)
    src.write_text("\n".join(lines) + "\n")
    return write_gsm8k_manifest(
        project, rows=2000, decontam=("gsm8k",), sha256=sha256_file(src), rows_per_shard=500
    )


def test_gsm8k_sft_with_two_workers_is_byte_identical(tmp_path, monkeypatch):
    item = load_evalset("gsm8k", "bundled")[3]
    test_item = {"question": item.question, "answer": item.answer}

    def edit(lines):
        row = json.loads(lines[100])
        lines[100] = json.dumps({**row, "answer": row["answer"].split("####")[0]})  # malformed
        lines[900] = json.dumps(test_item)  # contaminated:gsm8k
        row = json.loads(lines[1500])  # quarantined on read, three chunks ahead of row 0
        lines[1500] = json.dumps({**row, "question": "\u202e" + row["question"]})

    m = _gsm8k_project(tmp_path, edit)
    one, _ = _build_with(monkeypatch, 1, "gsm8k_sft", m, root=str(tmp_path / "w1"))
    two, child_cpu = _build_with(monkeypatch, 2, "gsm8k_sft", m, root=str(tmp_path / "w2"))
    assert child_cpu > 0  # the per-row work ran in worker processes
    assert _outputs(two) == _outputs(one)
    reasons = set(one.record["dropped"]["by_reason"])
    assert {"malformed", "contaminated:gsm8k", "bidi_override", "over_quota"} <= reasons
    assert one.record["rows"] == 2000


def test_sft_shards_v2_with_two_workers_is_byte_identical(built, tmp_path, monkeypatch):
    two, child_cpu = _build_with(monkeypatch, 2, "sft_shards_v2", root=str(tmp_path))
    assert child_cpu > 0
    assert _outputs(two) == _outputs(built)


@pytest.mark.parametrize("batch", [1, 37, 2048])
def test_the_batch_size_changes_nothing(built, tmp_path, monkeypatch, batch):
    """Rows are decided in batches as one process would decide them one by one. With the cap
    checked after a batch's other checks, rows past gsm8k_train's cap in the batch that filled
    it were dropped for their own reasons (contaminated, duplicate: entering the duplicate
    index, so that a later source's copy of a row never kept was dropped) while rows in later
    batches were over_quota; and _dropped.parquet's order followed the batches."""
    import builders.sft_shards_v2 as builder

    monkeypatch.setattr(builder, "BATCH", batch)
    other, _ = build_set("sft_shards_v2", root=str(tmp_path), quiet=True)
    assert _outputs(other) == _outputs(built)
    dropped = pq.read_table(other.dropped_path()).to_pylist()
    rows = [(d["source"], d["source_row"]) for d in dropped if d["source"] != "augmentation"]
    order = {s: k for k, s in enumerate(dict.fromkeys(source for source, _ in rows))}
    assert rows == sorted(rows, key=lambda r: (order[r[0]], r[1]))  # each source in row order
    past_cap = [d for d in dropped if d["source"] == "gsm8k_train" and d["reason"] != "over_quota"]
    first_over = min(d["source_row"] for d in dropped if d["reason"] == "over_quota")
    assert all(d["source_row"] < first_over for d in past_cap)


def test_a_bad_row_stops_every_worker_count_with_the_same_one_line(tmp_path, monkeypatch):
    def edit(lines):
        lines[600] = json.dumps({"question": json.loads(lines[600])["question"]})
        lines[1600] = "{not json"  # read ahead by the workers, after the row-600 error

    m = _gsm8k_project(tmp_path, edit)
    for workers in (1, 2):
        monkeypatch.setenv("FFDATA_WORKERS", str(workers))
        with pytest.raises(FFDataError) as e:
            build_set("gsm8k_sft", m, root=str(tmp_path / "r"), quiet=True)
        assert str(e.value) == "gsm8k_train row 600: field 'answer' missing or empty"
    out = subprocess.run(
        [FFDATA, "build", "gsm8k_sft", "--manifest", str(m), "--root", str(tmp_path / "r")]
        + ["--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: gsm8k_train row 600: field 'answer' missing or empty"]
    assert not list((tmp_path / "r").rglob("_build.json"))  # no set, not even a partial one


def _square(work):
    return work * work


TEST_PID = os.getpid()


def _dies_in_a_worker(work):
    if os.getpid() != TEST_PID:
        os._exit(7)  # a worker killed mid-task (out of memory, a signal)
    time.sleep(0.2)  # slow here, so the parent cannot take every chunk before a worker starts
    return work


def _pid_after_a_nap(work):
    time.sleep(0.02)
    return os.getpid()


def _malformed(work):
    raise MalformedRow("answer", "is null", f"train.jsonl:{work}")


def _bug(work):
    return 1 // (work - 2)


def test_ordered_pool_answers_in_order_and_fails_loudly():
    with OrderedPool(_square, workers=2) as pool:
        got = list(pool.map((k, k) for k in range(20)))
    assert got == [(k, k * k) for k in range(20)]
    with pytest.raises(FFDataError, match=r"a build worker process died \(exit code 7\)"):
        with OrderedPool(_dies_in_a_worker, workers=2) as pool:
            list(pool.map((k, k) for k in range(8)))
    # an error class that does not unpickle still arrives as its one line
    with pytest.raises(FFDataError, match=r"^train.jsonl:0: field 'answer' is null$"):
        with OrderedPool(_malformed, workers=2) as pool:
            list(pool.map([(0, 0)]))
    answered = []
    with pytest.raises(ZeroDivisionError):  # a bug keeps its type, raised in its chunk's turn
        with OrderedPool(_bug, workers=2) as pool:
            for tag, _ in pool.map((k, k) for k in range(5)):
                answered.append(tag)
    assert answered == [0, 1]


def test_two_workers_are_two_busy_processes():
    """--workers 2 was two forked workers and a parent that read rows and waited for them:
    three processes on two cores. Now the parent is one of the two: while the next answer
    due is not ready, it does the next chunk itself (in order, whoever did it)."""
    with OrderedPool(_pid_after_a_nap, workers=2) as pool:
        pids = [pid for _, pid in pool.map((k, k) for k in range(12))]
    assert len(set(pids)) == 2 and os.getpid() in pids
    with OrderedPool(_pid_after_a_nap, workers=1) as pool:
        assert {pid for _, pid in pool.map((k, k) for k in range(3))} == {os.getpid()}


RAN = {"dir": None}  # where a worker notes each chunk it ran (set before the pool forks)


def _pid_slow_in_a_worker(work):
    if os.getpid() != TEST_PID:
        (RAN["dir"] / f"{work}").touch()
    time.sleep(1.0 if os.getpid() != TEST_PID else 0.05)
    return os.getpid()


def test_the_parent_takes_back_chunks_no_worker_started_and_none_runs_twice(tmp_path):
    """Chunks handed to a busy worker that it has not started are done here instead (at the end
    of the input, rather than wait for them one after the other), and the worker then skips
    them: a chunk is done once, by whoever claimed it first."""
    RAN["dir"] = tmp_path
    with OrderedPool(_pid_slow_in_a_worker, workers=2) as pool:
        pids = [pid for _, pid in pool.map((k, k) for k in range(6))]
    assert pids[0] != TEST_PID and pids[1:] == [TEST_PID] * 5
    _reap_workers()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0"]  # 1 and 2 were handed to it


def _bug_in_a_worker(work):
    if os.getpid() != TEST_PID:
        return {}["no such key"]
    time.sleep(0.2)
    return work


def test_a_workers_bug_arrives_with_the_workers_traceback():
    with pytest.raises(KeyError) as info:
        with OrderedPool(_bug_in_a_worker, workers=2) as pool:
            list(pool.map((k, k) for k in range(8)))
    cause = str(info.value.__cause__)
    assert ", in _bug_in_a_worker\n" in cause and "KeyError: 'no such key'" in cause


def test_a_claim_lock_never_released_is_an_error_not_a_hang(monkeypatch):
    """A worker killed inside its few microseconds under the claim lock would leave it held:
    the parent says so after LOCK_WAIT_S instead of waiting forever (and its workers stop)."""
    import ffdata.workers

    monkeypatch.setattr(ffdata.workers, "LOCK_WAIT_S", 1.0)
    with pytest.raises(FFDataError, match="held the chunk lock for 1 s"):
        with OrderedPool(_pid_after_a_nap, workers=2) as pool:
            pool._lock.acquire()  # as a worker that died holding it would
            list(pool.map((k, k) for k in range(12)))
    _reap_workers()


def _reap_workers(timeout: float = 60) -> None:
    import multiprocessing

    deadline = time.time() + timeout
    while multiprocessing.active_children() and time.time() < deadline:
        time.sleep(0.01)
    assert not multiprocessing.active_children(), "a worker outlived its pool"


def test_worker_count_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("FFDATA_WORKERS", raising=False)
    assert worker_count() == 1
    monkeypatch.setenv("FFDATA_WORKERS", "3")
    assert worker_count() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("FFDATA_WORKERS", bad)
        with pytest.raises(FFDataError, match="FFDATA_WORKERS must be"):
            worker_count()
