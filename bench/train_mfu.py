"""Training throughput and MFU of the 2.02B FF-LLM config under DeepSpeed ZeRO-2; prints JSON.

Two variants run in the same process, one after the other, on the same synthetic packed
sequences (every position labelled, as in pretraining), with the same global batch:

  deepspeed_eager  the baseline of ENVIRONMENT.md: HF GPT2LMHeadModel computing its own loss
                   (full fp32 logits), DeepSpeed ZeRO-2 with stock settings, bf16, client fused
                   AdamW, micro 8, `loss.item()` every step as a typical loop logs it.
  ffllm            what `ffllm train` runs: the trainer's generated DeepSpeed config (throughput
                   timer off, no overflow check sync, no overlap stream on one GPU), torch.compile
                   of the GPT-2 body before DeepSpeed, the chunked linear cross-entropy that never
                   builds fp32 logits, fused AdamW, micro 16, no host sync inside the timed steps.

GPU (one H200; ~8 minutes, most of it torch.compile and the baseline's slow steps):
    python bench/train_mfu.py > bench_train_mfu.json
CPU smoke test of the same code (tiny model, fp32, gloo):
    OMP_NUM_THREADS=1 python bench/train_mfu.py --tiny --device cpu

MFU = tokens/s × (6N + 12·L·d·T) / peak; the default peak is the ~770 TFLOP/s bf16 matmul rate
measured on the H200 (ENVIRONMENT.md), so the numbers compare with the table there.
Goals (issue 7): ffllm ≥ 36K tok/s (≥ 60% MFU) and ≥ 1.75× deepspeed_eager.
"""

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ffllm.train.config import deepspeed_config, parse_run  # noqa: E402
from ffllm.train.extensions import prebuild_ops  # noqa: E402
from ffllm.train.model import LMWithLoss, build_model, count_params, flops_per_token  # noqa: E402
from ffllm.train.trainer import prepare_environment  # noqa: E402


def stock_config(micro: int, accum: int, bf16: bool) -> dict:
    """DeepSpeed ZeRO-2 as a user writes it: everything else left at DeepSpeed's defaults."""
    return {
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accum,
        "gradient_clipping": 1.0,
        "bf16": {"enabled": bf16},
        "zero_optimization": {"stage": 2},
        "zero_allow_untested_optimizer": True,
    }


def ffllm_config(micro: int, global_batch: int, bf16: bool) -> dict:
    run = parse_run(
        {
            "name": "bench",
            "stage": "pretrain",
            "model": {"preset": "tiny"},
            "data": {"set": "none"},
            "optim": {"lr": 1e-4, "grad_clip": 1.0},
            "schedule": {"max_steps": 1},
            "batch": {"micro": micro, "global": global_batch},
        },
        "bench",
    )
    return deepspeed_config(run, world_size=1, bf16=bf16)


def run_variant(name: str, args, device: torch.device, data: torch.Tensor) -> dict:
    import deepspeed

    ours = name == "ffllm"
    micro = args.micro if ours else args.baseline_micro
    accum = args.global_batch // micro
    bf16 = device.type == "cuda"
    compile_body = ours and args.compile == "on"

    torch.manual_seed(0)
    lm = build_model(args.model, None, device=device.type)
    n_params = count_params(lm)
    flops_tok = flops_per_token(n_params, lm.config.n_layer, lm.config.n_embd, args.seq)
    if compile_body:
        lm.transformer.compile()
    optimizer = torch.optim.AdamW(lm.parameters(), lr=1e-5, fused=device.type == "cuda")
    config = (
        ffllm_config(micro, args.global_batch, bf16) if ours else stock_config(micro, accum, bf16)
    )
    engine, *_ = deepspeed.initialize(
        model=LMWithLoss(lm, "chunked" if ours else "hf"), optimizer=optimizer, config=config
    )

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    batches = data[: micro * accum].view(accum, micro, args.seq).to(device)
    steps = args.warmup + args.steps
    losses, first_step_s = [], None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_start = time.perf_counter()
    for step in range(steps):
        if step == args.warmup:
            sync()
            t0 = time.perf_counter()
        for ids in batches:
            loss = engine(ids, ids)
            engine.backward(loss)
            engine.step()
        if ours:
            last = loss.detach()  # read after the timed window: no host sync per step
        else:
            losses.append(loss.item())  # what a typical loop does to log every step
        if step == 0:
            sync()
            first_step_s = time.perf_counter() - t_start
    sync()
    elapsed = time.perf_counter() - t0
    if ours:
        losses.append(last.item())
    tokens = args.steps * args.global_batch * args.seq
    tok_s = tokens / elapsed
    result = {
        "micro": micro,
        "accumulation": accum,
        "loss": "chunked" if ours else "hf",
        "compiled": compile_body,
        "steps_timed": args.steps,
        "step_s": elapsed / args.steps,
        "first_step_s": first_step_s,
        "tokens_per_s": tok_s,
        "mfu": tok_s * flops_tok / (args.peak_tflops * 1e12),
        "last_loss": losses[-1],
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30
        if device.type == "cuda"
        else None,
        "params": n_params,
        "deepspeed_config": config,
    }
    # Free everything before the next variant: two 2B models with optimizer states do not fit.
    engine.destroy()
    del engine, optimizer, lm, batches
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    torch._dynamo.reset()
    return result


