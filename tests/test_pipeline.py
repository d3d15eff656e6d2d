"""`ffllm pipeline`: stages keyed by their inputs, skipped when done, resumed after a kill, and
re-run downstream of a changed input; the full-size chain validates without running.

The pipeline here is real and small: build gsm8k_sft (300 rows) → train A (a tiny GPT-2 from
its preset, 2 steps) → train B (2 steps from A's checkpoint), each train a real `ffllm train`
subprocess. The whole tiny chain (sweep, SLERP, publish) is `just pipeline tiny`
(docs/pipeline.md); it takes minutes, so it is not part of the suite.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ffdata.errors import FFDataError
from ffllm.pipeline import DONE, check, run_pipeline
from ffllm.train.trainer import KILL_ENV
from tests.conftest import write_gsm8k_manifest

REPO = Path(__file__).resolve().parent.parent

RUN = """\
name: {name}
stage: sft
seed: 0
model: {{preset: tiny}}
data: {{set: gsm8k_sft, seq_len: 256}}
optim: {{lr: 1.0e-3}}
schedule: {{max_steps: 2}}
batch: {{micro: 2, global: 2}}
checkpoint: {{every: 1}}
runtime: {{precision: fp32, compile: "off"}}
"""

PIPELINE = """\
name: t
stages:
  - {kind: build, name: gsm8k_sft, set: gsm8k_sft}
  - {kind: train, name: a, run: manifests/train/a.yaml}
  - {kind: train, name: b, run: manifests/train/b.yaml}
