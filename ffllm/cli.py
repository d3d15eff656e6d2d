"""`ffllm`: train GPT-2 models on built sets, and plan their memory."""

import json
import shlex
from typing import Annotated

import typer

from ffdata.cli import _App  # one place turns FFDataError into a one-line exit 2
from ffdata.errors import FFDataError

app = _App(
    help="Train the FF-LLM GPT-2 models on sets built by ffdata.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def train(
    manifest: Annotated[
        str, typer.Argument(help="Run manifest, e.g. manifests/train/tiny_repair.yaml")
    ],
    root: Annotated[
        str | None,
        typer.Option("--root", help="Storage root holding the sets (folder or s3://…)"),
    ] = None,
    runs_dir: Annotated[
        str | None, typer.Option("--runs-dir", help="Where runs are written (default ROOT/runs)")
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=1,
            help="Ranks to start on this machine (torchrun); per host with --hostfile",
        ),
    ] = 1,
    hostfile: Annotated[
        str | None,
        typer.Option(
            "--hostfile", help="Multi-node: DeepSpeed hostfile ('HOST slots=N' lines), over ssh"
        ),
    ] = None,
    master_port: Annotated[
        int, typer.Option("--master-port", help="Rendezvous port on the first host (--hostfile)")
    ] = 29500,
    node_rank: Annotated[
        int | None,
        typer.Option(
            "--node-rank",
            min=0,
            help="With --hostfile: start only this host's ranks, without ssh; run the same "
            "command on every host (e.g. srun, with $SLURM_NODEID)",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the launch command of --nproc/--hostfile")
    ] = False,
):
    """Train a run (or resume it from its newest checkpoint); prints the run directory.

    With --nproc N (> 1) or --hostfile this process only starts the ranks (ffllm/train/launch.py)
    and exits with their launcher's status."""
    import os

    from ffllm.train import launch

    if node_rank is not None and hostfile is None:
        raise FFDataError("--node-rank needs --hostfile (the hosts and their order)")
    if nproc > 1 or hostfile is not None or dry_run:
        if "RANK" in os.environ:
            raise FFDataError(
                f"--nproc/--hostfile start ranks; this process already is rank "
                f"{os.environ['RANK']} of {os.environ.get('WORLD_SIZE', '?')}"
            )
        from ffllm.train.config import load_run

        args = launch.train_args(manifest, root, runs_dir)
        command = (  # checks the hostfile first
            launch.multinode_command(args, nproc, hostfile, master_port, node_rank)
            if hostfile is not None
            else launch.local_command(args, nproc)
        )
        launch.check_batch(load_run(manifest), launch.world_size(nproc, hostfile))
        if dry_run:
            print(shlex.join(command))
            return
        status = launch.launch(command)
        if status:
            raise typer.Exit(status)
        return

    from ffllm.train.trainer import train as run_training

    try:
        run_dir = run_training(manifest, root, runs_dir)
    finally:
        _leave_process_group()
    if os.environ.get("RANK", "0") == "0":  # under a launcher every rank gets here
        print(f"run: {run_dir}")


def _leave_process_group() -> None:
    """Destroy the rank's process group before the interpreter exits. Left to interpreter
    teardown, gloo's worker threads abort the rank now and then (SIGABRT, "terminate called
    without an active exception": pytorch/pytorch#190489), seen in two-rank DPO runs."""
    import contextlib

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):  # cleanup: never hides the run's own error
            dist.destroy_process_group()


