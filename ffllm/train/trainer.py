"""`ffllm train`: one run manifest in; checkpoints, HF exports and a JSONL log out.

Read top to bottom: environment, sets (verified before step 0), examples, model, DeepSpeed,
resume, then one loop over optimizer steps. The same code runs on CPU (gloo, fp32, tiny model)
and on GPUs under the `deepspeed` launcher or torchrun (bf16, ZeRO-2).
"""

import fcntl
import json
import os
import signal
import socket
import time
from pathlib import Path

import torch

from ffdata.errors import FFDataError
from ffllm.eval.common import weights_sha256
from ffllm.train import checkpoint
from ffllm.train.config import (
    RunManifest,
    deepspeed_config,
    load_run,
    lr_at,
    run_to_dict,
    total_steps,
)
from ffllm.train.data import (
    add_replay,
    epoch_order,
    load_examples,
    load_replay,
    micro_batches,
    step_indices,
)
from ffllm.train.distill import DistillLM
from ffllm.train.extensions import default_extensions_dir, prebuild_ops
from ffllm.train.loss import IGNORE, shift_targets
from ffllm.train.model import LMWithLoss, build_model, count_params, flops_per_token
from ffllm.train.step import optimizer_step

# Test hook: the process SIGKILLs itself right after finishing this step (a real crash).
KILL_ENV = "FFLLM_KILL_AFTER_STEP"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_environment() -> None:
    """Fill in what DeepSpeed needs when this is a single process started without a launcher."""
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    # DeepSpeed compiles a comm op on first use (~40 s on CPU); keep the build between runs,
    # one folder per environment (ffllm.train.extensions).
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(default_extensions_dir()))
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))


def resolve_sets(run: RunManifest, root: str) -> dict:
    """Open the named sets through their build records and re-hash every shard."""
    from ffdata.sets import open_set

    train = open_set(root, run.data.set)
    sets = {"train": train}
    if run.data.eval_part is not None:
        sets["eval"] = open_set(root, run.data.eval_set) if run.data.eval_set else train
    for built in {s.fingerprint: s for s in sets.values()}.values():
        built.verify()  # raises FFDataError naming the first bad shard: nothing trains on it
    return sets


def train_parts(run: RunManifest, built) -> list[str]:
    parts = run.data.train_parts
    if parts is None:
        parts = [p for p in built.parts() if p != run.data.eval_part]
    missing = sorted(set(parts) - set(built.parts()))
    if missing:
        raise FFDataError(f"set {built.name}: no part(s) {missing} (parts: {built.parts()})")
    return parts


def shard_files(built, parts: list[str], stage: str) -> list[Path]:
    """SFT: the Parquet shards. Pretrain: the uint16 token files that are the payloads of the
    sidecar shards (docs/pretrain_format.md)."""
    if stage != "pretrain":
        return [p for part in parts for p in built.shard_paths(part)]
    with_payload = [s for s in built.record["shards"] if "payload" in s]
    paths = built.payload_paths()
    return [p for s, p in zip(with_payload, paths, strict=True) if s["part"] in parts]


