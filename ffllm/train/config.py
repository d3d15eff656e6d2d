"""Run manifests (manifests/train/*.yaml): the whole recipe of one training run.

A pydantic v2 schema; unknown keys are errors and every error names the file and the field.
The DeepSpeed config is generated from these values (see `deepspeed_config`) and the
manifest's `deepspeed:` mapping is merged over it, so any DeepSpeed knob can be overridden.
"""

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ffdata.errors import FFDataError
from ffdata.manifest import read_yaml, validate

Stage = Literal["pretrain", "sft", "repair", "distill", "dpo"]
# The loss types TRL 1.16's DPOConfig accepts (trl/trainer/dpo_config.py).
DPOLoss = Literal[
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
    "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
]  # fmt: skip

# GPT-2 sizes: hidden, layers, heads, context. "2b" is the FF-LLM config (2,018,641,920 params).
PRESETS = {
    "tiny": dict(n_embd=64, n_layer=2, n_head=4, n_positions=256),
    "124m": dict(n_embd=768, n_layer=12, n_head=12, n_positions=1024),
    "2b": dict(n_embd=2048, n_layer=38, n_head=16, n_positions=1024),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(Strict):
    preset: Literal["tiny", "124m", "2b"] | None = None
    init: str | None = None  # an HF checkpoint directory to start from instead of a preset
    dropout: float = Field(default=0.0, ge=0, lt=1)  # presets only; an init keeps its own
    activation_checkpointing: bool = False

    @model_validator(mode="after")
    def _one_source(self):
        if (self.preset is None) == (self.init is None):
            raise ValueError("give exactly one of 'preset' or 'init'")
        return self


class ReplaySpec(Strict):
    parts: list[str] = Field(min_length=1)  # earlier parts mixed in to limit forgetting
    share: float = Field(gt=0, lt=1)  # of the run's examples (ffllm/train/data.py)


class DataSpec(Strict):
    set: str  # a built set, resolved through its build record (`name` or `name@<fingerprint>`)
    train_parts: list[str] | None = None  # default: every part except the eval part
    eval_set: str | None = None  # default: the training set
    eval_part: str | None = None  # e.g. "validation"; None: no eval loss
    seq_len: int = Field(default=1024, gt=1)  # SFT: longer examples are cut; pretrain: block size
    replay: ReplaySpec | None = None


class OptimSpec(Strict):
    lr: float = Field(gt=0)
    min_lr: float = Field(default=0.0, ge=0)  # the cosine floor
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(default=1e-8, gt=0)
    grad_clip: float = Field(default=1.0, ge=0)  # 0 disables clipping


class ScheduleSpec(Strict):
    epochs: int | None = Field(default=None, gt=0)
    max_steps: int | None = Field(default=None, gt=0)  # wins over epochs when both are given
    early_stop_step: int | None = Field(default=None, gt=0)  # stop here; the LR curve still
    # runs over the full schedule, as in the card's stage 7 (stopped at 200 of 357)

    @model_validator(mode="after")
    def _has_length(self):
        if self.epochs is None and self.max_steps is None:
            raise ValueError("give 'epochs' or 'max_steps'")
        return self


class BatchSpec(Strict):
    micro: int = Field(gt=0)  # sequences per GPU per forward pass
    # sequences per optimizer step over all GPUs; accumulation = global / (micro × GPUs),
    # so the step count and the LR curve do not depend on how many GPUs run it
    global_: int = Field(alias="global", gt=0)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def accumulation(self, world_size: int) -> int:
        per_pass = self.micro * world_size
        if self.global_ % per_pass:
            raise FFDataError(
                f"batch.global {self.global_} is not a multiple of micro {self.micro} "
                f"× {world_size} GPU(s)"
            )
        return self.global_ // per_pass


class CheckpointSpec(Strict):
    every: int | None = Field(default=None, gt=0)  # steps; the final step is always saved
    export_hf: bool = True  # also write hf/ckpt-<step>/ (safetensors + config + tokenizer)


class EvalSpec(Strict):
    every: int | None = Field(default=None, gt=0)  # steps; also at the end when eval_part is set
    max_batches: int | None = Field(default=None, gt=0)


class LoraSpec(Strict):
    r: int = Field(default=16, gt=0)
    alpha: int = Field(default=32, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["c_attn", "c_proj", "c_fc"])


class DistillSpec(Strict):
    """Logit distillation (ffllm/train/distill.py); only with stage `distill`."""

    teacher: str  # an HF checkpoint directory with the student's (GPT-2) vocabulary
    alpha: float = Field(default=0.5, ge=0, le=1)  # weight of the KL term; CE gets 1 - alpha
    temperature: float = Field(default=2.0, gt=0)


class DPOSpec(Strict):
    """Stage `dpo` (ffllm/train/dpo.py): fields of TRL's DPOConfig, same names and defaults.
    The sequence limit is `data.seq_len` (DPOConfig.max_length)."""

    beta: float = Field(default=0.1, gt=0)  # how far the policy may move from the reference
    loss_type: DPOLoss = "sigmoid"  # "sigmoid" is the DPO paper's loss
    label_smoothing: float = Field(default=0.0, ge=0, lt=0.5)  # robust / exo_pair only
    # Score the reference once before step 0 instead of keeping a second model in memory.
    precompute_ref_log_probs: bool = False


class RuntimeSpec(Strict):
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    compile: Literal["auto", "on", "off"] = "auto"  # auto: torch.compile on GPU only
    loss: Literal["chunked", "hf"] = "chunked"  # chunked never builds the fp32 logits tensor
    log_every: int = Field(default=1, gt=0)  # the only host sync of the loop is at log steps
    peak_tflops: float = Field(default=770.0, gt=0)  # per device; MFU denominator (H200 matmul)


class RunManifest(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    stage: Stage
    seed: int = 0
    model: ModelSpec
    data: DataSpec
    optim: OptimSpec
    schedule: ScheduleSpec
    batch: BatchSpec
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec)
    lora: LoraSpec | None = None
    distill: DistillSpec | None = None  # stage distill: also match the teacher's logits
    dpo: DPOSpec | None = None  # stage dpo: TRL's DPOTrainer (defaults when omitted)
    deepspeed: dict[str, Any] = Field(default_factory=dict)  # merged over the generated config

    @model_validator(mode="after")
    def _distill_stage(self):
        if self.distill is not None and self.stage != "distill":
            raise ValueError(f"'distill' needs stage 'distill', not {self.stage!r}")
        return self

    @model_validator(mode="after")
    def _dpo_stage(self):
        if self.stage != "dpo":
            if self.dpo is not None:
                raise ValueError(f"'dpo' needs stage 'dpo', not {self.stage!r}")
            return self
        if self.dpo is None:
            self.dpo = DPOSpec()
        # What ffllm/train/dpo.py does not wire into TRL is refused, not silently ignored.
        unsupported = {
            "model.preset": self.model.preset is not None,  # TRL loads the reference from init
            "lora": self.lora is not None,
            "data.eval_part": self.data.eval_part is not None,  # the pair sets have one part
            "data.replay": self.data.replay is not None,
            "schedule.early_stop_step": self.schedule.early_stop_step is not None,
            "runtime.loss": "loss" in self.runtime.model_fields_set,  # TRL computes the loss
        }
        named = [key for key, given in unsupported.items() if given]
        if named:
            raise ValueError(
                f"stage 'dpo' does not take {', '.join(named)} (model.init is the policy's start "
                "and the reference model; see docs/training.md, DPO)"
            )
        return self


def total_steps(run: RunManifest, steps_per_epoch: int) -> int:
    """Length of the LR schedule (the early stop cuts the run, not the schedule)."""
    if run.schedule.max_steps is not None:
        return run.schedule.max_steps
    return run.schedule.epochs * steps_per_epoch


def lr_at(step: int, optim: OptimSpec, total: int) -> float:
    """Linear warmup, then cosine from lr to min_lr; `step` counts optimizer steps from 0."""
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    span = max(1, total - optim.warmup_steps)
    progress = min(1.0, (step - optim.warmup_steps) / span)
    return optim.min_lr + 0.5 * (optim.lr - optim.min_lr) * (1 + math.cos(math.pi * progress))


def deep_merge(base: dict, override: dict) -> dict:
    """`override` merged into `base` key by key (nested mappings merge, other values replace)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def deepspeed_config(run: RunManifest, world_size: int, bf16: bool) -> dict:
    """ZeRO-2 config for this run; the manifest's `deepspeed:` mapping wins key by key."""
    # Our loop divides each micro loss by the whole step's token count, so ranks' gradients add
    # up; TRL's DPO loss is a mean over each rank's own pairs, so ranks' gradients average.
    reduce_op = "mean" if run.stage == "dpo" else "sum"
    config = {
        "train_micro_batch_size_per_gpu": run.batch.micro,
        "gradient_accumulation_steps": run.batch.accumulation(world_size),
        "train_batch_size": run.batch.global_,
        "gradient_clipping": run.optim.grad_clip,
        "gradient_allreduce_op": reduce_op,
        # The optimizer is a client torch AdamW: naming one here makes DeepSpeed compile an op.
        "zero_allow_untested_optimizer": True,
        "zero_optimization": {
            "stage": 2,
            "contiguous_gradients": True,
            # A separate reduction stream pays a device sync per bucket; it only helps when
            # there is communication to overlap.
            "overlap_comm": world_size > 1,
            "reduce_bucket_size": 200_000_000,
            "allgather_bucket_size": 200_000_000,
        },
        "bf16": {"enabled": bf16, "check_grad_overflow": False},
        # DeepSpeed's throughput timer synchronizes the device twice per micro step.
        "timers": {"throughput": {"enabled": False}},
        "steps_per_print": 1_000_000_000,
        "wall_clock_breakdown": False,
    }
    config = deep_merge(config, run.deepspeed)
    if config["gradient_allreduce_op"] != reduce_op:
        why = {
            "sum": "the loss is already divided by the token count of the whole step, over all "
            "ranks",
            "mean": "TRL's DPO loss is a mean over each rank's pairs",
        }[reduce_op]
        raise FFDataError(f"deepspeed.gradient_allreduce_op must stay {reduce_op!r}: {why}")
    return config


def parse_run(data: Any, origin: str) -> RunManifest:
    return validate(RunManifest, data, origin, what="run manifest")


def load_run(path: str | Path) -> RunManifest:
    return parse_run(read_yaml(path, what="run manifest"), str(path))


def run_to_dict(run: RunManifest) -> dict:
    """The resolved manifest as plain JSON values (written into the run dir and checkpoints)."""
    return run.model_dump(mode="json", by_alias=True)
