"""Stage 3, DPO: a run manifest with `stage: dpo` trained by TRL's `DPOTrainer`.

TRL does the DPO work: it appends EOS to each answer, tokenizes prompt + chosen / rejected,
builds the reference model from the policy's `init` checkpoint, computes the loss and the
rewards, and runs the HF Trainer loop (AdamW, LR schedule, accumulation, checkpoints) under
DeepSpeed with the run's generated ZeRO-2 config. This module only maps the manifest onto
DPOConfig, turns the set's verified shards into TRL's prompt/chosen/rejected dataset and keeps
the run-directory contract of ffllm/train/trainer.py:

    runs/<run>/run.json         the resolved manifest, set fingerprints, DeepSpeed config
    runs/<run>/metrics.jsonl    one line per logged step: loss, lr, grad_norm, rewards/*, logps/*
    runs/<run>/hf/ckpt-<step>/  HF exports, the layout `ffllm sweep` reads
    runs/<run>/checkpoint-<step>/  the HF Trainer's resumable state (DeepSpeed shards inside)
"""

import json
import os
from pathlib import Path

import torch
from transformers import TrainerCallback

from ffdata.errors import FFDataError
from ffdata.hashing import canonical_json
from ffllm.train import checkpoint
from ffllm.train.config import RunManifest, deepspeed_config, run_to_dict, total_steps

PAIR_COLUMNS = ("prompt", "chosen", "rejected")  # the builders' rendered template + answers
# TRL's log keys renamed to the trainer's metrics names; the others are written as TRL names them.
RENAMED = {"learning_rate": "lr"}


def pair_dataset(built, parts: list[str]):
    """The pairs of `parts` as a datasets.Dataset with TRL's standard (non-chat) columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    paths = [p for part in parts for p in built.shard_paths(part)]
    if not paths:
        raise FFDataError(f"set {built.name}: no shards in part(s) {parts}")
    columns = set(pq.read_schema(paths[0]).names)
    missing = [c for c in PAIR_COLUMNS if c not in columns]
    if missing:
        raise FFDataError(
            f"set {built.name} ({paths[0]}): no column(s) {missing}; stage dpo trains on "
            "preference-pair sets (prompt, chosen, rejected), e.g. dpo_v1 / dpo_v2"
        )
    table = pa.concat_tables(pq.read_table(p, columns=list(PAIR_COLUMNS)) for p in paths)
    return Dataset.from_dict(table.to_pydict())  # shard order, then row order


def accelerate_state(world: int) -> dict:
    """DPOConfig arguments for several CPU ranks. transformers asks accelerate for DeepSpeed
    without naming a backend, and accelerate knows none for a CPU, so it counts one process
    whatever WORLD_SIZE says (then refuses the config: `ds train_batch_size=6 vs hf
    train_batch_size (calculated)=3`). Set accelerate's shared state up first, with gloo, and
    have the Trainer use it."""
    if world == 1 or torch.cuda.is_available():
        return {}
    from accelerate import PartialState

    os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"  # what transformers sets around this call
    try:
        PartialState(backend="gloo")
    finally:
        del os.environ["ACCELERATE_USE_DEEPSPEED"]
    return {"accelerator_config": {"use_configured_state": True}}


def dpo_args(run: RunManifest, run_dir: Path, world: int, bf16: bool, ds_config: dict, **extra):
    """DPOConfig from the manifest: every training knob is the manifest's, none is TRL's default."""
    from trl import DPOConfig

    sched = run.schedule
    return DPOConfig(
        output_dir=str(run_dir),
        seed=run.seed,
        per_device_train_batch_size=run.batch.micro,
        gradient_accumulation_steps=run.batch.accumulation(world),
        num_train_epochs=sched.epochs or 1,
        max_steps=sched.max_steps or -1,  # wins over epochs, as in the manifest
        learning_rate=run.optim.lr,
        lr_scheduler_type="cosine_with_min_lr",  # linear warmup, cosine to min_lr
        # as a rate: transformers' `min_lr` reads optimizer.defaults, which DeepSpeed's ZeRO
        # optimizer lacks (AttributeError 'DeepSpeedZeroOptimizer' object has no attribute ...)
        lr_scheduler_kwargs={"min_lr_rate": run.optim.min_lr / run.optim.lr},
        warmup_steps=run.optim.warmup_steps,
        weight_decay=run.optim.weight_decay,
        adam_beta1=run.optim.betas[0],
        adam_beta2=run.optim.betas[1],
        adam_epsilon=run.optim.eps,
        max_grad_norm=run.optim.grad_clip,
        bf16=bf16,  # DPOConfig defaults to bf16 whatever the device: set it from the manifest
        fp16=False,
        # TRL defaults this on; the manifest's activation_checkpointing decides.
        gradient_checkpointing=run.model.activation_checkpointing,
        # Pair batches are padded to their longest pair, so shapes change every step and
        # torch.compile would recompile: only an explicit `compile: on` turns it on.
        torch_compile=run.runtime.compile == "on",
        logging_steps=run.runtime.log_every,
        save_strategy="steps",
        save_steps=run.checkpoint.every or 10**9,  # the last step is always saved
        report_to=[],
        deepspeed=ds_config,
        max_length=run.data.seq_len,
        beta=run.dpo.beta,
        loss_type=[run.dpo.loss_type],
        label_smoothing=run.dpo.label_smoothing,
        precompute_ref_log_probs=run.dpo.precompute_ref_log_probs,
        **extra,
    )


class MetricsLog(TrainerCallback):
    """Appends TRL's logs to metrics.jsonl (rank 0): `loss` and the DPO rewards per step."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return  # the end-of-training summary has no per-step loss
        record = {"step": state.global_step}
        record.update({RENAMED.get(k, k): v for k, v in logs.items()})
        with self.path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")