@app.command()
def plan(
    ctx: typer.Context,
    manifest: Annotated[
        str | None,
        typer.Option(
            "--manifest",
            help="Plan a run manifest as written (model, micro, seq, precision, compile, "
            "checkpointing, ZeRO from it) and say what it needs if it does not fit",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Size preset: tiny, 124m, 2b (with --manifest: an init's)"),
    ] = None,
    gpus: Annotated[int, typer.Option("--gpus", min=1)] = 8,
    gpu_mem: Annotated[float, typer.Option("--gpu-mem", help="Memory per GPU in GiB")] = 24,
    zero: Annotated[int, typer.Option("--zero", min=0, max=3)] = 2,
    micro: Annotated[int, typer.Option("--micro", min=1)] = 4,
    seq: Annotated[
        int | None, typer.Option("--seq", help="Sequence length (default context)")
    ] = None,
    eager: Annotated[
        bool, typer.Option("--eager", help="No torch.compile (more activations)")
    ] = False,
    loss: Annotated[str, typer.Option("--loss", help="chunked or hf")] = "chunked",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
):
    """Per-GPU memory (params, grads, optimizer, activations, buckets) and a fit verdict."""
    from ffllm.plan import max_micro, plan_run, render, render_run
    from ffllm.plan import plan as make_plan

    if manifest is not None:
        from ffllm.train.config import load_run

        given = [
            f"--{name.replace('_', '-')}"
            for name in ("zero", "micro", "seq", "eager", "loss")
            # typer carries its own click: compare the source by name
            if ctx.get_parameter_source(name).name != "DEFAULT"
        ]
        if given:
            raise FFDataError(
                f"{', '.join(given)}: --manifest plans the run as written; edit the manifest"
            )
        rp = plan_run(load_run(manifest), manifest, gpus=gpus, gpu_mem_gib=gpu_mem, model=model)
        print(json.dumps(rp.to_dict()) if as_json else render_run(rp))
        return

    kwargs = dict(model=model or "2b", gpus=gpus, gpu_mem_gib=gpu_mem, zero=zero, seq=seq)
    kwargs |= dict(compiled=not eager, loss=loss)
    try:
        pl = make_plan(micro=micro, **kwargs)
        best = max_micro(False, **kwargs), max_micro(True, **kwargs)
    except ValueError as e:
        raise FFDataError(str(e)) from None
    if as_json:
        print(
            json.dumps(
                pl.to_dict() | {"max_micro": dict(zip(("no_ckpt", "ckpt"), best, strict=True))}
            )
        )
    else:
        print(render(pl, *best))


# --- evaluation, sweep, merge, publish (ffllm/eval, sweep.py, merge.py, publish.py) ----------

eval_app = typer.Typer(help="Score a checkpoint: MMLU through lm-eval, the factual bench.")
app.add_typer(eval_app, name="eval")


@eval_app.command("mmlu")
def eval_mmlu(
    ckpt: Annotated[str, typer.Argument(help="HF checkpoint folder, e.g. runs/r/hf/ckpt-150")],
    shots: Annotated[int, typer.Option("--shots", help="0 or 5 (lm-eval few-shot from dev)")] = 5,
    limit: Annotated[int | None, typer.Option("--limit", help="First N items per subject")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="MMLU dev (285 items), not test")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    subjects: Annotated[bool, typer.Option("--subjects", help="Also print every subject")] = False,
    force: Annotated[bool, typer.Option("--force", help="Ignore a saved result")] = False,
):
    """MMLU (all 14,042 test items by default): per subject, macro-domain and overall."""
    from ffllm.eval.mmlu import evaluate_mmlu, format_mmlu, result_name

    res = evaluate_mmlu(
        ckpt,
        shots=shots,
        limit=limit,
        quick=quick,
        batch_size=batch_size,
        device=device,
        reuse=not force,
    )
    print(format_mmlu(res, subjects=subjects))
    print(f"saved: {ckpt}/eval/{result_name(quick, shots, limit)}.json")


@eval_app.command("factbench")
def eval_factbench(
    ckpt: Annotated[str, typer.Argument(help="HF checkpoint folder")],
    bench: Annotated[
        str, typer.Option("--bench", help="card (106 prompts, the card's) or extended (116)")
    ] = "card",
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    answers: Annotated[bool, typer.Option("--answers", help="Print every answer")] = False,
    force: Annotated[bool, typer.Option("--force", help="Ignore a saved result")] = False,
):
    """The project's factual bench: greedy, Alpaca template, the card's per-category table."""
    from ffllm.eval.factbench import evaluate_factbench, format_factbench, get_bench

    name = get_bench(bench).result_name
    res = evaluate_factbench(
        ckpt, bench=bench, batch_size=batch_size, device=device, reuse=not force
    )
    print(format_factbench(res))
    if answers:
        for a in res["answers"]:
            print(f"{'✓' if a['correct'] else '✗'} {a['id']}: {a['answer'][:100]!r}")
    print(f"saved: {ckpt}/eval/{name}.json")


@app.command()
def sweep(
    run_dir: Annotated[str, typer.Argument(help="Run folder (its hf/ckpt-* are scored)")],
    rule: Annotated[
        str, typer.Option("--rule", help="Selection manifest")
    ] = "manifests/selection/ff313.yaml",
    shots: Annotated[int | None, typer.Option("--shots", help="Override the rule's")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Override the rule's")] = None,
    quick: Annotated[
        bool | None, typer.Option("--quick/--full", help="Override the rule's")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    root: Annotated[
        str | None, typer.Option("--root", help="Where the rule's held-out set is built")
    ] = None,
):
    """Evaluate every checkpoint, choose the champion by the rule, write sweep.json/sweep.md."""
    from ffllm.sweep import SWEEP_MD, format_sweep, load_rule, sweep_run

    sel = load_rule(rule)
    for key, value in (("shots", shots), ("limit", limit), ("quick", quick)):
        if value is not None:
            setattr(sel.mmlu, key, value)
    res = sweep_run(run_dir, sel, batch_size=batch_size, device=device, root=root)
    print(format_sweep(res))
    print(f"written: {run_dir}/{SWEEP_MD} and sweep.json")


@app.command("select")
def select_cmd(
    recorded: Annotated[
        str, typer.Argument(help="Recorded scores (manifests/selection/*_recorded.yaml)")
    ],
):
    """Apply a selection rule to recorded scores (the card's figures): verdict per checkpoint."""
    from ffllm.sweep import select_recorded

    res = select_recorded(recorded)
    for name, v in res["verdicts"].items():
        regressed = ", ".join(v["regressed"]) or "none"
        print(f"{name}: {100 * v['metric']:.2f}% {v['status']} (regressed: {regressed})")
    print(f"verdict: {res['verdict']}")


@app.command()
def merge(
    a: Annotated[str, typer.Argument(help="Checkpoint A (returned at t=0)")],
    b: Annotated[str, typer.Argument(help="Checkpoint B (returned at t=1)")],
    t: Annotated[float, typer.Option("--t", help="Interpolation weight towards B")] = 0.5,
    out: Annotated[str, typer.Option("--out", help="Output folder")] = "merged",
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing non-empty --out folder")
    ] = False,
):
    """SLERP merge per tensor in fp32 (linear when nearly parallel); output loads with HF.
    --out must not be, hold or lie inside an input, even with --force."""
    from ffllm.merge import merge_checkpoints

    path = merge_checkpoints(a, b, t, out, force)
    counts = json.loads((path / "merge.json").read_text())["tensors"]
    print(f"merged: {path} (SLERP t={t} from {a} to {b})")
    print("tensors: " + ", ".join(f"{n} {how}" for how, n in counts.items()))


@app.command()
def publish(
    ckpt: Annotated[str, typer.Argument(help="The champion checkpoint folder")],
    root: Annotated[
        str | None,
        typer.Option("--root", help="Storage root (folder or s3://…); sets live here too"),
    ] = None,
    sweep_file: Annotated[
        str | None, typer.Option("--sweep", help="sweep.json (default: the run's)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Model name in the card")] = None,
):
    """Copy CKPT to champions/latest/ with a generated model card (README.md)."""
    from ffllm.publish import publish as do_publish

    res = do_publish(ckpt, root, sweep_file, name)
    print(f"published: {res['uri']} ({len(res['record']['files'])} files, card README.md)")


@app.command()
def pipeline(
    manifest: Annotated[
        str, typer.Argument(help="Pipeline manifest, e.g. manifests/pipelines/tiny.yaml")
    ],
    root: Annotated[
        str | None,
        typer.Option("--root", help="Storage root: sets, runs, champion (folder or s3://…)"),
    ] = None,
    validate_only: Annotated[
        bool,
        typer.Option(
            "--validate", "--dry-run", help="Check manifests, sets, rules and plans; run nothing"
        ),
    ] = False,
):
    """Run a pipeline's stages in order (build, train, sweep, merge, publish); a stage whose
    output exists (keyed by its inputs) is skipped, so a rerun resumes where it stopped."""
    from ffllm.pipeline import check, format_check, run_pipeline

    if validate_only:
        print(format_check(*check(manifest, root)))
        return
    run_pipeline(manifest, root)
