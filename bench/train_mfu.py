"""Throughput and MFU of `ffllm train` itself next to a DeepSpeed-eager baseline; prints JSON.

Both variants run in one process, one after the other, on the same data: the token blocks of a
small pretrain_mix set built by the real pipeline (ffdata.pretrain.sample's project, ~6K tokens,
or `--root` holding a built pretrain_mix), read in the trainer's seeded order.

  deepspeed_eager  the baseline of ENVIRONMENT.md: HF GPT2LMHeadModel computing its own loss
                   (full fp32 logits), DeepSpeed ZeRO-2 with stock settings, client AdamW, micro
                   8, a pageable host-to-device copy per micro batch and `loss.item()` every step,
                   as a typical loop does.
  ffllm_train      `ffllm.train.trainer.train` on a pretrain run manifest: the whole loop (set
                   resolution and verification before it; memory-mapped blocks, pinned copies,
                   LR writes, token-weighted loss, the generated DeepSpeed config, torch.compile
                   of the body on GPU, a metrics line every step). The clock is read at the top
                   of each optimizer step (train(on_step_start=…)); the metrics line of every
                   step synchronizes the device, so step boundaries are exact.

Each variant runs `--warmup` untimed steps (torch.compile happens there), then `--steps` timed
ones; ffllm_train runs one more step, because its clock reads step starts, and then writes its
final checkpoint outside the timed window (into a temporary folder, removed after).

MFU = tokens/s × (6N + 12·L·d·T) / peak, against two peaks: a bf16 (GPU) or fp32 (CPU) matmul
measured in this process, and the H200's 989 TFLOP/s dense bf16 spec (GPU only).
Both variants start from the same seeded weights without dropout, so their first-step losses
agree (printed): the check that they train on the same data.

GPU (one H200; minutes, most of it torch.compile and the baseline's slow steps):
    python bench/train_mfu.py > bench_train_mfu.json
CPU smoke test of the same code (tiny model, fp32, gloo; tests/test_train_bench.py runs it):
    OMP_NUM_THREADS=1 python bench/train_mfu.py --tiny --device cpu
"""

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ffllm.train.config import parse_run  # noqa: E402
from ffllm.train.data import epoch_order, load_examples, micro_batches, step_indices  # noqa: E402
from ffllm.train.model import LMWithLoss, build_model, count_params, flops_per_token  # noqa: E402
from ffllm.train.trainer import prepare_environment, shard_files, train_parts  # noqa: E402

H200_SPEC_TFLOPS = 989.0  # dense bf16, NVIDIA's H200 datasheet
SET = "pretrain_mix"


def build_mix(root: Path) -> None:
    """A small pretrain_mix built by the real pipeline, without decontamination (~15 s)."""
    import yaml

    from ffdata.build import build_set
    from ffdata.pretrain.sample import make_tiny_project

    manifest = make_tiny_project(root.parent / "project", rows=8, total_tokens=6_000, tolerance=0.2)
    recipe = yaml.safe_load(manifest.read_text())
    recipe["decontamination"]["targets"] = []  # loading the eval index is not what is timed
    manifest.write_text(yaml.safe_dump(recipe, sort_keys=False))
    build_set(SET, manifest, root=str(root), quiet=True)


def run_manifest(args):
    return parse_run(
        {
            "name": "bench_train_mfu",
            "stage": "pretrain",
            "seed": 0,
            "model": {"preset": args.model, "dropout": 0.0},
            "data": {"set": SET, "seq_len": args.seq},
            "optim": {"lr": 1e-5, "grad_clip": 1.0},
            "schedule": {"max_steps": args.warmup + args.steps + 1},
            "batch": {"micro": args.micro, "global": args.global_batch},
            "checkpoint": {"export_hf": False},
            "runtime": {"compile": args.compile, "log_every": 1, "peak_tflops": args.peak},
        },
        "bench/train_mfu.py",
    )


