"""The full 90B-token manifest on Slurm, without a Slurm cluster: every stage's executor goes
through datatrove's own `launch_job` (it pickles the executor, writes `ranks_to_run.json` and the
sbatch script) with only the final `sbatch` call captured. The scripts, the array sizes and the
pickled executors a cluster would run are checked."""

import json
import math

import datatrove.executor.slurm as dt_slurm
import dill
import pytest

from ffdata.manifest import load_manifest
from ffdata.pretrain.config import load_config
from ffdata.pretrain.pipeline import Pipeline
from ffdata.pretrain.sample import PROJECT
from ffdata.pretrain.words import FastSpacyWords

VENV = "/opt/ffllm/.venv"
SOURCE_TASKS = {"fineweb": 256, "fineweb_10bt": 64, "fineweb_edu": 256, "fineweb_edu_ext": 256,
                "c4_en": 128, "wikipedia_en": 41, "clean_web": 1, "news": 8}  # fmt: skip
ALL = sum(SOURCE_TASKS.values())  # one dedup task per filtered file: 1,010


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """{stage: (tasks, [(script, sbatch args)], logging dir)} for the full manifest."""
    mp = pytest.MonkeyPatch()
    mp.setenv("VIRTUAL_ENV", VENV)  # the driver's venv is what the jobs activate
    for var in ("FFDATA_EXECUTOR", "FFDATA_WORKERS"):
        mp.delenv(var, raising=False)
    calls = []

    def sbatch(contents, job_id_retriever, *args):  # datatrove's launch_slurm_job, minus sbatch
        calls.append((contents, args, str(7000 + len(calls))))
        return calls[-1][2]

    mp.setattr(dt_slurm, "launch_slurm_job", sbatch)
    cfg = load_config(load_manifest(PROJECT / "manifests/pretrain_mix_full.yaml"))
    work = tmp_path_factory.mktemp("slurm") / "work"
    pipe = Pipeline(cfg, PROJECT, work)
    out = {}
    try:
        for name, steps, tasks in pipe.stages(FastSpacyWords()):
            ex = pipe._executor(name, steps, tasks)
            before = len(calls)
            ex.launch_job()
            out[name] = (tasks, calls[before:], work / "logs" / name, ex)
    finally:
        mp.undo()
    return cfg, out


def test_full_manifest_executor_arguments(launched):
    cfg, _ = launched
    assert cfg.executor == {"kind": "slurm", "workers": 512, "slurm": {
        "partition": "cpu", "time": "24:00:00", "cpus_per_task": 1, "mem_per_cpu_gb": 4}}  # fmt: skip
    assert cfg.work_dir == "/scratch/ffdata/work"  # shared by the driver and every node
    assert {s.name: s.tasks for s in cfg.sources} == SOURCE_TASKS


def test_every_stage_gets_its_sbatch_array_and_a_stats_job(launched):
    _, stages = launched
    expected = {f"filter/{name}": n for name, n in SOURCE_TASKS.items()}
    expected |= {"exact_sig": ALL, "exact_find": 16, "url_sig": ALL, "url_find": 16,
                 "minhash_sig": ALL, "minhash_buckets": 14, "minhash_cluster": 1,
                 "tokenize": ALL}  # fmt: skip
    assert {name: st[0] for name, st in stages.items()} == expected
    assert list(stages)[:8] == [f"filter/{n}" for n in SOURCE_TASKS]  # sources, then dedup
    for name, (tasks, calls, logs, ex) in stages.items():
        arrays = math.ceil(tasks / 1001)  # datatrove's max_array_size: 1,010 tasks = 2 arrays
        assert len(calls) == arrays + 1, name  # + the job that merges the task stats
        for i, (script, args, _) in enumerate(calls[:arrays]):
            lines = script.splitlines()
            assert lines[0] == "#!/bin/bash"
            directives = dict(
                line.removeprefix("#SBATCH --").partition("=")[::2]
                for line in lines
                if line.startswith("#SBATCH")
            )
            assert directives == {
                "cpus-per-task": "1", "mem-per-cpu": "4G", "nodes": "1", "partition": "cpu",
                "job-name": "ffdata-" + name.replace("/", "-"), "time": "24:00:00",
                "output": f"{logs}/slurm_logs/%A_%a.out", "error": f"{logs}/slurm_logs/%A_%a.out",
                "array": f"0-{min(tasks, 1001) - 1}%512", "requeue": "", "qos": "normal",
            }, name  # fmt: skip
            body = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
            assert f"source {VENV}/bin/activate" in body
            assert body[-1] == f"srun  -l -n 1 launch_pickled_pipeline {logs}/executor.pik"
            assert args[0] == f"--export=ALL,RUN_OFFSET={i}"
            # a second array of the same stage waits for the first
            assert list(args[1:]) == ([f"--dependency=afterany:{calls[i - 1][2]}"] if i else [])
        merge = calls[-1][0]
        assert ex.job_id == calls[arrays - 1][2]
        assert f"#SBATCH --dependency=afterok:{ex.job_id}" in merge
        assert f"merge_stats {logs}/stats -o {logs}/stats.json" in merge
        assert json.loads((logs / "ranks_to_run.json").read_text()) == list(range(tasks))


def test_the_pickled_executor_is_the_stage_a_node_runs(launched):
    _, stages = launched
    for name in ("filter/fineweb", "minhash_sig", "tokenize"):
        tasks, _, logs, ex = stages[name]
        with open(logs / "executor.pik", "rb") as f:
            loaded = dill.load(f)
        assert type(loaded).__name__ == "SlurmPipelineExecutor"
        assert loaded.world_size == tasks and loaded.workers == 512
        assert [type(s).__name__ for s in loaded.pipeline] == [
            type(s).__name__ for s in ex.pipeline
        ]
    reader = dill.load(open(stages["filter/fineweb"][2] / "executor.pik", "rb")).pipeline[0]
    assert type(reader).__name__ == "HuggingFaceDatasetReader"
    assert reader.dataset == "HuggingFaceFW/fineweb"
    assert reader.dataset_options == {"split": "train", "name": "CC-MAIN-2024-10",
                                      "revision": "9bb295ddab0e05d785b879661af7260fed5140fc"}  # fmt: skip
    tok = dill.load(open(stages["tokenize"][2] / "executor.pik", "rb")).pipeline
    assert [type(s).__name__ for s in tok] == [
        "JsonlReader", "ExactDedupFilter", "ExactDedupFilter", "MinhashDedupFilter",
        "TokenizeToShards"]  # fmt: skip
