"""One optimizer step through real DeepSpeed ZeRO-2 engines: every labelled token of the step
weighs the same, whatever the micro batch size, the accumulation steps and the padding.

The engines run in this process on a one-rank gloo group. Their client optimizer records the
gradient DeepSpeed hands it (the flat fp32 partitions, after accumulation and reduction), so
the test compares exactly what the optimizer would apply.
"""

import os

import numpy as np
import pytest
import torch

from ffllm.train.config import deepspeed_config, load_run
from ffllm.train.data import SFTExamples, micro_batches
from ffllm.train.loss import IGNORE, reference_lm_loss, shift_targets
from ffllm.train.model import LMWithLoss, build_model
from ffllm.train.step import optimizer_step
from ffllm.train.trainer import param_groups
from tests.conftest import free_port
from tests.train_fixtures import write_run

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(scope="module")
def one_rank():
    """A one-rank process group for in-process engines; the environment is restored after, so
    later `ffllm train` subprocesses do not inherit this process's rendezvous port."""
    import deepspeed
    import torch.distributed as dist

    from ffllm.train.extensions import prebuild_ops
    from ffllm.train.trainer import prepare_environment

    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
    os.environ["MASTER_PORT"] = str(free_port())
    prepare_environment()
    prebuild_ops()
    deepspeed.init_distributed()
    yield
    dist.destroy_process_group()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


class RecordingSGD(torch.optim.SGD):
    """SGD with lr 0 that keeps a copy of the gradients it is given (ZeRO-2 steps it once per
    parameter group, each time with that group only)."""

    def __init__(self, params):
        super().__init__(params, lr=0.0)
        self.seen = []

    def step(self, closure=None):
        self.seen += [p.grad.detach().clone() for g in self.param_groups for p in g["params"]]
        return super().step(closure)


def examples() -> SFTExamples:
    """Four sequences of very different lengths (20 to 150 tokens) and prompt shares, so micro
    batches of one or two of them carry very different numbers of labelled tokens and padding."""
    rng = np.random.default_rng(0)
    lengths, prompts = [150, 20, 90, 33], [10, 12, 80, 3]
    ids = [rng.integers(0, 50_000, n).astype(np.int64) for n in lengths]
    return SFTExamples(ids, np.asarray(prompts, dtype=np.int64), n_cut=0)


def fresh_model():
    torch.manual_seed(0)
    return build_model("tiny", None, dropout=0.0)


def labelled(batch) -> int:
    return int((shift_targets(batch.labels) != IGNORE).sum())


def deepspeed_step(tmp_path, micro: int, order: list[int]):
    """Gradient and logged loss of one step over `order` at `micro` sequences per pass."""
    import deepspeed

    run = load_run(
        write_run(
            tmp_path / "run.yaml", batch={"micro": micro, "global": 4}, optim={"grad_clip": 0}
        )
    )
    lm = fresh_model()
    optimizer = RecordingSGD(param_groups(lm, 0.0))
    engine, *_ = deepspeed.initialize(
        model=LMWithLoss(lm), optimizer=optimizer, config=deepspeed_config(run, 1, bf16=False)
    )
    ex = examples()
    batches = [ex.batch(m) for m in micro_batches(np.asarray(order), 0, 1, micro)]
    loss = optimizer_step(engine, batches, torch.device("cpu"), world=1)
    assert engine.gradient_accumulation_steps() == 4 // micro
    return optimizer.seen, loss.item(), batches


def test_step_gradient_does_not_depend_on_micro_accumulation_or_padding(one_rank, tmp_path):
    # The reference: plain torch, the mean loss over every labelled token of the 4 sequences.
    lm = fresh_model()
    whole = examples().batch([0, 1, 2, 3])
    ref_loss = reference_lm_loss(lm(input_ids=whole.input_ids).logits, whole.labels)
    ref_loss.backward()
    groups = param_groups(lm, 0.0)
    ref = [torch.cat([p.grad.flatten() for p in g["params"]]) for g in groups]

    splits = {
        "micro 4": (4, [0, 1, 2, 3]),
        "micro 1 x accumulation 4": (1, [0, 1, 2, 3]),
        # sequences 0 and 2 padded to 192 (150 labelled), then 1 and 3 padded to 64 (38)
        "micro 2 x accumulation 2, uneven": (2, [0, 2, 1, 3]),
    }
    for name, (micro, order) in splits.items():
        grads, loss, batches = deepspeed_step(tmp_path, micro, order)
        if name.endswith("uneven"):
            assert [labelled(b) for b in batches] == [150, 38]
        for got, want in zip(grads, ref, strict=True):
            # DeepSpeed pads each flat group to an alignment; the padding holds no gradient
            assert (got[want.numel() :] == 0).all()
            torch.testing.assert_close(got[: want.numel()], want, rtol=1e-6, atol=1e-6)
        # the logged loss is the step's mean over its labelled tokens too
        assert loss == pytest.approx(ref_loss.item(), rel=1e-6), name
