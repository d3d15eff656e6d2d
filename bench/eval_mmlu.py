"""MMLU throughput through lm-eval on a 124M GPT-2 (random init: no hub), printed as JSON.

    python bench/eval_mmlu.py [--shots 0 5] [--limit 2] [--batch-sizes 1 16] [--device cpu]

Every configuration runs the real `ffllm.eval.mmlu.run_mmlu` (lm-eval 0.4.13, our local task
folder). A full 14,042-item pass takes hours on a laptop CPU, so by default it scores the first
`--limit` items of every subject (items spread over all 57 subjects and prompt lengths) and
extrapolates the full-set time from the measured items/s; `--limit 0` runs the full set.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FULL_ITEMS = 14042


def make_model(out: Path, seed: int = 0) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from ffdata.tokenizer import save_hf_tokenizer

    torch.manual_seed(seed)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(out)  # GPT2Config() is the 124M GPT-2
    save_hf_tokenizer(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, nargs="+", default=[0, 5])
    ap.add_argument("--limit", type=int, default=2, help="items per subject; 0 = all 14,042")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()

    import torch

    from ffllm.eval.common import load_model, set_offline_env
    from ffllm.eval.mmlu import lm_eval_version, run_mmlu, write_task_dir

    set_offline_env()
    write_task_dir()  # built once, outside the timings
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_model(Path(tmp) / "gpt2-124m")
        model, tok = load_model(ckpt, device=args.device, dtype=args.dtype)
        n_params = sum(p.numel() for p in model.parameters())
        for shots in args.shots:
            for bs in args.batch_sizes:
                t0, c0 = time.perf_counter(), time.process_time()
                res = run_mmlu(model, tok, shots=shots, limit=args.limit or None, batch_size=bs)
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                runs.append(
                    {
                        "shots": shots,
                        "batch_size": bs,
                        "items": res["items"],
                        "seconds": round(dt, 2),
                        "items_per_s": round(res["items"] / dt, 3),
                        # CPU seconds do not grow when other jobs share the machine
                        "cpu_seconds": round(cpu, 2),
                        "items_per_cpu_s": round(res["items"] / cpu, 3),
                        "full_set_minutes_extrapolated": round(
                            FULL_ITEMS / (res["items"] / dt) / 60, 1
                        ),
                        "acc": round(res["acc"], 4),
                        "label": res["label"],
                    }
                )
                print(json.dumps(runs[-1]), file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "eval_mmlu",
                "model": "GPT-2 124M (GPT2Config defaults, random init)",
                "params": n_params,
                "device": args.device,
                "dtype": args.dtype,
                "torch_threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(),
                "machine": platform.machine(),
                "lm_eval": lm_eval_version(),
                "limit_per_subject": args.limit or None,
                "runs": runs,
                "note": "seconds include lm-eval task setup (57 local datasets) and scoring; "
                "random weights, so acc is chance level",
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