"""


@pytest.fixture
def project(tmp_path):
    write_gsm8k_manifest(tmp_path, seed=0, rows=300)
    (tmp_path / "manifests" / "train").mkdir()
    for name in ("a", "b"):
        (tmp_path / "manifests" / "train" / f"{name}.yaml").write_text(RUN.format(name=name))
    (tmp_path / "manifests" / "selection").mkdir()
    rule = "name: r\nbaseline: ckpt-3\nweak_domains: [stem]\nmmlu: {shots: 0, quick: true}\n"
    (tmp_path / "manifests" / "selection" / "r.yaml").write_text(rule)
    (tmp_path / "manifests" / "pipelines").mkdir()
    path = tmp_path / "manifests" / "pipelines" / "t.yaml"
    path.write_text(PIPELINE)
    return path


def statuses(record: dict) -> dict[str, str]:
    return {r["stage"]: r["status"] for r in record["stages"]}


def keys(record: dict) -> dict[str, str]:
    return {r["stage"]: r["key"] for r in record["stages"]}


def test_skip_resume_and_chained_keys(project, tmp_path, monkeypatch, capfd):
    root = str(tmp_path / "root")
    quiet = lambda *a: None  # noqa: E731

    # 1. Killed inside train A (after its step 1): the build is done and marked, A is not.
    monkeypatch.setenv(KILL_ENV, "1")
    with pytest.raises(FFDataError, match="stage 'a' .*exited with status"):
        run_pipeline(project, root, say=quiet)
    monkeypatch.delenv(KILL_ENV)
    base = tmp_path / "root" / "pipelines" / "t"
    assert len(list((base / "gsm8k_sft").glob(f"*/{DONE}"))) == 1
    assert not list((base / "a").glob(f"*/{DONE}"))
    capfd.readouterr()

    # 2. The rerun skips the build and resumes A from its step-1 checkpoint, then runs B.
    first = run_pipeline(project, root, say=quiet)
    assert statuses(first) == {"gsm8k_sft": "skipped", "a": "ran", "b": "ran"}
    assert "resumed a at step 1" in capfd.readouterr().out
    a_out, b_out = (r["output"] for r in first["stages"][1:])
    assert Path(a_out["checkpoint"]).name == "ckpt-2"
    # B started from A's checkpoint: the resolved manifest and the trainer's run.json say so
    b_run = json.loads((Path(b_out["run_dir"]) / "run.json").read_text())["run"]
    assert b_run["model"]["init"] == a_out["checkpoint"] and b_run["model"]["preset"] is None
    assert a_out["init"] is None and b_out["init"] == a_out["checkpoint"]
    # ... and trained on the set the build stage made, pinned by fingerprint
    fp = first["stages"][0]["output"]["fingerprint"]
    assert b_run["data"]["set"] == f"gsm8k_sft@{fp}"

    # 3. Everything is done: nothing runs, same keys and outputs.
    again = run_pipeline(project, root, say=quiet)
    assert set(statuses(again).values()) == {"skipped"}
    assert keys(again) == keys(first)
    assert [r["output"] for r in again["stages"]] == [r["output"] for r in first["stages"]]
    assert json.loads((base / "pipeline.json").read_text())["stages"] == again["stages"]

    # 4. A changed input upstream (the set's seed): the set is rebuilt, and A and B, whose keys
    #    chain the set's fingerprint and A's weights, run again into new folders.
    write_gsm8k_manifest(tmp_path, seed=1, rows=300)
    changed = run_pipeline(project, root, say=quiet)
    assert statuses(changed) == {"gsm8k_sft": "ran", "a": "ran", "b": "ran"}
    assert all(keys(changed)[s] != keys(first)[s] for s in ("gsm8k_sft", "a", "b"))
    assert changed["stages"][2]["output"]["init"] == changed["stages"][1]["output"]["checkpoint"]
    # the first chain's outputs are still there: going back to seed 0 would skip again
    assert Path(b_out["checkpoint"], "config.json").is_file()


def test_ff313_validates_without_running():
    pipeline, rows = check(REPO / "manifests" / "pipelines" / "ff313.yaml")
    assert pipeline.plan is not None
    kinds = [r["kind"] for r in rows]
    assert kinds.count("train") == 5 and kinds[-3:] == ["sweep", "merge", "publish"]
    assert all("plan" in r for r in rows if r["kind"] == "train")
    built = {r["what"].split()[1] for r in rows if r["kind"] == "build"}
    assert built == {"pretrain_mix", "sft_shards_v2", "distill_v3", "surgical", "repair_blocks"}


def test_tiny_validates():
    _, rows = check(REPO / "manifests" / "pipelines" / "tiny.yaml")
    assert [r["kind"] for r in rows][-3:] == ["sweep", "merge", "publish"]


BROKEN = [
    ("stages: []", "name"),
    ("name: t\nstages: [{kind: bake, name: x}]", "does not match any of the expected tags"),
    (
        "name: t\nstages:\n  - {kind: train, name: a, run: manifests/train/a.yaml}",
        "data.set 'gsm8k_sft' is not built by an earlier build stage",
    ),
    (
        "name: t\nstages:\n  - {kind: build, name: s, set: gsm8k_sft}\n"
        "  - {kind: build, name: s, set: gsm8k_sft}",
        "stage name 's' is used twice",
    ),
    (
        "name: t\nstages:\n  - {kind: build, name: s, set: gsm8k_sft}\n"
        "  - {kind: sweep, name: w, rule: manifests/selection/x.yaml}",
        "stage 'w' \\(sweep\\) needs an earlier train stage",
    ),
    (
        PIPELINE + "  - {kind: sweep, name: w, rule: manifests/selection/r.yaml}",
        "baseline ckpt-3 is not a checkpoint run b saves \\(every 1, stops at 2\\)",
    ),
    (
        "name: t\nstages:\n  - {kind: build, name: s, set: gsm8k_sft}\n"
        "  - {kind: train, name: a, run: manifests/train/missing.yaml}",
        "stage 'a' \\(train\\): manifests/train/missing.yaml not found",
    ),
    (
        "name: t\nstages:\n  - {kind: build, name: s, set: gsm8k_sft}\n"
        "  - {kind: train, name: a, run: manifests/train/a.yaml, overrides: {optim: {lr: -1}}}",
        "optim.lr",
    ),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_pipeline_is_one_clear_error(project, tmp_path, text, message):
    project.write_text(text + "\n")
    with pytest.raises(FFDataError, match=message) as info:
        run_pipeline(project, str(tmp_path / "root"), say=lambda *a: None)
    assert "\n" not in str(info.value) and ".yaml" in str(info.value)  # one line, the file
    assert not (tmp_path / "root").exists()  # nothing ran


def test_cli_validate_prints_one_error_line(project):
    project.write_text(
        "name: t\nstages:\n  - {kind: train, name: a, run: manifests/train/a.yaml}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "ffllm", "pipeline", str(project), "--validate"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "stage 'a' (train): data.set 'gsm8k_sft' is not built" in proc.stderr
