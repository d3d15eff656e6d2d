"""Checkpoints: DeepSpeed state for exact resume, and HF exports for everything downstream.

Layout of a run (see docs/training.md):

    runs/<run>/ckpt-<step>/          DeepSpeed checkpoint (model, ZeRO optimizer shards, client
                                     state) plus rng-rank<r>.pt, one file per rank
    runs/<run>/latest                DeepSpeed's pointer to the newest complete checkpoint
    runs/<run>/hf/ckpt-<step>/       safetensors + config + tokenizer: from_pretrained loads it

A checkpoint is written in this order: RNG files, HF export, DeepSpeed state, `latest`. A run
killed half-way through a save resumes from the previous checkpoint.
"""

import copy
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from ffdata.errors import FFDataError
from ffdata.hashing import canonical_json
from ffdata.tokenizer import save_hf_tokenizer

LATEST = "latest"


def tag(step: int) -> str:
    return f"ckpt-{step}"


def rng_state() -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def export_hf(lm, out_dir: Path, peft_model=None) -> None:
    """An HF model folder (safetensors, config, generation config, tokenizer files).

    LoRA runs export the merged model, so every checkpoint loads the same way.
    """
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model = copy.deepcopy(peft_model).merge_and_unload() if peft_model is not None else lm
    # Exported models are for generation: with the KV cache off (as in training) every new
    # token recomputes the whole sequence. generation_config.json carries its own copy.
    saved = model.config.use_cache, model.generation_config.use_cache
    model.config.use_cache = model.generation_config.use_cache = True
    try:
        model.save_pretrained(tmp)
    finally:
        model.config.use_cache, model.generation_config.use_cache = saved
    save_hf_tokenizer(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)


def save(engine, run_dir: Path, step: int, client_state: dict, rank: int, export=None) -> None:
    """Every rank calls this. `export(dir)` writes the HF export (called on rank 0)."""
    import torch.distributed as dist

    ckpt_dir = run_dir / tag(step)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), ckpt_dir / f"rng-rank{rank}.pt")
    if export is not None and rank == 0:
        export(run_dir / "hf" / tag(step))
    dist.barrier()
    engine.save_checkpoint(str(run_dir), tag=tag(step), client_state=client_state)


def latest_step(run_dir: Path) -> int | None:
    path = run_dir / LATEST
    if not path.exists():
        return None
    name = path.read_text().strip()
    if not name.startswith("ckpt-") or not name[5:].isdigit():
        raise FFDataError(f"{path}: expected 'ckpt-<step>', found {name!r}")
    return int(name[5:])


def load(engine, run_dir: Path, rank: int, expected: dict) -> dict:
    """Restore the newest checkpoint; `expected` (run manifest, set fingerprints) must match."""
    step = latest_step(run_dir)
    load_path, client = engine.load_checkpoint(str(run_dir), tag=tag(step))
    if load_path is None:
        raise FFDataError(f"{run_dir / tag(step)}: DeepSpeed could not load this checkpoint")
    for key in ("run", "sets", "world_size", "teacher_weights_sha256"):
        if canonical_json(client.get(key)) != canonical_json(expected.get(key)):
            raise FFDataError(
                f"{run_dir / tag(step)}: checkpoint was made with a different {key!r} "
                f"({client.get(key)!r} vs now {expected.get(key)!r}); start a new run name to "
                "change it"
            )
    rng_file = run_dir / tag(step) / f"rng-rank{rank}.pt"
    if not rng_file.exists():
        raise FFDataError(f"{rng_file}: missing; cannot resume this rank exactly")
    set_rng_state(torch.load(rng_file, weights_only=False))
    return client