def matmul_tflops(device: torch.device) -> float:
    """Measured matmul rate in the dtype the trainer uses here (bf16 on GPU, fp32 on CPU)."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 20 if device.type == "cuda" else 5
    for _ in range(2):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


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


def rates(tokens: int, seconds: float, flops_tok: float, peaks: dict) -> dict:
    tok_s = tokens / seconds
    mfu = {
        k: None if peaks[k] is None else tok_s * flops_tok / (peaks[k] * 1e12)
        for k in ("measured", "spec")
    }
    return {"tokens_per_s": tok_s, "mfu_vs_measured": mfu["measured"], "mfu_vs_spec": mfu["spec"]}


def deepspeed_eager(args, run, root: str, device: torch.device, peaks: dict) -> dict:
    """The baseline loop over the trainer's blocks in the trainer's order."""
    import deepspeed

    from ffdata.sets import open_set

    built = open_set(root, SET)
    blocks = load_examples(
        "pretrain", shard_files(built, train_parts(run, built), "pretrain"), args.seq
    )
    per_epoch = -(-len(blocks) // args.global_batch)
    micro, accum = args.baseline_micro, args.global_batch // args.baseline_micro
    torch.manual_seed(run.seed)
    lm = build_model(args.model, None, device=device.type)
    flops_tok = flops_per_token(count_params(lm), lm.config.n_layer, lm.config.n_embd, args.seq)
    optimizer = torch.optim.AdamW(lm.parameters(), lr=1e-5, fused=device.type == "cuda")
    engine, *_ = deepspeed.initialize(
        model=LMWithLoss(lm, "hf"),
        optimizer=optimizer,
        config=stock_config(micro, accum, device.type == "cuda"),
    )
    losses, starts = [], []
    for step in range(args.warmup + args.steps):
        starts.append(time.perf_counter())
        epoch, in_epoch = divmod(step, per_epoch)
        idx = step_indices(epoch_order(len(blocks), run.seed, epoch), in_epoch, args.global_batch)
        step_loss = 0.0
        for m in micro_batches(idx, 0, 1, micro):
            ids = blocks.batch(m).input_ids.to(device)
            loss = engine(ids, ids)
            engine.backward(loss)
            engine.step()
            step_loss += loss.item() / accum  # every micro batch has the same token count
        losses.append(step_loss)
    sync(device)
    seconds = time.perf_counter() - starts[args.warmup]
    result = {
        "micro": micro,
        "accumulation": accum,
        "steps_timed": args.steps,
        "step_s": seconds / args.steps,
        "first_step_s": starts[1] - starts[0] if len(starts) > 1 else None,
        **rates(args.steps * args.global_batch * args.seq, seconds, flops_tok, peaks),
        "first_loss": losses[0],
        "peak_mem_gib": peak_mem(device),
        "deepspeed_config": stock_config(micro, accum, device.type == "cuda"),
    }
    engine.destroy()  # free it all before the trainer's run: two 2B states do not fit
    del engine, optimizer, lm
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def ffllm_train(args, run, root: str, device: torch.device, peaks: dict) -> dict:
    from ffllm.train.trainer import train

    starts = {}
    runs_dir = Path(tempfile.mkdtemp(prefix="ffllm-bench-"))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    try:
        run_dir = train(
            run, root, runs_dir, on_step_start=lambda s: starts.setdefault(s, time.perf_counter())
        )
        metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        info = json.loads((run_dir / "run.json").read_text())
    finally:
        shutil.rmtree(runs_dir, ignore_errors=True)
    first, last = args.warmup, args.warmup + args.steps
    seconds = starts[last] - starts[first]
    tokens = sum(m["tokens"] for m in metrics if first < m["step"] <= last)
    return {
        "micro": args.micro,
        "accumulation": args.global_batch // args.micro,
        "steps_timed": args.steps,
        "step_s": seconds / args.steps,
        "first_step_s": starts[1] - starts[0],
        **rates(tokens, seconds, info["flops_per_token"], peaks),
        "first_loss": metrics[0]["loss"],
        "logged_steps": [m["step"] for m in metrics],
        "peak_mem_gib": peak_mem(device),
        "deepspeed_config": info["deepspeed"],
    }


def peak_mem(device: torch.device):
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="tiny preset, seq 128: a CPU smoke test")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument(
        "--root",
        default=None,
        help="a root holding a built pretrain_mix (default: build a small one)",
    )
    p.add_argument("--model", default=None, help="preset (default 2b, or tiny with --tiny)")
    p.add_argument("--seq", type=int, default=None)
    p.add_argument("--global-batch", type=int, default=None, help="sequences per step")
    p.add_argument("--micro", type=int, default=None, help="ffllm train's micro batch")
    p.add_argument("--baseline-micro", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None, help="untimed steps (compile happens here)")
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps")
    p.add_argument("--compile", default=None, choices=["on", "off"])
    p.add_argument("--peak", type=float, default=770.0, help="the run manifest's peak_tflops")
    args = p.parse_args()

    small = args.tiny
    gib = (
        torch.cuda.get_device_properties(0).total_memory / 2**30
        if args.device == "cuda" and torch.cuda.is_available()
        else 0
    )  # noqa: E501
    defaults = {
        "model": "tiny" if small else "2b",
        "seq": 128 if small else 1024,
        "global_batch": 8 if small else 128,
        # micro 16 needs ~78 GiB (ffllm plan): fine on an H200, too tight on an 80 GB H100
        "micro": 4 if small else (16 if gib > 100 else 8),
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
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the trainer picks its device itself

    # DeepSpeed, datatrove and the trainer print to stdout; keep stdout for the JSON alone.
    json_out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    prepare_environment()
    import deepspeed
    import transformers

    from ffllm.train.extensions import prebuild_ops

    prebuild_ops()
    deepspeed.init_distributed()
    device = torch.device("cuda:0" if args.device == "cuda" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True

    tmp = None
    if args.root is None:
        tmp = Path(tempfile.mkdtemp(prefix="ffllm-bench-data-"))
        build_mix(tmp / "root")
        args.root = str(tmp / "root")
    run = run_manifest(args)
    peaks = {
        "measured": matmul_tflops(device),
        "spec": H200_SPEC_TFLOPS if device.type == "cuda" else None,
        "spec_is": "NVIDIA H200 dense bf16 (datasheet), whatever GPU this is",
    }
    results = {}
    try:
        results["deepspeed_eager"] = deepspeed_eager(args, run, args.root, device, peaks)
        results["ffllm_train"] = ffllm_train(args, run, args.root, device, peaks)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    for name, r in results.items():
        print(f"{name}: {r['tokens_per_s']:,.0f} tok/s", file=sys.stderr)
    ours, base = results["ffllm_train"], results["deepspeed_eager"]
    out = {
        "bench": "train_mfu",
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "model": args.model,
        "seq": args.seq,
        "global_batch": args.global_batch,
        "peak_tflops": peaks,
        "versions": {
            "torch": torch.__version__,
            "deepspeed": deepspeed.__version__,
            "transformers": transformers.__version__,
        },
        "variants": results,
        "speedup_vs_deepspeed_eager": ours["tokens_per_s"] / base["tokens_per_s"],
        "first_loss_rel_diff": abs(ours["first_loss"] - base["first_loss"]) / base["first_loss"],
    }
    json_out.write(json.dumps(out, indent=2) + "\n")
    json_out.flush()


if __name__ == "__main__":
    main()