def _gpu_gib(device: str) -> float:
    if device != "cuda" or not torch.cuda.is_available():
        return 0.0
    return torch.cuda.get_device_properties(0).total_memory / 2**30


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="tiny preset, seq 128: a CPU smoke test")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--model", default=None, help="preset (default 2b, or tiny with --tiny)")
    p.add_argument("--seq", type=int, default=None)
    p.add_argument("--global-batch", type=int, default=None, help="sequences per step")
    p.add_argument("--micro", type=int, default=None, help="ffllm micro batch")
    p.add_argument("--baseline-micro", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None, help="untimed steps (compile happens here)")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps")
    p.add_argument("--compile", default=None, choices=["on", "off"])
    p.add_argument("--peak-tflops", type=float, default=770.0)
    p.add_argument("--variants", default="deepspeed_eager,ffllm")
    args = p.parse_args()

    small = args.tiny
    defaults = {
        "model": "tiny" if small else "2b",
        "seq": 128 if small else 1024,
        "global_batch": 8 if small else 128,
        # micro 16 needs ~78 GiB (ffllm plan): fine on an H200, too tight on an 80 GB H100
        "micro": 4 if small else (16 if _gpu_gib(args.device) > 100 else 8),
        "baseline_micro": 4 if small else 8,
        "warmup": 1 if small else 2,
        "steps": 2 if small else 4,
        "compile": "off" if args.device == "cpu" else "on",
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: no CUDA device (use --tiny --device cpu for the CPU smoke test)")
    # DeepSpeed and its op builds print to stdout; keep stdout for the JSON alone.
    json_out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    prepare_environment()
    import deepspeed
    import transformers

    prebuild_ops()
    deepspeed.init_distributed()
    device = torch.device("cuda:0" if args.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True

    gen = torch.Generator().manual_seed(0)
    data = torch.randint(0, 50257, (args.global_batch, args.seq), generator=gen)
    results = {}
    for name in args.variants.split(","):
        results[name] = run_variant(name, args, device, data)
        print(f"{name}: {results[name]['tokens_per_s']:,.0f} tok/s", file=sys.stderr)

    out = {
        "bench": "train_mfu",
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "model": args.model,
        "seq": args.seq,
        "global_batch": args.global_batch,
        "peak_tflops": args.peak_tflops,
        "versions": {
            "torch": torch.__version__,
            "deepspeed": deepspeed.__version__,
            "transformers": transformers.__version__,
        },
        "variants": results,
    }
    if {"deepspeed_eager", "ffllm"} <= results.keys():
        ours, base = results["ffllm"], results["deepspeed_eager"]
        speedup = ours["tokens_per_s"] / base["tokens_per_s"]
        out["speedup_vs_deepspeed_eager"] = speedup
        out["goals"] = {
            "tokens_per_s_ge_36k": ours["tokens_per_s"] >= 36_000,
            "mfu_ge_60pct": ours["mfu"] >= 0.60,
            "speedup_ge_1.75": speedup >= 1.75,
        }
    json_out.write(json.dumps(out, indent=2) + "\n")
    json_out.flush()


if __name__ == "__main__":
    main()
