"""`ffllm pipeline MANIFEST`: run the stages of a pipeline manifest in order, each at most once.

A pipeline (manifests/pipelines/*.yaml) is the card's chain as a list of stages:
build a set, train a run, sweep the run's checkpoints, SLERP-merge, publish. One model flows
through it: every train stage starts from the checkpoint the stage before it produced
(`model.init`, written into the resolved run manifest in the stage's folder; the manifest file
is not edited), the sweep's champion replaces the run's last checkpoint, the merge replaces the
champion, and publish copies what is current to `champions/latest`.

Each stage's output is keyed by a fingerprint of its inputs, chained: a build by the set's own
fingerprint; a train by its resolved run manifest, the fingerprints of its sets and the
weights digest and key of its init checkpoint; a sweep by the rule and the run's key; and so
on. The output lives in `<root>/pipelines/<pipeline>/<stage>/<key[:16]>/` with `_done.json`,
the done marker, written last (name, key, what the key was made of, the output). A stage whose
marker is there, with its output, is skipped; a stage without one runs, and a train stage
killed half way resumes from its run's newest checkpoint (the trainer's own resume). A changed
input gives a new key, so that stage and, through the chain, every stage after it run again.
"""

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_bytes, sha256_file, sha256_json
from ffdata.manifest import project_dir, read_yaml, validate
from ffllm.eval.common import write_json_atomic

DONE = "_done.json"
RECORD = "pipeline.json"
PIPELINES_DIR = "pipelines"
_NAME = r"^[A-Za-z0-9_.-]+$"


# --- the manifest ----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BuildStage(_Strict):
    """Build a set (`ffdata build SET [--manifest M]`); skipped by ffdata when it is built."""

    kind: Literal["build"]
    name: str = Field(pattern=_NAME)
    set: str
    manifest: str | None = None  # default manifests/<set>.yaml


class TrainStage(_Strict):
    """Train a run manifest from the current model (the first train stage: from its preset)."""

    kind: Literal["train"]
    name: str = Field(pattern=_NAME)
    run: str
    overrides: dict[str, Any] = Field(default_factory=dict)  # merged over the run manifest


class MMLUOverride(_Strict):
    shots: Literal[0, 5] | None = None
    limit: int | None = Field(default=None, gt=0)
    quick: bool | None = None


class SweepStage(_Strict):
    """Sweep the last train stage's checkpoints and keep the rule's champion."""

    kind: Literal["sweep"]
    name: str = Field(pattern=_NAME)
    rule: str
    mmlu: MMLUOverride = Field(default_factory=MMLUOverride)  # like `ffllm sweep --limit …`


class MergeStage(_Strict):
    """SLERP the champion (A) towards the model the swept run started from (B) by `t`."""

    kind: Literal["merge"]
    name: str = Field(pattern=_NAME)
    t: float = Field(ge=0, le=1)


class PublishStage(_Strict):
    """Publish the current model with its generated card to `<root>/champions/latest`."""

    kind: Literal["publish"]
    name: str = Field(pattern=_NAME)
    model_name: str | None = None


Stage = Annotated[
    BuildStage | TrainStage | SweepStage | MergeStage | PublishStage,
    Field(discriminator="kind"),
]


class PlanSpec(_Strict):
    """The hardware `--validate` plans every train stage on (ffllm.plan)."""

    gpus: int = Field(default=8, gt=0)
    gpu_mem: float = Field(default=24, gt=0)


class Pipeline(_Strict):
    name: str = Field(pattern=_NAME)
    description: str = ""
    plan: PlanSpec | None = None
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self):
        seen = set()
        for s in self.stages:
            if s.name in seen:
                raise ValueError(f"stage name {s.name!r} is used twice")
            seen.add(s.name)
        return self


def load_pipeline(path: str | Path) -> Pipeline:
    return validate(Pipeline, read_yaml(path, what="pipeline manifest"), str(path),
                    what="pipeline manifest")  # fmt: skip


# --- what flows between stages -----------------------------------------------------------------