def param_groups(model, weight_decay: float) -> list[dict]:
    """Decay matrices and embeddings, not biases and LayerNorm gains (as in nanoGPT)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def add_lora(model, spec):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules,
        fan_in_fan_out=True,  # GPT-2 uses Conv1D (weights stored transposed)
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)  # injects LoRA layers into `model` in place


@torch.no_grad()
def evaluate(module, examples, micro: int, device, rank: int, world: int, max_batches):
    """Token-weighted mean loss over the eval examples (each rank takes every world-th batch)."""
    import torch.distributed as dist

    was_training = module.training
    module.eval()
    starts = list(range(0, len(examples), micro))[: max_batches or None]
    total = torch.zeros(2, dtype=torch.float64, device=device)
    for start in starts[rank::world]:
        batch = examples.batch(range(start, min(start + micro, len(examples))))
        labels = batch.labels.to(device)
        n = (shift_targets(labels) != IGNORE).sum()
        loss = module(batch.input_ids.to(device), labels)
        total += torch.stack([loss.double() * n, n.double()])
    dist.all_reduce(total)
    module.train(was_training)
    return (total[0] / total[1].clamp(min=1)).item(), int(total[1].item())


def default_runs_dir(root: str | None) -> Path:
    """`<root>/runs` for a local root; runs of an S3 root write to the local default root."""
    from ffdata.storage import DEFAULT_ROOT

    root = str(root or os.environ.get("FFDATA_ROOT") or DEFAULT_ROOT)
    return Path(DEFAULT_ROOT if root.startswith("s3://") else root) / "runs"


def hold_run_lock(run_dir: Path):
    """An flock on `<run_dir>.lock`, held while the returned file stays open. A second
    `ffllm train` of the same run would resume from the same checkpoint and write the same
    files: it stops with an error instead. The kernel drops the lock when the process dies."""
    path = run_dir.with_name(f"{run_dir.name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise FFDataError(
            f"run {run_dir.name!r} is already training in another process ({path} is locked)"
        ) from None
    return lock


def keep_metrics_until(metrics_path: Path, step: int) -> None:
    """Start the run's log afresh, keeping the lines up to the checkpoint a run resumes from
    (the steps after it are redone and logged again)."""
    kept = []
    if step and metrics_path.exists():
        lines = metrics_path.read_text().splitlines()
        kept = [ln for ln in lines if json.loads(ln)["step"] <= step]
    metrics_path.write_text("".join(ln + "\n" for ln in kept))


def train(
    manifest, root: str | None = None, runs_dir: str | Path | None = None, on_step_start=None
) -> Path:
    """Train (or resume) the run; returns its directory. `on_step_start(step)`, if given, is
    called at the top of every optimizer step (bench/train_mfu.py's clock)."""
    run = manifest if isinstance(manifest, RunManifest) else load_run(manifest)
    # --- sets and examples, before anything starts: a shard whose sha256 is off stops here ----
    sets = resolve_sets(run, root)
    prepare_environment()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    say = print if rank == 0 else (lambda *a, **k: None)
    run_dir = Path(runs_dir or default_runs_dir(root)) / run.name
    _lock = hold_run_lock(run_dir) if rank == 0 else None  # held until train() returns

    fingerprints = {role: s.fingerprint for role, s in sets.items()}
    parts = train_parts(run, sets["train"])
    if run.stage == "dpo":  # TRL's DPOTrainer runs the loop (ffllm/train/dpo.py)
        from ffllm.train.dpo import train_dpo

        prebuild_ops()
        return train_dpo(run, sets, run_dir, parts)
    paths = shard_files(sets["train"], parts, run.stage)
    examples = load_examples(run.stage, paths, run.data.seq_len)
    if run.data.replay is not None:  # earlier parts mixed in (ffllm/train/data.py)
        replay = load_replay(run, sets["train"], parts, shard_files)
        examples = add_replay(examples, replay, run.data.replay.share, run.seed)
    eval_examples = None
    if "eval" in sets:
        eval_paths = shard_files(sets["eval"], [run.data.eval_part], run.stage)
        if not eval_paths:
            raise FFDataError(f"set {sets['eval'].name}: no part {run.data.eval_part!r} to eval on")
        eval_examples = load_examples(run.stage, eval_paths, run.data.seq_len)

    steps_per_epoch = -(-len(examples) // run.batch.global_)
    total = total_steps(run, steps_per_epoch)
    stop = min(total, run.schedule.early_stop_step or total)
    accum = run.batch.accumulation(world)

    # --- model and DeepSpeed ----------------------------------------------------------------
    import deepspeed
    import torch.distributed as dist

    prebuild_ops()  # a build lock left by a killed compile would hang init_distributed
    deepspeed.init_distributed()
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    bf16 = run.runtime.precision == "bf16" or (run.runtime.precision == "auto" and cuda)
    compile_model = run.runtime.compile == "on" or (run.runtime.compile == "auto" and cuda)
    torch.manual_seed(run.seed)  # seeds the CPU and every GPU
    lm = build_model(run.model.preset, run.model.init, run.model.dropout, device.type)
    if run.data.seq_len > lm.config.n_positions:
        raise FFDataError(
            f"data.seq_len {run.data.seq_len} > model context {lm.config.n_positions}"
        )
    if run.model.activation_checkpointing:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    peft_model = add_lora(lm, run.lora) if run.lora is not None else None
    torch.manual_seed(run.seed + rank)  # same weights everywhere, different dropout per rank
    n_params = count_params(lm)
    flops_tok = flops_per_token(n_params, lm.config.n_layer, lm.config.n_embd, run.data.seq_len)
    if compile_model:
        lm.transformer.compile()  # the loss head stays eager: it is chunked matmuls already
    optimizer = torch.optim.AdamW(
        param_groups(lm, run.optim.weight_decay),
        lr=run.optim.lr,
        betas=run.optim.betas,
        eps=run.optim.eps,
        fused=cuda,
    )
    ds_config = deepspeed_config(run, world, bf16)
    module = LMWithLoss(lm, run.runtime.loss)
    if run.distill is not None:
        teacher = build_model(None, run.distill.teacher).to(device)
        teacher = teacher.to(torch.bfloat16) if bf16 else teacher
        module = DistillLM(lm, teacher, run.distill.alpha, run.distill.temperature)
    engine, *_ = deepspeed.initialize(model=module, optimizer=optimizer, config=ds_config)

    # --- run directory and resume -----------------------------------------------------------
    metrics_path = run_dir / "metrics.jsonl"
    identity = {"run": run_to_dict(run), "sets": fingerprints, "world_size": world}
    if run.distill is not None:  # the teacher's weights, not just its path, identify the run
        identity["teacher_weights_sha256"] = weights_sha256(run.distill.teacher)
    start = 0
    if checkpoint.latest_step(run_dir) is not None:
        client = checkpoint.load(engine, run_dir, rank, identity)
        start = client["step"]
        say(f"resumed {run.name} at step {start} from {run_dir / checkpoint.tag(start)}")
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        resolved = {
            **identity,
            "set_uris": {role: s.uri for role, s in sets.items()},
            "deepspeed": ds_config,
            "examples": {"train": len(examples), "eval": len(eval_examples or [])},
            "cut_to_seq_len": getattr(examples, "n_cut", 0),
            "replay": getattr(examples, "replay", None),
            "steps": {"per_epoch": steps_per_epoch, "schedule": total, "stop": stop},
            "params": n_params,
            "flops_per_token": flops_tok,
        }
        (run_dir / "run.json").write_text(json.dumps(resolved, indent=2, sort_keys=True) + "\n")
        keep_metrics_until(metrics_path, start)
    say(
        f"{run.name}: {run.stage}, {n_params:,} params, {len(examples):,} examples, "
        f"{steps_per_epoch} steps/epoch, schedule {total}, stopping at {stop}, "
        f"{world} rank(s) × micro {run.batch.micro} × accum {accum}, "
        f"{'bf16' if bf16 else 'fp32'}{', compiled' if compile_model else ''}"
    )

    def log(record: dict) -> None:
        if rank == 0:
            with metrics_path.open("a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def export(out_dir: Path) -> None:
        if run.checkpoint.export_hf:
            checkpoint.export_hf(lm, out_dir, peft_model)

    # --- the loop: one iteration per optimizer step --------------------------------------------
    kill_after = int(os.environ.get(KILL_ENV, 0))
    order_epoch, order = None, None
    window_loss = torch.zeros((), device=device)
    window_steps, window_tokens, window_seconds = 0, 0, 0.0
    for step in range(start, stop):
        if on_step_start is not None:
            on_step_start(step)
        t0 = time.perf_counter()
        epoch, in_epoch = divmod(step, steps_per_epoch)
        if epoch != order_epoch:
            order_epoch, order = epoch, epoch_order(len(examples), run.seed, epoch)
        lr = lr_at(step, run.optim, total)
        for group in engine.optimizer.param_groups:
            group["lr"] = lr
        idx = step_indices(order, in_epoch, run.batch.global_)
        batches = [examples.batch(m) for m in micro_batches(idx, rank, world, run.batch.micro)]
        # this rank's share of the step's mean loss per labelled token (ffllm.train.step)
        window_loss += optimizer_step(engine, batches, device, world)
        window_tokens += sum(b.n_tokens for b in batches)
        window_steps += 1
        done = step + 1
        is_last = done == stop
        log_now = done % run.runtime.log_every == 0 or is_last
        eval_now = eval_examples is not None and (
            is_last or (run.eval.every is not None and done % run.eval.every == 0)
        )
        save_now = is_last or (
            run.checkpoint.every is not None and done % run.checkpoint.every == 0
        )
        if log_now or eval_now or save_now:
            sync()  # the loop's only host syncs: at log, eval and checkpoint steps
        window_seconds += time.perf_counter() - t0

        if log_now:
            stats = torch.stack([window_loss, torch.tensor(float(window_tokens), device=device)])
            dist.all_reduce(stats)
            norm = engine.get_global_grad_norm()
            tok_s = stats[1].item() / max(window_seconds, 1e-9)
            record = {
                "step": done,
                "epoch": epoch,
                "loss": stats[0].item() / window_steps,
                "lr": lr,
                "grad_norm": None if norm is None else float(norm),
                "tokens": int(stats[1].item()),
                "tokens_per_s": tok_s,
                "mfu": tok_s * flops_tok / (run.runtime.peak_tflops * 1e12 * world),
            }
            log(record)
            say(
                f"step {done}/{stop} | loss {record['loss']:.4f} | lr {lr:.3e} | "
                f"grad norm {record['grad_norm'] or 0:.3f} | {tok_s:,.0f} tok/s | "
                f"mfu {record['mfu']:.1%}"
            )
            window_loss.zero_()
            window_steps, window_tokens, window_seconds = 0, 0, 0.0
        if eval_now:
            eval_loss, eval_tokens = evaluate(
                LMWithLoss(lm, run.runtime.loss),  # plain CE, also in a distillation run
                eval_examples,
                run.batch.micro,
                device,
                rank,
                world,
                run.eval.max_batches,
            )
            log({"step": done, "epoch": epoch, "eval_loss": eval_loss, "eval_tokens": eval_tokens})
            say(f"step {done}/{stop} | eval loss {eval_loss:.4f} on {eval_tokens:,} tokens")
        if save_now:
            client = {
                **identity,
                "step": done,
                "epoch": done // steps_per_epoch,
                "step_in_epoch": done % steps_per_epoch,
            }
            checkpoint.save(engine, run_dir, done, client, rank, export)
            say(f"saved {run_dir / checkpoint.tag(done)}")
        if kill_after and done == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    return run_dir