class ExportHF(TrainerCallback):
    """After each Trainer checkpoint, `hf/ckpt-<step>/` as the trainer writes it (rank 0)."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.run_dir, self.enabled = run_dir, enabled

    def on_save(self, args, state, control, model=None, **kwargs):
        if self.enabled and state.is_world_process_zero:
            # ZeRO-2 keeps whole weights on every rank: the policy module is the model to save.
            checkpoint.export_hf(model, self.run_dir / "hf" / checkpoint.tag(state.global_step))


def resume_point(run_dir: Path, identity: dict) -> str | None:
    """The newest Trainer checkpoint, if the run was made from the same manifest and sets."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None
    if last is None:
        return None
    record = run_dir / "run.json"
    before = json.loads(record.read_text()) if record.exists() else {}
    for key in ("run", "sets", "world_size"):
        if canonical_json(before.get(key)) != canonical_json(identity[key]):
            raise FFDataError(
                f"{run_dir}: made with a different {key!r} ({before.get(key)!r} vs now "
                f"{identity[key]!r}); start a new run name to change it"
            )
    return last


def train_dpo(run: RunManifest, sets: dict, run_dir: Path, parts: list[str]) -> Path:
    """Train (or resume) a DPO run; `sets` are the verified sets of trainer.resolve_sets."""
    from trl import DPOTrainer

    from ffdata.tokenizer import hf_tokenizer
    from ffllm.train.model import build_model, count_params
    from ffllm.train.trainer import keep_metrics_until

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    identity = {
        "run": run_to_dict(run),
        "sets": {role: s.fingerprint for role, s in sets.items()},
        "world_size": world,
    }
    resume = resume_point(run_dir, identity)  # a changed run stops here, before any loading
    dataset = pair_dataset(sets["train"], parts)
    cuda = torch.cuda.is_available()
    bf16 = run.runtime.precision == "bf16" or (run.runtime.precision == "auto" and cuda)
    ds_config = deepspeed_config(run, world, bf16)
    args = dpo_args(run, run_dir, world, bf16, ds_config, **accelerate_state(world))
    torch.manual_seed(run.seed)
    policy = build_model(None, run.model.init)
    if run.data.seq_len > policy.config.n_positions:
        raise FFDataError(
            f"data.seq_len {run.data.seq_len} > model context {policy.config.n_positions}"
        )

    per_epoch = -(-len(dataset) // run.batch.global_)  # the Trainer's steps, for run.json
    total = total_steps(run, per_epoch)
    metrics_path = run_dir / "metrics.jsonl"
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        resolved = {
            **identity,
            "set_uris": {role: s.uri for role, s in sets.items()},
            "deepspeed": ds_config,
            "examples": {"train": len(dataset), "eval": 0},
            "steps": {"per_epoch": per_epoch, "schedule": total, "stop": total},
            "params": count_params(policy),
            "trainer": "trl.DPOTrainer",
        }
        (run_dir / "run.json").write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n")
        keep_metrics_until(metrics_path, int(resume.rsplit("-", 1)[1]) if resume else 0)

    trainer = DPOTrainer(
        model=policy,  # ref_model=None: TRL loads the reference from the same init checkpoint
        args=args,
        train_dataset=dataset,
        processing_class=hf_tokenizer(),
        callbacks=[MetricsLog(metrics_path), ExportHF(run_dir, run.checkpoint.export_hf)],
    )
    if rank == 0:
        print(
            f"{run.name}: dpo (TRL DPOTrainer, DeepSpeed ZeRO-{ds_config['zero_optimization']['stage']}"
            f"), {len(dataset):,} pairs, beta {run.dpo.beta}, loss {run.dpo.loss_type}, "
            f"{world} rank(s) × micro {run.batch.micro} × accum {args.gradient_accumulation_steps}, "
            f"{'bf16' if bf16 else 'fp32'}" + (f", resuming from {resume}" if resume else "")
        )
    trainer.train(resume_from_checkpoint=resume)
    return run_dir