class Chain:
    """The state one stage hands the next: built sets, the current model, the last run/sweep."""

    def __init__(self, path: Path, root: str | None):
        self.path = path  # the pipeline manifest
        self.base_dir = project_dir(path)  # relative paths in it are relative to this
        self.root = root
        self.sets: dict[str, dict] = {}  # set name -> {"fingerprint"}
        self.model: dict | None = None  # {"checkpoint", "weights_sha256", "key"}
        self.train: dict | None = None  # the last train stage's output and key
        self.sweep: dict | None = None  # the last sweep stage's output and key
        self.preset: str | None = None  # the first train stage's size, kept by later stages

    def file(self, rel: str, origin: str) -> Path:
        path = Path(rel) if Path(rel).is_absolute() else self.base_dir / rel
        if not path.is_file():
            raise FFDataError(f"{self.path}: {origin}: {rel} not found")
        return path


def stage_origin(stage) -> str:
    return f"stage {stage.name!r} ({stage.kind})"


def resolve_run(stage: TrainStage, chain: Chain, init: str | None):
    """The run manifest (path, RunManifest) as this stage trains it: overrides merged, the model
    replaced by `init` (the previous stage's checkpoint; the first train stage keeps its own
    preset or init), each set pinned to the fingerprint built here."""
    from ffllm.train.config import deep_merge, parse_run

    origin = stage_origin(stage)
    path = chain.file(stage.run, origin)
    data = read_yaml(path, what="run manifest")
    if not isinstance(data, dict):
        raise FFDataError(f"{path}: a run manifest must be a YAML mapping")
    data = deep_merge(data, stage.overrides)
    model = data.get("model") or {}
    if init is not None:
        # An init keeps its own size and dropout: only the source changes.
        keep = {k: v for k, v in model.items() if k == "activation_checkpointing"}
        data["model"] = {"init": init, **keep}
    run_data = data.get("data") if isinstance(data.get("data"), dict) else {}
    for field in ("set", "eval_set"):
        name = run_data.get(field)
        if name is None:
            continue
        name = str(name).split("@")[0]
        if name not in chain.sets:
            raise FFDataError(
                f"{chain.path}: {origin}: data.{field} {name!r} is not built by an earlier "
                f"build stage (built: {sorted(chain.sets) or 'none'})"
            )
        run_data[field] = f"{name}@{chain.sets[name]['fingerprint']}"
    run = parse_run(data, f"{path} ({origin})")
    return path, run


# --- keys and markers ------------------------------------------------------------------------


def stage_key(material: dict) -> str:
    return sha256_json(material)


