"""`ffllm plan`: per-GPU memory of a GPT-2 run under DeepSpeed ZeRO, and whether it fits.

Model of memory (bf16 weights, fp32 master weights, AdamW; N parameters, g GPUs):

    bf16 parameters        2N          (ZeRO-3: 2N/g)
    bf16 gradients         2N          (ZeRO-2/3: 2N/g, the partition this GPU owns)
    fp32 master + Adam     12N/g       (ZeRO-0: 12N)
    fp32 gradients         4N/g        built from the bf16 partition at the optimizer step only
    comm buckets           2 bytes × (reduce bucket × (2 if overlap_comm) + allgather bucket)
    activations per layer  34·s·b·h bytes with fused attention (Korthikanti et al. 2022, sec 4),
                           measured: the compiled model fits this; eager HF GPT-2 keeps about
                           20·s·b·h more (its tanh-GELU intermediates), 54·s·b·h in all
      with checkpointing   2·s·b·h per layer (the saved block inputs) + one layer recomputed
    logits and loss        hf: 10 bytes × tokens × vocab (bf16 logits, fp32 copy, fp32 grad)
                           chunked: 8 bytes × 4096 × vocab + an fp32 LM-head gradient

Peak = static + max(forward/backward working set, fp32 gradients at the step). A CUDA context
and allocator slack (1.5 GiB + 5%) is added before comparing with the card's memory.
Calibrated against the single-H200 peaks in ENVIRONMENT.md (tests/test_plan.py checks them).

fp32 runs hold 4-byte weights, gradients, buckets and activations (the optimizer is 12N/g
either way: DeepSpeed keeps an fp32 copy of its partition). LoRA: the frozen base is weights
only; gradients, optimizer and step transient count the adapters alone. A frozen model beside
the trained one (the distillation teacher, the DPO reference) adds its weights; distillation and
DPO build full-vocabulary logits (not chunked), DPO for chosen and rejected together.

`plan_run` plans a run manifest (`ffllm plan --manifest F`): the model, micro batch, sequence
length, precision, compile and activation checkpointing come from the manifest, and when it
does not fit as written it says what would (`needs`).
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ffdata.errors import FFDataError
from ffllm.train.config import PRESETS, RunManifest, deepspeed_config, load_run

GIB = 1024**3
VOCAB = 50257
LOSS_CHUNK = 4096
# LoRA on a GPT-2 block: the Conv1D modules a target name matches, as (in, out) in units of d
# ("c_proj" is both the attention output and the MLP's down projection).
LORA_SHAPES = {"c_attn": [(1, 3)], "c_proj": [(1, 1), (4, 1)], "c_fc": [(1, 4)]}


def n_params(n_embd: int, n_layer: int, n_positions: int, vocab: int = VOCAB) -> int:
    """GPT-2 with a tied LM head: embeddings + 12d² + 13d per block + final LayerNorm."""
    return (
        vocab * n_embd
        + n_positions * n_embd
        + n_layer * (12 * n_embd**2 + 13 * n_embd)
        + 2 * n_embd
    )


def lora_params(n_embd: int, n_layer: int, r: int, targets: list[str]) -> int:
    """Adapter parameters: r × (in + out) per adapted Conv1D of every block."""
    shapes = [s for t in targets for s in LORA_SHAPES.get(t, [])]
    return n_layer * sum(r * (i + o) * n_embd for i, o in shapes)


@dataclass
class Plan:
    model: str
    params: int
    gpus: int
    gpu_mem_gib: float
    zero: int
    micro: int
    seq: int
    rows: dict  # component -> bytes, static part
    activations: int  # bytes, without activation checkpointing
    activations_ckpt: int  # bytes, with activation checkpointing
    step_transient: int
    precision: str = "bf16"
    trainable: int | None = None  # None: every parameter
    overhead_gib: float = 1.5

    def peak(self, checkpointing: bool) -> int:
        acts = self.activations_ckpt if checkpointing else self.activations
        return sum(self.rows.values()) + max(acts, self.step_transient)

    def needed_gib(self, checkpointing: bool) -> float:
        return self.peak(checkpointing) / GIB * 1.05 + self.overhead_gib

    def fits(self, checkpointing: bool) -> bool:
        return self.needed_gib(checkpointing) <= self.gpu_mem_gib

    def to_dict(self) -> dict:
        gib = lambda b: round(b / GIB, 2)  # noqa: E731
        return {
            "model": self.model,
            "params": self.params,
            "trainable": self.params if self.trainable is None else self.trainable,
            "precision": self.precision,
            "gpus": self.gpus,
            "gpu_mem_gib": self.gpu_mem_gib,
            "zero": self.zero,
            "micro": self.micro,
            "seq": self.seq,
            "per_gpu_gib": {k: gib(v) for k, v in self.rows.items()}
            | {
                "activations": gib(self.activations),
                "activations_checkpointed": gib(self.activations_ckpt),
                "fp32_grads_at_step": gib(self.step_transient),
            },
            "peak_gib": {"no_ckpt": gib(self.peak(False)), "ckpt": gib(self.peak(True))},
            "needed_gib": {
                "no_ckpt": round(self.needed_gib(False), 2),
                "ckpt": round(self.needed_gib(True), 2),
            },
            "fits": {"no_ckpt": self.fits(False), "ckpt": self.fits(True)},
        }


def plan(
    model: str = "2b",
    gpus: int = 8,
    gpu_mem_gib: float = 24,
    zero: int = 2,
    micro: int = 4,
    seq: int | None = None,
    compiled: bool = True,
    loss: str = "chunked",
    reduce_bucket: float = 2e8,
    allgather_bucket: float = 2e8,
    overlap_comm: bool | None = None,
    dims: dict | None = None,
    precision: str = "bf16",
    trainable: int | None = None,
    frozen_params: int = 0,
    seqs_per_micro: int = 1,
) -> Plan:
    """`model` names a preset, or only labels `dims` (n_embd, n_layer, n_positions[, vocab]).
    `trainable`: the parameters the optimizer trains (LoRA adapters; None: all). `frozen_params`:
    a frozen model beside it in the run's precision (teacher, reference). `seqs_per_micro`: sequences per micro
    batch entry (DPO: 2). `loss`: chunked, hf, or full (hf plus a frozen model's bf16 logits)."""
    if dims is None and model not in PRESETS:
        raise ValueError(f"unknown model preset {model!r} (presets: {sorted(PRESETS)})")
    if zero not in (0, 1, 2, 3):
        raise ValueError(f"ZeRO stage must be 0-3, got {zero}")
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be bf16 or fp32, got {precision!r}")
    p = dims or PRESETS[model]
    d, n_layer, vocab = p["n_embd"], p["n_layer"], p.get("vocab", VOCAB)
    seq = seq or p["n_positions"]
    n = n_params(d, n_layer, p["n_positions"], vocab)
    t = n if trainable is None else trainable  # what gradients and the optimizer hold
    g = gpus
    w = 2 if precision == "bf16" else 4  # bytes per weight, gradient and activation element
    overlap = gpus > 1 if overlap_comm is None else overlap_comm

    weights = n + (0 if trainable is None else trainable)  # LoRA: base + adapters
    rows = {
        "params": w * weights / g if zero == 3 else w * weights,
        "grads": w * t / g if zero >= 2 else w * t,
        "optimizer_fp32": 12 * t / g if zero >= 1 else 12 * t,
        "comm_buckets": w * (reduce_bucket * (2 if overlap else 1) + allgather_bucket),
    }
    if frozen_params:
        rows["frozen_model"] = w * frozen_params
    sbh = seq * micro * seqs_per_micro * d
    per_layer = (34 if compiled else 54) * sbh * w // 2
    tokens = seq * micro * seqs_per_micro
    if loss == "hf":
        logits = 10 * tokens * vocab
    elif loss == "full":
        logits = 12 * tokens * vocab
    else:
        logits = 8 * min(tokens, LOSS_CHUNK) * vocab + 4 * vocab * d + 2 * sbh
    activations = n_layer * per_layer + logits
    activations_ckpt = n_layer * w * sbh + per_layer + logits
    step_transient = 4 * t / g if zero >= 1 else 4 * t
    return Plan(
        model=model,
        params=n,
        gpus=gpus,
        gpu_mem_gib=gpu_mem_gib,
        zero=zero,
        micro=micro,
        seq=seq,
        rows={k: int(v) for k, v in rows.items()},
        activations=int(activations),
        activations_ckpt=int(activations_ckpt),
        step_transient=int(step_transient),
        precision=precision,
        trainable=trainable,
    )


def max_micro(checkpointing: bool, **kwargs) -> int:
    """The largest micro batch that fits (0 if even 1 does not)."""
    best = 0
    for micro in range(1, 257):
        if not plan(micro=micro, **kwargs).fits(checkpointing):
            break
        best = micro
    return best


def render(pl: Plan, max_no_ckpt: int, max_ckpt: int) -> str:
    gib = lambda b: f"{b / GIB:12.2f}"  # noqa: E731
    trained = "" if pl.trainable is None else f" ({pl.trainable:,} trained)"
    lines = [
        f"model {pl.model}: {pl.params:,} params{trained} | {pl.gpus} GPU(s) × "
        f"{pl.gpu_mem_gib:g} GiB | ZeRO-{pl.zero} | {pl.precision} | micro {pl.micro} × seq {pl.seq}",
        "",
        f"{'per GPU (GiB)':34} {'no ckpt':>12} {'ckpt':>12}",
    ]
    w = pl.precision
    labels = {
        "params": f"parameters ({w})",
        "grads": f"gradients ({w}{', partition' if pl.zero >= 2 else ''})",
        "optimizer_fp32": "optimizer (fp32 master + Adam m,v)",
        "comm_buckets": "communication buckets",
        "frozen_model": f"frozen model ({w})",
    }
    for key, value in pl.rows.items():
        lines.append(f"{labels[key]:34} {gib(value)} {gib(value)}")
    lines.append(f"{'activations + logits':34} {gib(pl.activations)} {gib(pl.activations_ckpt)}")
    lines.append(
        f"{'fp32 gradients (at the step)':34} {gib(pl.step_transient)} {gib(pl.step_transient)}"
    )
    lines.append(f"{'peak allocated':34} {gib(pl.peak(False))} {gib(pl.peak(True))}")
    lines.append(
        f"{'+ context and slack':34} {pl.needed_gib(False):12.2f} {pl.needed_gib(True):12.2f}"
    )
    verdict = lambda ok: "fits" if ok else "DOES NOT FIT"  # noqa: E731
    lines.append(f"{'verdict':34} {verdict(pl.fits(False)):>12} {verdict(pl.fits(True)):>12}")
    lines.append("")
    lines.append(
        f"largest micro batch that fits: {max_no_ckpt} without, {max_ckpt} with checkpointing"
    )
    return "\n".join(lines)


# --- run manifests ---------------------------------------------------------------------------


@dataclass
class RunPlan:
    """A run manifest planned on `gpus` GPUs: the plan as written, and what it needs if it does
    not fit (or its global batch does not split over the GPUs)."""

    manifest: str
    run: RunManifest
    plan: Plan
    kwargs: dict  # plan() arguments but micro: the manifest's settings
    checkpointing: bool
    accumulation: int | None  # None: batch.global does not split over micro × GPUs
    notes: list[str] = field(default_factory=list)
    batch_need: str | None = None  # required: the global batch must split over the GPUs
    memory_needs: list[str] = field(default_factory=list)  # alternatives: any one fits

    @property
    def fits(self) -> bool:
        return self.accumulation is not None and self.plan.fits(self.checkpointing)

    def to_dict(self) -> dict:
        best = {k: max_micro(ck, **self.kwargs) for k, ck in (("no_ckpt", False), ("ckpt", True))}
        return self.plan.to_dict() | {
            "max_micro": best,
            "manifest": self.manifest,
            "run": self.run.name,
            "stage": self.run.stage,
            "compiled": self.kwargs["compiled"],
            "activation_checkpointing": self.checkpointing,
            "global_batch": self.run.batch.global_,
            "accumulation": self.accumulation,
            "needed_gib_as_written": round(self.plan.needed_gib(self.checkpointing), 2),
            "fits_as_written": self.fits,
            "needs": {"batch": self.batch_need, "memory_one_of": self.memory_needs},
            "notes": self.notes,
        }


def _checkpoint_dims(path: str) -> dict | None:
    """n_embd, n_layer, n_positions, vocab of an HF GPT-2 checkpoint folder, if it is here."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return None
    c = json.loads(config.read_text())
    try:
        return {k: c[k] for k in ("n_embd", "n_layer", "n_positions")} | {"vocab": c["vocab_size"]}
    except KeyError as e:
        raise FFDataError(f"{config}: no {e.args[0]!r}: not a GPT-2 config") from None


def _model(
    run: RunManifest,
    model: str | None,
    notes: list[str],
    manifest_dir: Path | None = None,
    depth: int = 0,
) -> tuple[str, dict]:
    """(label, dims) of the trained model: its preset, its init checkpoint's config, or --model."""
    if depth > 16:
        raise FFDataError(f"model.init {run.model.init}: the runs' inits form a cycle")
    if run.model.preset is not None:
        if model is not None and model != run.model.preset:
            raise FFDataError(f"--model {model}: the manifest names preset {run.model.preset!r}")
        return run.model.preset, PRESETS[run.model.preset]
    init = run.model.init
    if model is not None:
        if model not in PRESETS:
            raise FFDataError(f"unknown model preset {model!r} (presets: {sorted(PRESETS)})")
        notes.append(f"model.init {init}: planned as the {model} preset (--model)")
        return model, PRESETS[model]
    dims = _checkpoint_dims(init)
    if dims is not None:
        return f"init {init}", dims
    # Not trained yet: an export of another run (runs/<name>/hf/ckpt-<step>) has the size of
    # that run's model; anything else is a stage of the FF line, the 2b preset. Said either way.
    source = _source_run(init, manifest_dir)
    if source is not None:
        label, dims = _model(source, None, [], manifest_dir, depth + 1)
        notes.append(
            f"model.init {init} is not here: planned as run {source.name}'s model ({label})"
        )
        return label, dims
    notes.append(
        f"model.init {init} is not here (no config.json): planned as the 2b preset, the "
        "FF-LLM size (--model plans another)"
    )
    return "2b", PRESETS["2b"]


def _source_run(init: str, manifest_dir: Path | None) -> RunManifest | None:
    """The run manifest (beside this one) of the run whose HF export `init` names."""
    match = re.search(r"(?:^|/)runs/([^/]+)/hf/ckpt-\d+/?$", init)
    if match is None or manifest_dir is None:
        return None
    for path in sorted(manifest_dir.glob("*.yaml")):
        try:
            run = load_run(path)
        except FFDataError:
            continue  # another manifest's problem, not this plan's
        if run.name == match.group(1):
            return run
    return None


def plan_run(
    run: RunManifest,
    manifest: str = "",
    gpus: int = 8,
    gpu_mem_gib: float = 24,
    model: str | None = None,
) -> RunPlan:
    """Plan `run` as written on `gpus` GPUs of `gpu_mem_gib` (bf16 where it says auto: GPUs)."""
    notes: list[str] = []
    label, dims = _model(run, model, notes, Path(manifest).parent if manifest else None)
    if run.data.seq_len > dims["n_positions"]:
        raise FFDataError(
            f"{manifest}: data.seq_len {run.data.seq_len} > model context {dims['n_positions']}"
        )
    precision = "fp32" if run.runtime.precision == "fp32" else "bf16"
    # The generated DeepSpeed config (with the manifest's overrides) gives the ZeRO stage and
    # buckets; it is built for a batch that splits, since a split problem is a "need" here.
    micro, global_ = run.batch.micro, run.batch.global_
    splits = lambda m, g=gpus: global_ % (m * g) == 0  # noqa: E731
    whole = run.model_copy(update={"batch": run.batch.model_copy(update={"global_": micro * gpus})})
    zero_cfg = deepspeed_config(whole, gpus, precision == "bf16")["zero_optimization"]
    n = n_params(dims["n_embd"], dims["n_layer"], dims["n_positions"], dims.get("vocab", VOCAB))
    kwargs = dict(
        model=label,
        dims=dims,
        gpus=gpus,
        gpu_mem_gib=gpu_mem_gib,
        zero=int(zero_cfg.get("stage", 2)),
        seq=run.data.seq_len,
        compiled=run.runtime.compile != "off",  # auto: compiled on GPUs
        loss=run.runtime.loss,
        reduce_bucket=float(zero_cfg.get("reduce_bucket_size", 5e8)),
        allgather_bucket=float(zero_cfg.get("allgather_bucket_size", 5e8)),
        overlap_comm=bool(zero_cfg.get("overlap_comm", gpus > 1)),
        precision=precision,
    )
    if run.lora is not None:
        kwargs["trainable"] = lora_params(
            dims["n_embd"], dims["n_layer"], run.lora.r, run.lora.target_modules
        )
    if run.distill is not None:
        teacher = _checkpoint_dims(run.distill.teacher)
        if teacher is None:
            notes.append(f"distill.teacher {run.distill.teacher} is not here: planned as large "
                         "as the student")  # fmt: skip
        t = teacher or dims
        kwargs["frozen_params"] = n_params(
            t["n_embd"], t["n_layer"], t["n_positions"], t.get("vocab", VOCAB)
        )
        kwargs["loss"] = "full"
    if run.stage == "dpo":  # TRL: chosen and rejected in one forward, a reference model
        kwargs["seqs_per_micro"] = 2
        kwargs["loss"] = "hf"
        kwargs["compiled"] = (
            run.runtime.compile == "on"
        )  # auto is eager for DPO (ffllm/train/dpo.py)
        if run.lora is None:  # with LoRA the reference is the base with the adapters off
            kwargs["frozen_params"] = n
    pl = plan(micro=micro, **kwargs)
    checkpointing = run.model.activation_checkpointing
    rp = RunPlan(
        manifest=manifest,
        run=run,
        plan=pl,
        kwargs=kwargs,
        checkpointing=checkpointing,
        accumulation=global_ // (micro * gpus) if splits(micro) else None,
        notes=notes,
    )
    rp.batch_need = _batch_need(rp, splits)
    rp.memory_needs = _memory_needs(rp, splits)
    return rp


def _batch_need(rp: RunPlan, splits) -> str | None:
    """The GPU counts the global batch splits over, when it does not split over these."""
    if rp.accumulation is not None:
        return None
    micro, global_ = rp.run.batch.micro, rp.run.batch.global_
    counts = [str(g) for g in range(1, 1025) if splits(micro, g)][:8]
    return (
        f"batch.global {global_} does not split over micro {micro} × {rp.plan.gpus} GPU(s): "
        f"run it on {', '.join(counts) or 'no'} GPU(s), or make batch.global a multiple of "
        f"{micro * rp.plan.gpus}"
    )


def _memory_needs(rp: RunPlan, splits) -> list[str]:
    """Alternatives, any one of which fits: activation checkpointing, a smaller micro batch
    (one the global batch splits over, when there is one), or more memory or GPUs."""
    pl, kw, ckpt, micro = rp.plan, rp.kwargs, rp.checkpointing, rp.run.batch.micro
    if pl.fits(ckpt):
        return []
    gib = lambda p, c: f"{p.needed_gib(c):.1f} GiB"  # noqa: E731
    alternatives = []
    if not ckpt and pl.fits(True):
        alternatives.append(f"model.activation_checkpointing: true ({gib(pl, True)})")
    smaller = [m for m in range(micro - 1, 0, -1) if splits(m)] or list(range(micro - 1, 0, -1))
    for c in [ckpt] if ckpt or pl.fits(True) else [False, True]:
        fit = next((m for m in smaller if plan(micro=m, **kw).fits(c)), None)
        if fit is not None:
            with_ckpt = " and model.activation_checkpointing: true" if c != ckpt else ""
            acc = f", accumulation {rp.run.batch.global_ // (fit * pl.gpus)}" if splits(fit) else ""
            alternatives.append(
                f"batch.micro: {fit}{with_ckpt} ({gib(plan(micro=fit, **kw), c)}{acc})"
            )
            break
    if not alternatives:
        one = plan(micro=1, **kw)
        more = next(
            (g for g in range(pl.gpus + 1, 1025) if plan(micro=1, **kw | {"gpus": g}).fits(True)),
            None,
        )
        alternatives.append(
            f"a GPU with {gib(one, True)}: even micro 1 with activation checkpointing needs it"
            + (f"; or {more}+ GPUs of {pl.gpu_mem_gib:g} GiB" if more else "")
        )
    return alternatives


def render_run(rp: RunPlan) -> str:
    run, pl = rp.run, rp.plan
    best = max_micro(False, **rp.kwargs), max_micro(True, **rp.kwargs)
    acc = "does not split" if rp.accumulation is None else f"accumulation {rp.accumulation}"
    head = [
        f"manifest {rp.manifest}: run {run.name} (stage {run.stage}), "
        f"{'compiled' if rp.kwargs['compiled'] else 'eager'}, activation checkpointing "
        f"{'on' if rp.checkpointing else 'off'}, batch.global {run.batch.global_} ({acc})",
        *(f"note: {n}" for n in rp.notes),
        "",
    ]
    need, fits = pl.needed_gib(rp.checkpointing), pl.fits(rp.checkpointing)
    tail = ["", f"as written: {need:.2f} of {pl.gpu_mem_gib:g} GiB per GPU: "
            + ("fits" if fits else "DOES NOT FIT")]  # fmt: skip
    if rp.batch_need:
        tail.append(f"{'but ' if fits else ''}it needs: {rp.batch_need}")
    if rp.memory_needs:
        tail.append("to fit it needs one of:" if len(rp.memory_needs) > 1 else "to fit it needs:")
        tail += [f"  - {n}" for n in rp.memory_needs]
    return "\n".join(head + [render(pl, *best)] + tail)
