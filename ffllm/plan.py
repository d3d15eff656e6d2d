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
"""

from dataclasses import dataclass

from ffllm.train.config import PRESETS

GIB = 1024**3
VOCAB = 50257
LOSS_CHUNK = 4096


def n_params(n_embd: int, n_layer: int, n_positions: int, vocab: int = VOCAB) -> int:
    """GPT-2 with a tied LM head: embeddings + 12d² + 13d per block + final LayerNorm."""
    return (
        vocab * n_embd
        + n_positions * n_embd
        + n_layer * (12 * n_embd**2 + 13 * n_embd)
        + 2 * n_embd
    )


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
) -> Plan:
    if model not in PRESETS:
        raise ValueError(f"unknown model preset {model!r} (presets: {sorted(PRESETS)})")
    if zero not in (0, 1, 2, 3):
        raise ValueError(f"ZeRO stage must be 0-3, got {zero}")
    p = PRESETS[model]
    d, n_layer = p["n_embd"], p["n_layer"]
    seq = seq or p["n_positions"]
    n = n_params(d, n_layer, p["n_positions"])
    g = gpus
    overlap = gpus > 1 if overlap_comm is None else overlap_comm

    rows = {
        "params_bf16": 2 * n / g if zero == 3 else 2 * n,
        "grads_bf16": 2 * n / g if zero >= 2 else 2 * n,
        "optimizer_fp32": 12 * n / g if zero >= 1 else 12 * n,
        "comm_buckets": 2 * (reduce_bucket * (2 if overlap else 1) + allgather_bucket),
    }
    sbh = seq * micro * d
    per_layer = (34 if compiled else 54) * sbh
    tokens = seq * micro
    if loss == "hf":
        logits = 10 * tokens * VOCAB
    else:
        logits = 8 * min(tokens, LOSS_CHUNK) * VOCAB + 4 * VOCAB * d + 2 * sbh
    activations = n_layer * per_layer + logits
    activations_ckpt = n_layer * 2 * sbh + per_layer + logits
    step_transient = 4 * n / g if zero >= 1 else 4 * n
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
    gib = lambda b: f"{b / GIB:8.2f}"  # noqa: E731
    lines = [
        f"model {pl.model}: {pl.params:,} params | {pl.gpus} GPU(s) × {pl.gpu_mem_gib:g} GiB | "
        f"ZeRO-{pl.zero} | micro {pl.micro} × seq {pl.seq}",
        "",
        f"{'per GPU (GiB)':34} {'no ckpt':>8} {'ckpt':>8}",
    ]
    labels = {
        "params_bf16": "parameters (bf16)",
        "grads_bf16": "gradients (bf16 partition)",
        "optimizer_fp32": "optimizer (fp32 master + Adam m,v)",
        "comm_buckets": "communication buckets",
    }
    for key, value in pl.rows.items():
        lines.append(f"{labels[key]:34} {gib(value)} {gib(value)}")
    lines.append(f"{'activations + logits':34} {gib(pl.activations)} {gib(pl.activations_ckpt)}")
    lines.append(
        f"{'fp32 gradients (at the step)':34} {gib(pl.step_transient)} {gib(pl.step_transient)}"
    )
    lines.append(f"{'peak allocated':34} {gib(pl.peak(False))} {gib(pl.peak(True))}")
    lines.append(
        f"{'+ context and slack':34} {pl.needed_gib(False):8.2f} {pl.needed_gib(True):8.2f}"
    )
    verdict = lambda ok: "fits" if ok else "DOES NOT FIT"  # noqa: E731
    lines.append(f"{'verdict':34} {verdict(pl.fits(False)):>8} {verdict(pl.fits(True)):>8}")
    lines.append("")
    lines.append(
        f"largest micro batch that fits: {max_no_ckpt} without, {max_ckpt} with checkpointing"
    )
    return "\n".join(lines)