def read_marker(folder: Path, key: str) -> dict | None:
    try:
        marker = json.loads((folder / DONE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None  # none, or a torn one: the stage runs again
    return marker if marker.get("key") == key else None


# --- the stages ------------------------------------------------------------------------------
# A build stage runs at once (ffdata keys and skips it). The others' planners return
# (key material, execute(folder, say) -> output, advance(key, output): update the chain,
#  present(output) -> whether a marker's output is still there).


def set_manifest(stage: BuildStage) -> str:
    """The set's manifest, relative to the pipeline's project folder (like `ffdata build`)."""
    return stage.manifest or f"manifests/{stage.set}.yaml"


def build_stage(stage: BuildStage, chain: Chain, folder_of):
    from ffdata.build import build_set

    manifest = chain.file(set_manifest(stage), stage_origin(stage))
    t0 = time.perf_counter()
    built, fresh = build_set(stage.set, manifest, chain.root)  # ffdata skips a built set
    material = {"kind": "build", "set": stage.set, "fingerprint": built.fingerprint}
    key = stage_key(material)
    output = {"set": stage.set, "fingerprint": built.fingerprint, "uri": built.uri,
              "rows": built.record["rows"], "tokens": built.record.get("tokens")}  # fmt: skip
    folder = folder_of(key)
    if fresh or read_marker(folder, key) is None:
        write_marker(folder, stage, key, material, output, time.perf_counter() - t0)
    chain.sets[stage.set] = {"fingerprint": built.fingerprint}
    return key, output, not fresh


def final_checkpoint(run_dir: Path) -> Path:
    """The run's last HF export (the trainer always saves the final step)."""
    from ffllm.sweep import find_checkpoints

    info = json.loads((run_dir / "run.json").read_text())
    last = find_checkpoints(run_dir)[-1]
    if last.name != f"ckpt-{info['steps']['stop']}":
        raise FFDataError(f"{run_dir}: the run stopped before step {info['steps']['stop']}")
    return last


def train_plan(stage: TrainStage, chain: Chain):
    from ffllm.eval.common import weights_sha256
    from ffllm.train.config import run_to_dict

    path, run = resolve_run(stage, chain, chain.model["checkpoint"] if chain.model else None)
    init = run.model.init  # the previous stage's model, or the first stage's own init
    if run.checkpoint.export_hf is False:
        raise FFDataError(f"{path}: checkpoint.export_hf is off: the next stage needs its export")
    identity = run_to_dict(run)
    if init is not None:
        identity["model"]["init"] = "(the previous stage's model)"  # its digest stands for it
    material = {
        "kind": "train",
        "run": identity,
        "sets": sorted({run.data.set, run.data.eval_set or run.data.set}),  # name@fingerprint
        "init": {k: chain.model[k] for k in ("weights_sha256", "key")} if chain.model else None,
    }
    if chain.model is None and init is not None:  # a first stage from an existing checkpoint
        material["init"] = {"weights_sha256": weights_sha256(init)}
    if run.distill is not None:  # a logit teacher's weights are an input too
        material["teacher"] = weights_sha256(run.distill.teacher)

    def execute(folder: Path, say) -> dict:
        folder.mkdir(parents=True, exist_ok=True)
        resolved = folder / "run.yaml"
        resolved.write_text(json.dumps(run_to_dict(run), indent=1, sort_keys=True) + "\n")
        command = [sys.executable, "-m", "ffllm", "train", str(resolved),
                   "--runs-dir", str(folder / "runs")]  # fmt: skip
        if chain.root:
            command += ["--root", str(chain.root)]
        say(f"  $ {' '.join(command)}")
        status = subprocess.run(command, check=False).returncode
        if status:
            raise FFDataError(f"{stage_origin(stage)}: ffllm train exited with status {status}")
        run_dir = folder / "runs" / run.name
        ckpt = final_checkpoint(run_dir)
        return {"run_dir": str(run_dir), "checkpoint": str(ckpt), "init": init,
                "weights_sha256": weights_sha256(ckpt)}  # fmt: skip

    def advance(key: str, output: dict) -> None:
        chain.train = output | {"key": key}
        chain.model = {"checkpoint": output["checkpoint"],
                       "weights_sha256": output["weights_sha256"], "key": key}  # fmt: skip

    return material, execute, advance, lambda out: Path(out["checkpoint"], "config.json").is_file()


def sweep_rule(stage: SweepStage, chain: Chain):
    """The stage's rule with its MMLU overrides; a held-out set the pipeline built is pinned to
    that build (the rule's `baseline`, e.g. `init`, is the sweep's own business)."""
    from ffllm.sweep import load_rule

    rule = load_rule(chain.file(stage.rule, stage_origin(stage)))
    for field in ("shots", "limit", "quick"):
        if (value := getattr(stage.mmlu, field)) is not None:
            setattr(rule.mmlu, field, value)
    heldout = getattr(rule, "heldout", None)
    if heldout is not None and heldout.set.split("@")[0] in chain.sets:
        name = heldout.set.split("@")[0]
        heldout.set = f"{name}@{chain.sets[name]['fingerprint']}"
    return rule


def sweep_plan(stage: SweepStage, chain: Chain):
    from ffllm.eval.common import weights_sha256
    from ffllm.sweep import SWEEP_JSON, sweep_run

    if chain.train is None:
        raise FFDataError(f"{chain.path}: {stage_origin(stage)} needs an earlier train stage")
    rule = sweep_rule(stage, chain)
    train = chain.train
    material = {"kind": "sweep", "rule": rule.model_dump(mode="json"), "run": train["key"]}

    def execute(folder: Path, say) -> dict:
        result = sweep_run(train["run_dir"], rule, log=say, root=chain.root)
        folder.mkdir(parents=True, exist_ok=True)
        sweep_file = folder / SWEEP_JSON
        sweep_file.write_text((Path(train["run_dir"]) / SWEEP_JSON).read_text())
        if result["champion"] is None:
            raise FFDataError(
                f"{stage_origin(stage)}: rule {rule.name!r} on {train['run_dir']}: "
                f"{result.get('verdict', 'no champion')} (see its sweep.md): nothing to carry on"
            )
        return {"champion": result["champion"], "checkpoint": result["champion_path"],
                "weights_sha256": weights_sha256(result["champion_path"]),
                "sweep": str(sweep_file), "base": train["init"],
                "mmlu": rule.mmlu.model_dump(mode="json"), "factbench": rule.factbench}  # fmt: skip

    def advance(key: str, output: dict) -> None:
        chain.sweep = output | {"key": key}
        chain.model = {"checkpoint": output["checkpoint"],
                       "weights_sha256": output["weights_sha256"], "key": key}  # fmt: skip

    return material, execute, advance, lambda out: Path(out["sweep"]).is_file()


def merge_plan(stage: MergeStage, chain: Chain):
    from ffllm.eval.common import weights_sha256
    from ffllm.eval.factbench import evaluate_factbench
    from ffllm.eval.mmlu import evaluate_mmlu
    from ffllm.merge import merge_checkpoints

    sweep = chain.sweep
    if sweep is None or sweep["base"] is None:
        raise FFDataError(
            f"{chain.path}: {stage_origin(stage)} needs an earlier sweep of a run that started "
            "from an earlier stage's model (SLERP's B)"
        )
    a, b = chain.model, sweep["base"]
    material = {"kind": "merge", "t": stage.t, "a": {k: a[k] for k in ("weights_sha256", "key")},
                "b": weights_sha256(b), "eval": {"mmlu": sweep["mmlu"],
                                                 "factbench": sweep["factbench"]}}  # fmt: skip

    def execute(folder: Path, say) -> dict:
        # the folder name is what the card calls the checkpoint
        out = merge_checkpoints(a["checkpoint"], b, stage.t, folder / stage.name, force=True)
        # Scored as the sweep scored the checkpoints: publish and the card read these results.
        evaluate_mmlu(out, **sweep["mmlu"])
        if sweep["factbench"]:
            evaluate_factbench(out)
        return {"checkpoint": str(out), "a": a["checkpoint"], "b": b, "t": stage.t,
                "weights_sha256": weights_sha256(out)}  # fmt: skip

    def advance(key: str, output: dict) -> None:
        chain.model = {"checkpoint": output["checkpoint"],
                       "weights_sha256": output["weights_sha256"], "key": key}  # fmt: skip

    return material, execute, advance, lambda out: Path(out["checkpoint"], "config.json").is_file()


def publish_plan(stage: PublishStage, chain: Chain):
    from ffllm.publish import current_champion, publish

    if chain.model is None:
        raise FFDataError(f"{chain.path}: {stage_origin(stage)}: no earlier stage made a model")
    model, sweep = chain.model, chain.sweep
    material = {"kind": "publish", "model": {k: model[k] for k in ("weights_sha256", "key")},
                "sweep": sha256_file(sweep["sweep"]) if sweep else None,
                "name": stage.model_name}  # fmt: skip

    def execute(folder: Path, say) -> dict:
        res = publish(model["checkpoint"], chain.root, sweep["sweep"] if sweep else None,
                      stage.model_name)  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "README.md").write_text(res["card"])
        return {"uri": res["uri"], "card": str(folder / "README.md"),
                "weights_sha256": res["record"]["weights_sha256"]}  # fmt: skip

    def published(out: dict) -> bool:
        """Still the champion: a later publish (another pipeline) makes this stage run again."""
        current = current_champion(chain.root)
        return current is not None and current[1]["weights_sha256"] == out["weights_sha256"]

    return material, execute, lambda key, output: None, published


PLANNERS = {"train": train_plan, "sweep": sweep_plan, "merge": merge_plan,
            "publish": publish_plan}  # fmt: skip


def write_marker(folder: Path, stage, key: str, material: dict, output: dict, seconds: float):
    write_json_atomic(
        folder / DONE,
        {"stage": stage.name, "kind": stage.kind, "key": key, "inputs": material,
         "output": output, "seconds": round(seconds, 3),
         "finished_at": datetime.now(UTC).isoformat(timespec="seconds")},
    )  # fmt: skip


# --- validate and run --------------------------------------------------------------------------


def check_rule(rule, run, chain: Chain, origin: str) -> None:
    """What the rule needs from the swept run: its baseline checkpoint saved (or a starting
    model for `init`), its held-out set built by an earlier stage."""
    where = f"{chain.path}: {origin}: rule {rule.name!r}"
    if rule.baseline == "init" and run.model.init is None:
        raise FFDataError(f"{where}: baseline 'init', but run {run.name} starts from a preset")
    if rule.baseline and (m := re.fullmatch(r"ckpt-(\d+)", rule.baseline)):
        step, every = int(m[1]), run.checkpoint.every
        stop = run.schedule.early_stop_step or run.schedule.max_steps  # None: epochs, unknown
        if (stop is not None and step > stop) or (
            step != stop and not (every and step % every == 0)
        ):
            raise FFDataError(
                f"{where}: baseline {rule.baseline} is not a checkpoint run {run.name} saves "
                f"(every {every}, stops at {stop})"
            )
    heldout = getattr(rule, "heldout", None)
    if heldout is not None and heldout.set.split("@")[0] not in chain.sets:
        raise FFDataError(f"{where}: held-out set {heldout.set!r} is not built by an earlier stage")


def check(path: str | Path, root: str | None = None) -> tuple[Pipeline, list[dict]]:
    """Everything short of running: the pipeline and every manifest it names parse, each set a
    train stage reads is built by an earlier stage, every rule loads, each stage has what it
    needs from the ones before it, and, with `plan:`, every run fits its GPUs (ffllm.plan)."""
    from ffdata.build import load_builder
    from ffdata.manifest import load_manifest
    from ffllm.plan import plan_run

    path = Path(path)
    pipeline = load_pipeline(path)
    chain = Chain(path, root)
    rows = []
    for stage in pipeline.stages:
        origin = stage_origin(stage)
        row = {"stage": stage.name, "kind": stage.kind}
        if stage.kind == "build":
            mpath = chain.file(set_manifest(stage), origin)
            manifest = load_manifest(mpath)
            if manifest.name != stage.set:
                raise FFDataError(
                    f"{mpath}: manifest is for set {manifest.name!r}, not {stage.set!r}"
                )
            load_builder(manifest.builder or manifest.name)
            chain.sets[stage.set] = {"fingerprint": "(built by this stage)"}
            row["what"] = f"set {stage.set} from {mpath.relative_to(chain.base_dir)}"
        elif stage.kind == "train":
            placeholder = f"(the model of stage {chain.model['key']!r})" if chain.model else None
            rpath, run = resolve_run(stage, chain, placeholder)
            chain.preset = chain.preset or run.model.preset
            row["what"] = f"run {run.name} ({run.stage}) on {run.data.set.split('@')[0]}"
            if pipeline.plan is not None:
                rp = plan_run(run, str(rpath), pipeline.plan.gpus, pipeline.plan.gpu_mem,
                              model=None if run.model.preset else chain.preset)  # fmt: skip
                if not rp.fits:
                    needs = rp.batch_need or "; or ".join(rp.memory_needs) or "more memory"
                    raise FFDataError(
                        f"{rpath}: {origin} does not fit {pipeline.plan.gpus} GPU(s) × "
                        f"{pipeline.plan.gpu_mem:g} GiB as written "
                        f"({rp.plan.needed_gib(rp.checkpointing):.1f} GiB): needs {needs}"
                    )
                row["plan"] = f"{rp.plan.needed_gib(rp.checkpointing):.1f} GiB/GPU"
            chain.train = {"key": stage.name, "init": run.model.init, "run": run}
            chain.model = {"key": stage.name}
        elif stage.kind == "sweep":
            if chain.train is None:
                raise FFDataError(f"{path}: {origin} needs an earlier train stage")
            rule = sweep_rule(stage, chain)
            check_rule(rule, chain.train["run"], chain, origin)
            chain.sweep = {"base": chain.train["init"]}
            chain.model = {"key": stage.name}
            row["what"] = f"rule {rule.name} on the checkpoints of {chain.train['key']!r}"
        elif stage.kind == "merge":
            if chain.sweep is None or chain.sweep["base"] is None:
                raise FFDataError(
                    f"{path}: {origin} needs an earlier sweep of a run that started from an "
                    "earlier stage's model (SLERP's B)"
                )
            row["what"] = f"SLERP t={stage.t} towards {chain.sweep['base']}"
            chain.model = {"key": stage.name}
        else:
            if chain.model is None:
                raise FFDataError(f"{path}: {origin}: no earlier stage made a model")
            row["what"] = f"the model of stage {chain.model['key']!r} to champions/latest"
        rows.append(row)
    return pipeline, rows


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (train subprocesses, build workers):
    on a shared box it says what a stage costs better than the wall clock does."""
    import resource

    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_pipeline(path: str | Path, root: str | None = None, say=print) -> dict:
    """Run every stage in order, skipping the ones already done; returns the pipeline record."""
    from ffdata.storage import DEFAULT_ROOT

    path = Path(path)
    pipeline, _ = check(path, root)  # a broken manifest stops here, before anything runs
    root_dir = str(root or os.environ.get("FFDATA_ROOT") or DEFAULT_ROOT)
    if root_dir.startswith("s3://"):
        base = Path(DEFAULT_ROOT).resolve() / PIPELINES_DIR / pipeline.name  # runs stay local
    else:
        base = Path(root_dir).resolve() / PIPELINES_DIR / pipeline.name
    chain = Chain(path, root)
    started = time.perf_counter()
    record = {"pipeline": pipeline.name, "manifest": str(path), "root": root_dir,
              "manifest_sha256": sha256_bytes(path.read_bytes()),
              "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "stages": []}  # fmt: skip
    for i, stage in enumerate(pipeline.stages, 1):
        say(f"== [{i}/{len(pipeline.stages)}] {stage.name} ({stage.kind})")
        t0, c0 = time.perf_counter(), cpu_seconds()

        def folder_of(key: str, stage=stage) -> Path:
            return base / stage.name / key[:16]

        if stage.kind == "build":
            key, output, skipped = build_stage(stage, chain, folder_of)
        else:
            material, execute, advance, present = PLANNERS[stage.kind](stage, chain)
            key = stage_key(material)
            folder = folder_of(key)
            marker = read_marker(folder, key)
            skipped = marker is not None and present(marker["output"])
            if skipped:
                output = marker["output"]
            else:
                output = execute(folder, say)
                write_marker(folder, stage, key, material, output, time.perf_counter() - t0)
            advance(key, output)
        seconds = time.perf_counter() - t0
        row = {"stage": stage.name, "kind": stage.kind, "status": "skipped" if skipped else "ran",
               "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds() - c0, 2),
               "key": key, "folder": str(folder_of(key)), "output": output}  # fmt: skip
        record["stages"].append(row)
        say(
            f"   {row['status']} in {seconds:.1f} s ({row['cpu_seconds']:.1f} CPU s): "
            f"{describe(stage.kind, output)}"
        )
        write_json_atomic(base / RECORD, record)  # progress so far, also after a failure
    record["total_seconds"] = round(time.perf_counter() - started, 2)
    record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_json_atomic(base / RECORD, record)
    say(format_summary(record))
    say(f"record: {base / RECORD}")
    return record


def describe(kind: str, output: dict) -> str:
    if kind == "build":
        return f"{output['set']}@{output['fingerprint'][:12]} ({output['rows']:,} rows)"
    if kind == "sweep":
        return f"champion {output['champion']} ({output['checkpoint']})"
    if kind == "publish":
        return output["uri"]
    return output["checkpoint"]


def format_summary(record: dict) -> str:
    lines = ["", f"pipeline {record['pipeline']}:", "",
             "| stage | kind | status | seconds | CPU s | output |",
             "|---|---|---|---:|---:|---|"]  # fmt: skip
    for r in record["stages"]:
        lines.append(
            f"| {r['stage']} | {r['kind']} | {r['status']} | {r['seconds']:.1f} | "
            f"{r['cpu_seconds']:.1f} | {describe(r['kind'], r['output'])} |"
        )
    total = record.get("total_seconds")
    if total is not None:
        cpu = sum(r["cpu_seconds"] for r in record["stages"])
        lines.append(f"| **total** | | | **{total:.1f}** | **{cpu:.1f}** | |")
    return "\n".join(lines)


def format_check(pipeline: Pipeline, rows: list[dict]) -> str:
    lines = [f"pipeline {pipeline.name}: {len(rows)} stages, valid"]
    if pipeline.plan is not None:
        lines[0] += f" (runs planned on {pipeline.plan.gpus} × {pipeline.plan.gpu_mem:g} GiB)"
    for i, r in enumerate(rows, 1):
        plan = f" | plan: {r['plan']}, fits" if "plan" in r else ""
        lines.append(f"{i:2}. {r['stage']} ({r['kind']}): {r['what']}{plan}")
    return "\n".join(lines)
