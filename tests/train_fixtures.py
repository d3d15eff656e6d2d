"""A small real SFT set for the trainer tests, built through ffdata's build framework.

GSM8K train (MIT, bundled in data/sources/gsm8k) with short answers ("The answer is 18."), split
into `train` and `validation` parts the way repair_blocks is: short repair-style answers after a
long prompt, so the loss mask matters.
"""

import shutil
import sys
import types
from pathlib import Path

from builders.gsm8k_sft import clean_solution
from ffdata.build import build_set
from ffdata.records import make_record, render_prompt
from ffdata.tokenizer import encode

REPO = Path(__file__).resolve().parent.parent
GSM8K_SHA = "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"
SET_NAME = "train_fixture"
ROWS = 240
MAX_PROMPT_TOKENS = 56


def _build(ctx) -> None:
    kept = 0
    for idx, row in ctx.read_source("gsm8k_train"):
        if kept >= ROWS:
            ctx.drop("gsm8k_train", idx, "over_quota")
            continue
        question = row["question"].strip()
        # Short prompts only (like repair Block B/D items): the CPU runs stay fast at seq 64.
        if len(encode(render_prompt(question))) > MAX_PROMPT_TOKENS:
            ctx.drop("gsm8k_train", idx, "too_long")
            continue
        _, final = clean_solution(row["answer"])
        rec = make_record(
            set_name=ctx.set_name,
            block="D",
            source="gsm8k_train",
            source_row=idx,
            seed=ctx.seed,
            instruction=question,
            response=f"The answer is {final}.",
            format="numeric",
        )
        ctx.emit("validation" if kept % 8 == 0 else "train", rec)
        kept += 1


def register_builder() -> None:
    module = types.ModuleType(f"builders.{SET_NAME}")
    module.VERSION = "1"
    module.build = _build
    sys.modules[module.__name__] = module


def build_fixture_set(project: Path, root: Path):
    """Write the manifest into `project` and build the set under `root`."""
    register_builder()
    src = project / "data" / "sources" / "gsm8k"
    src.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "data" / "sources" / "gsm8k" / "train.jsonl", src / "train.jsonl")
    (project / "manifests").mkdir(exist_ok=True)
    manifest = project / "manifests" / f"{SET_NAME}.yaml"
    manifest.write_text(
        f"""name: {SET_NAME}
version: "1"
seed: 0
sources:
  - name: gsm8k_train
    loader: jsonl
    path: data/sources/gsm8k/train.jsonl
    sha256: {GSM8K_SHA}
output:
  path: sft/{SET_NAME}
  rows_per_shard: 200
decontamination:
  targets: []
"""
    )
    built, _ = build_set(SET_NAME, manifest, str(root), quiet=True)
    return built


def write_run(path: Path, **overrides) -> Path:
    """A tiny CPU run manifest over the fixture set; `overrides` replace whole sections."""
    import yaml

    run = {
        "name": "tiny_fixture",
        "stage": "repair",
        "seed": 0,
        "model": {"preset": "tiny", "dropout": 0.1},
        "data": {"set": SET_NAME, "eval_part": "validation", "seq_len": 64},
        "optim": {"lr": 3.0e-3, "min_lr": 3.0e-4, "warmup_steps": 2, "weight_decay": 0.1},
        "schedule": {"max_steps": 8},
        "batch": {"micro": 4, "global": 8},
        "checkpoint": {"every": 2},
        "eval": {"every": 4, "max_batches": 3},
        "runtime": {"precision": "fp32", "compile": "off", "log_every": 1},
    }
    run.update(overrides)
    path.write_text(yaml.safe_dump(run, sort_keys=False))
    return path
