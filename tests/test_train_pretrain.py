"""The pretrain stage end to end: a tiny pretrain_mix built by the real pipeline (uint16 token
shards + document sidecar), resolved by set name through its build record, sha256-verified and
trained on with a manifest derived from manifests/train/tiny_pretrain.yaml."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.pretrain.format import read_tokens
from ffdata.pretrain.sample import make_tiny_project
from ffllm.train.config import load_run
from ffllm.train.data import epoch_order, load_examples, micro_batches, step_indices
from ffllm.train.model import LMWithLoss, build_model
from ffllm.train.trainer import resolve_sets, shard_files, train_parts
from tests.train_fixtures import REPO, ffllm_train, read_metrics, write_run

TINY_PRETRAIN = REPO / "manifests" / "train" / "tiny_pretrain.yaml"
SEQ, STEPS = 64, 8


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    """~6K tokens from 8 rows per source (the pipeline's sample project), ~15 s."""
    base = tmp_path_factory.mktemp("mix")
    manifest = make_tiny_project(base / "proj", rows=8, total_tokens=6_000, tolerance=0.2)
    # test_pretrain_mix covers decontamination; skipping it here saves loading the eval index
    data = yaml.safe_load(manifest.read_text())
    data["decontamination"]["targets"] = []
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    built, _ = build_set("pretrain_mix", manifest, root=str(base / "root"), quiet=True)
    return base / "root", built


def pretrain_run(path: Path) -> Path:
    """tiny_pretrain.yaml at CPU-test size: 64-token blocks, 8 steps, one final checkpoint."""
    return write_run(
        path,
        base=TINY_PRETRAIN,
        data={"seq_len": SEQ},
        optim={"warmup_steps": 2},
        schedule={"max_steps": STEPS},
    )


def shard_blocks(paths: list[Path]) -> np.ndarray:
    """The token shards cut into SEQ-token blocks, file by file, in order."""
    blocks = []
    for path in paths:
        tokens = read_tokens(path)
        blocks.append(tokens[: len(tokens) // SEQ * SEQ].reshape(-1, SEQ))
    return np.concatenate(blocks)


def test_the_trainer_reads_the_shard_tokens_in_order(mix, tmp_path):
    root, built = mix
    run = load_run(pretrain_run(tmp_path / "run.yaml"))
    sets = resolve_sets(run, str(root))  # by name, through the build record; every shard hashed
    assert sets["train"].fingerprint == built.fingerprint
    paths = shard_files(sets["train"], train_parts(run, sets["train"]), run.stage)
    assert paths == built.payload_paths() and all(p.suffix == ".bin" for p in paths)
    blocks = load_examples(run.stage, paths, SEQ)
    expected = shard_blocks(paths)
    assert len(blocks) == len(expected) > 2 * run.batch.global_
    batch = blocks.batch(range(len(blocks)))
    assert (batch.input_ids.numpy() == expected).all()
    assert (batch.labels == batch.input_ids).all()  # pretraining: every token is a target


def test_a_corrupted_token_shard_stops_before_step_0(mix, tmp_path):
    root, built = mix
    bad_root = tmp_path / "root"
    shutil.copytree(root, bad_root)
    bad = bad_root / built.prefix / built.record["shards"][-1]["payload"]["path"]
    data = bytearray(bad.read_bytes())
    data[0] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(FFDataError, match=f"{bad.name}: sha256 mismatch"):
        resolve_sets(load_run(pretrain_run(tmp_path / "run.yaml")), str(bad_root))


def test_pretrain_run_trains_on_the_mix(mix, tmp_path):
    root, built = mix
    proc = ffllm_train(pretrain_run(tmp_path / "run.yaml"), root, tmp_path / "runs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "tiny_pretrain"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["sets"] == {"train": built.fingerprint}
    train = [m for m in read_metrics(run_dir) if "loss" in m]
    assert [m["step"] for m in train] == list(range(1, STEPS + 1))
    assert all(m["tokens"] == info["run"]["batch"]["global"] * SEQ for m in train)
    assert train[0]["loss"] > 10.0 and train[-1]["loss"] < train[0]["loss"] - 1.0, train

    # Step 1 fed exactly the shard blocks the seeded order names: a fresh model (same seed)
    # on those blocks gives the logged loss.
    run = info["run"]
    blocks = load_examples("pretrain", built.payload_paths(), SEQ)
    idx = step_indices(epoch_order(len(blocks), run["seed"], 0), 0, run["batch"]["global"])
    torch.manual_seed(run["seed"])
    model = LMWithLoss(build_model("tiny", None, dropout=run["model"]["dropout"]))
    losses = []
    with torch.no_grad():
        for micro in micro_batches(idx, 0, 1, run["batch"]["micro"]):
            batch = blocks.batch(micro)
            losses.append(model(batch.input_ids, batch.labels))
    assert train[0]["loss"] == pytest.approx(sum(losses).item() / len(losses), abs=1e-5)
    assert (run_dir / "hf" / f"ckpt-{STEPS}" / "model.safetensors").exists()
