"""Replay (data.replay, ffllm/train/data.py): FF_3.14's humanities SFT on repair_blocks' Blocks
E/F mixes in A/B/D rows in the stated share, split by part size, the same sample every time; and
`ffllm train` runs it (run.json records the mix)."""

import json

import numpy as np
import pytest

from ffdata.errors import FFDataError
from ffllm.train.config import RunManifest, load_run
from ffllm.train.data import add_replay, epoch_order, load_examples, load_replay, replay_counts
from ffllm.train.trainer import shard_files
from tests.train_fixtures import REPO, ffllm_train, write_run

FF314 = REPO / "manifests" / "train" / "ff314_humanities.yaml"


def _run(**data):
    raw = load_run(FF314).model_dump(by_alias=True)
    raw["data"].update({"seq_len": 256, **data})
    return RunManifest.model_validate(raw)


@pytest.fixture(scope="module")
def loaded(repair_blocks):
    """FF_3.14's main parts and replay parts of the real set, tokenized once."""
    run = _run()
    main = load_examples(run.stage, shard_files(repair_blocks, run.data.train_parts, "sft"), 256)
    return main, load_replay(run, repair_blocks, run.data.train_parts, shard_files)


def test_replay_share_and_split_by_part_size():
    # 1,004 E/F rows at share 0.5 need 1,004 replay rows; by size (10,714 / 929 / 3,562 of
    # 15,205): 707.47 / 61.34 / 235.19 -> floors 707 / 61 / 235, the one left to A (.47)
    sizes = {"A": 10714, "B": 929, "D": 3562}
    assert replay_counts(1004, sizes, 0.5) == {"A": 708, "B": 61, "D": 235}
    assert sum(replay_counts(1004, sizes, 0.2).values()) == 251  # 0.2 / 0.8 × 1,004
    with pytest.raises(FFDataError, match=r"needs 9036 replay rows; parts \['B'\] hold 929"):
        replay_counts(1004, {"B": 929}, 0.9)


def test_ff314_mixes_a_b_d_into_e_f_in_the_stated_proportion(loaded):
    main, replay = loaded
    mixed = add_replay(main, replay, 0.5, 314)
    assert len(main) == 764 + 240 and len(mixed) == 2 * len(main)  # share 0.5: half replay
    assert mixed.replay == {"share": 0.5, "main": 1004, "parts": {"A": 708, "B": 61, "D": 235}}
    # the main rows first, in order, then each part's sample: real rows of that part, no repeats
    assert all(np.array_equal(a, b) for a, b in zip(mixed.ids[:1004], main.ids, strict=True))
    start = 1004
    for part, n in mixed.replay["parts"].items():
        rows = {tuple(x) for x in replay[part].ids}
        sample = [tuple(x) for x in mixed.ids[start : start + n]]
        assert len(set(sample)) == n and set(sample) <= rows
        start += n
    # deterministic: the same sample again; another seed, another sample
    again = add_replay(main, replay, 0.5, 314)
    assert all(np.array_equal(a, b) for a, b in zip(again.ids, mixed.ids, strict=True))
    other = add_replay(main, replay, 0.5, 315)
    assert other.replay == mixed.replay
    assert any(not np.array_equal(a, b) for a, b in zip(other.ids, mixed.ids, strict=True))
    # the epoch order interleaves them: the first step of 64 already holds both
    first = epoch_order(len(mixed), 314, 0)[:64]
    assert 0 < (first >= 1004).sum() < 64


def test_replay_parts_are_checked(repair_blocks):
    def check(parts):
        run = _run(replay={"parts": parts, "share": 0.5})
        load_replay(run, repair_blocks, run.data.train_parts, shard_files)

    with pytest.raises(FFDataError, match=r"data.replay.parts: 'E' is a training part"):
        check(["E"])
    with pytest.raises(FFDataError, match=r"data.replay.parts: 'validation_e' is the eval part"):
        check(["validation_e"])
    with pytest.raises(FFDataError, match=r"set repair_blocks has no part 'Z'"):
        check(["Z"])


def test_ffllm_train_runs_the_replay_mix(repair_blocks, tmp_path):
    """One optimizer step of a tiny model on FF_3.14's data spec through `ffllm train`."""
    manifest = write_run(
        tmp_path / "ff314_tiny.yaml",
        name="ff314_tiny",
        stage="sft",
        data={
            "train_parts": ["E", "F"],
            "replay": {"parts": ["A", "B", "D"], "share": 0.5},
            "eval_part": "validation_e",
        },  # fmt: skip
        schedule={"max_steps": 1},
        checkpoint={"every": None, "export_hf": False},
        eval={"every": None, "max_batches": 1},
    )
    runs = tmp_path / "runs"
    proc = ffllm_train(manifest, repair_blocks.storage.root, runs)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads((runs / "ff314_tiny" / "run.json").read_text())
    assert info["replay"]["parts"] == {"A": 708, "B": 61, "D": 235}
    assert info["examples"]["train"] == 2008 and info["examples"]["eval"] == 104
