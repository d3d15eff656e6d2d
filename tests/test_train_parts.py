"""The trainer's pieces without DeepSpeed: run manifests, schedule, data order, loss mask, loss."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ffdata.errors import FFDataError
from ffdata.records import render_prompt
from ffdata.tokenizer import EOT_ID, decode, encode
from ffllm.train.config import deepspeed_config, load_run, lr_at, parse_run, total_steps
from ffllm.train.data import (
    TokenBlocks,
    epoch_order,
    load_examples,
    load_sft,
    micro_batches,
    step_indices,
)
from ffllm.train.loss import IGNORE, chunked_lm_loss, reference_lm_loss, shift_targets
from ffllm.train.model import LMWithLoss, build_model, count_params, flops_per_token
from tests.train_fixtures import write_run

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "manifests" / "train"


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def built(repair_blocks):
    """The real repair_blocks set (conftest.py builds it once per session)."""
    return repair_blocks


# --- run manifests ---------------------------------------------------------------------------


def test_shipped_run_manifests_are_runnable():
    """Each shipped run manifest parses, names its own run directory (the file's stem, or the
    stem plus a variant such as the LoRA learning rate: one manifest per LR), trains on a set
    some recipe in manifests/ builds, and its global batch splits over 1 and 2 ranks."""
    paths = sorted(MANIFESTS.glob("*.yaml"))
    runs = {path: load_run(path) for path in paths}
    assert len(paths) >= 4
    assert len({run.name for run in runs.values()}) == len(runs)  # no two share a run folder
    for path, run in runs.items():
        assert run.name == path.stem or run.name.startswith(f"{path.stem}_"), path.name
        for name in filter(None, (run.data.set, run.data.eval_set)):
            assert (REPO / "manifests" / f"{name.split('@')[0]}.yaml").exists(), path.name
        for gpus in (1, 2):
            assert deepspeed_config(run, gpus, bf16=gpus > 1)["train_batch_size"] == (
                run.batch.global_
            )


def test_ff313_repair_reproduces_the_card():
    run = load_run(MANIFESTS / "ff313_repair.yaml")
    train_rows = 10_714 + 929 + 3_562  # repair_blocks Blocks A, B, D
    steps_per_epoch = -(-train_rows // run.batch.global_)
    total = total_steps(run, steps_per_epoch)
    assert (steps_per_epoch, total, run.schedule.early_stop_step) == (119, 357, 200)
    assert run.optim.lr == 2.5e-6 and run.schedule.epochs == 3
    assert run.checkpoint.every == 50
    assert [s for s in range(1, 201) if s % run.checkpoint.every == 0] == [50, 100, 150, 200]
    assert run.data.train_parts == ["A", "B", "D"] and run.data.eval_part == "validation"
    # cosine over the full 357 steps, not over the 200 that run
    assert lr_at(0, run.optim, total) == pytest.approx(2.5e-6)
    assert lr_at(199, run.optim, total) == pytest.approx(
        0.5 * 2.5e-6 * (1 + np.cos(np.pi * 199 / 357))
    )
    assert run.batch.accumulation(8) == 4


def test_unknown_key_and_bad_values_are_named(tmp_path):
    path = write_run(tmp_path / "run.yaml", optim={"betas2": [0.9, 0.99]})
    with pytest.raises(FFDataError, match=r"run.yaml: invalid run manifest: optim.betas2: unknown"):
        load_run(path)
    with pytest.raises(FFDataError, match="model: .*exactly one of 'preset' or 'init'"):
        parse_run(
            {
                **load_run(write_run(tmp_path / "ok.yaml")).model_dump(by_alias=True),
                "model": {"preset": "tiny", "init": "x"},
            },
            "inline",
        )
    run = load_run(write_run(tmp_path / "b.yaml", batch={"micro": 3, "global": 8}))
    with pytest.raises(FFDataError, match="batch.global 8 is not a multiple of micro 3"):
        run.batch.accumulation(1)


def test_deepspeed_config_is_generated_and_overridable(tmp_path):
    run = load_run(
        write_run(
            tmp_path / "run.yaml",
            deepspeed={"zero_optimization": {"reduce_bucket_size": 123}, "gradient_clipping": 0.5},
        )
    )
    cfg = deepspeed_config(run, world_size=2, bf16=True)
    assert cfg["zero_optimization"]["stage"] == 2
    assert cfg["zero_optimization"]["reduce_bucket_size"] == 123  # overridden
    assert cfg["zero_optimization"]["overlap_comm"] is True  # kept: merge is key by key
    assert cfg["gradient_clipping"] == 0.5
    assert cfg["bf16"]["enabled"] and cfg["zero_allow_untested_optimizer"]
    assert cfg["train_batch_size"] == 16 and cfg["gradient_accumulation_steps"] == 1
    assert cfg["gradient_allreduce_op"] == "sum"  # the loss is divided by the step's tokens
    mean = load_run(write_run(tmp_path / "m.yaml", deepspeed={"gradient_allreduce_op": "mean"}))
    with pytest.raises(FFDataError, match="gradient_allreduce_op must stay 'sum'"):
        deepspeed_config(mean, world_size=2, bf16=True)


def test_lr_schedule_warmup_and_cosine(tmp_path):
    run = load_run(write_run(tmp_path / "run.yaml", optim={"warmup_steps": 2}))
    opt = run.optim  # lr 3e-3, min 3e-4, warmup 2
    lrs = [lr_at(s, opt, 12) for s in range(12)]
    assert lrs[:3] == pytest.approx([1.5e-3, 3e-3, 3e-3])
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:], strict=False))
    assert lr_at(12, opt, 12) == pytest.approx(3e-4)  # the floor at the end of the schedule


# --- data ------------------------------------------------------------------------------------


def test_order_is_seeded_and_steps_cover_an_epoch():
    a, b = epoch_order(21, seed=1, epoch=0), epoch_order(21, seed=1, epoch=0)
    assert (a == b).all() and not (a == epoch_order(21, seed=1, epoch=1)).all()
    steps = [step_indices(a, s, 8) for s in range(3)]  # 3 steps of 8 cover 21 (3 wrap around)
    assert sorted(set(np.concatenate(steps))) == list(range(21))
    assert (steps[2][-3:] == a[:3]).all()
    parts = [micro_batches(steps[0], rank, 2, 2) for rank in range(2)]
    assert [len(m) for p in parts for m in p] == [2, 2, 2, 2]
    assert (np.concatenate([m for p in parts for m in p]) == steps[0]).all()


def test_no_loss_on_prompt_tokens(built):
    examples = load_sft(built.shard_paths("D")[:1], seq_len=256)  # Block D: short answers
    batch = examples.batch([0, 1, 2])
    table = built.read_table("D").slice(0, 3).to_pylist()
    for row, rec in enumerate(table):
        prompt = encode(render_prompt(rec["instruction"], rec["system"]))
        response = encode(rec["response"]) + [EOT_ID]
        labels = batch.labels[row].tolist()
        ids = batch.input_ids[row].tolist()
        n = len(prompt) + len(response)
        assert ids[:n] == prompt + response
        assert labels[: len(prompt)] == [IGNORE] * len(prompt)  # the prompt: no loss
        assert labels[len(prompt) : n] == response  # the response and its end-of-text
        assert labels[n:] == [IGNORE] * (len(labels) - n)  # padding (end-of-text): no loss
        assert all(t == EOT_ID for t in ids[n:])
        assert decode([t for t in labels if t != IGNORE]) == rec["response"] + "<|endoftext|>"

    # The gradient says the same: no position whose next token is prompt or padding gets any.
    torch.manual_seed(0)
    model = build_model("tiny", None)
    hidden = model.transformer(input_ids=batch.input_ids).last_hidden_state
    hidden.retain_grad()
    chunked_lm_loss(hidden, model.lm_head.weight, batch.labels, chunk=50).backward()
    per_position = hidden.grad.abs().sum(-1)
    labelled = shift_targets(batch.labels) != IGNORE
    assert (per_position[~labelled] == 0).all()
    assert (per_position[labelled] > 0).all()


def test_template_mismatch_is_a_named_error(built, tmp_path):
    import pyarrow.parquet as pq

    path = built.shard_paths("A")[0]
    table = pq.read_table(path)
    text = table.column("text").to_pylist()
    text[5] = text[5].replace("### Response:", "### Answer:")
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("text"), "text", [text]), bad)
    with pytest.raises(FFDataError, match=r"bad.parquet: row 5: field 'text'"):
        load_sft([bad], seq_len=256)


def test_pretrain_token_blocks(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    np.arange(0, 10, dtype=np.uint16).tofile(a)  # 2 blocks of 4 (2 tokens left over)
    np.arange(100, 112, dtype=np.uint16).tofile(b)  # 3 blocks of 4
    blocks = load_examples("pretrain", [a, b, tmp_path / "docs.parquet"], seq_len=4)
    assert isinstance(blocks, TokenBlocks) and len(blocks) == 5
    batch = blocks.batch([1, 2, 4])
    assert batch.input_ids.tolist() == [[4, 5, 6, 7], [100, 101, 102, 103], [108, 109, 110, 111]]
    assert (batch.labels == batch.input_ids).all()


# --- model and loss --------------------------------------------------------------------------


def test_chunked_loss_matches_the_full_logits_loss():
    torch.manual_seed(0)
    model = build_model("tiny", None)
    ids = torch.randint(0, 50257, (3, 37))
    labels = ids.clone()
    labels[:, :9] = IGNORE
    labels[2, 20:] = IGNORE

    def grads(fn):
        model.zero_grad()
        loss = fn()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    ref_loss, ref = grads(lambda: reference_lm_loss(model(input_ids=ids).logits, labels))
    for chunk in (7, 4096):  # chunk boundaries inside and beyond the 111 positions
        loss, got = grads(
            lambda c=chunk: chunked_lm_loss(
                model.transformer(input_ids=ids).last_hidden_state,
                model.lm_head.weight,
                labels,
                c,
            )
        )
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6)
        for g, r in zip(got, ref, strict=True):
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)
    hf_loss, _ = grads(lambda: LMWithLoss(model, "hf")(ids, labels))
    assert hf_loss.item() == pytest.approx(ref_loss.item(), rel=1e-6)


def matmuls(fn) -> int:
    """Matrix products run by fn() (aten::mm, as the profiler records them)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.count for e in prof.key_averages() if e.key == "aten::mm")


def test_chunked_loss_computes_only_the_gradients_that_are_needed():
    """Per chunk: the logits, then d/dhidden and d/dweight, each only when it is wanted."""
    torch.manual_seed(0)
    hidden = torch.randn(31, 8, requires_grad=True)
    weight = torch.randn(50, 8, requires_grad=True)
    labels = torch.randint(0, 50, (1, 31))
    chunks = 5  # 30 positions predict a token (the last has none): chunks of 7
    loss = lambda h, w: chunked_lm_loss(h.unsqueeze(0), w, labels, chunk=7)  # noqa: E731

    assert matmuls(lambda: loss(hidden, weight)) == 3 * chunks  # training: both gradients
    with torch.no_grad():  # evaluation: the logits only
        assert matmuls(lambda: loss(hidden, weight)) == chunks
        no_grad_value = loss(hidden, weight)
    frozen = weight.detach()  # a frozen head (LoRA): no head gradient, not even discarded
    assert matmuls(lambda: loss(hidden, frozen)) == 2 * chunks
    assert matmuls(lambda: loss(hidden.detach(), weight)) == 2 * chunks

    # what is computed is still right
    out = loss(hidden, frozen)
    out.backward()
    assert frozen.grad is None and out.item() == pytest.approx(no_grad_value.item(), rel=1e-6)
    ref_hidden = hidden.detach().requires_grad_()
    ref = reference_lm_loss((ref_hidden @ weight.detach().t()).unsqueeze(0), labels)
    ref.backward()
    torch.testing.assert_close(hidden.grad, ref_hidden.grad, rtol=1e-5, atol=1e-7)


def test_chunked_loss_divides_by_the_given_token_count():
    """The trainer divides each micro batch's summed loss by the step's token count."""
    torch.manual_seed(0)
    model = build_model("tiny", None)
    ids = torch.randint(0, 50257, (2, 20))
    labels = ids.clone()
    labels[:, :5] = IGNORE
    n = int((shift_targets(labels) != IGNORE).sum())
    mean = LMWithLoss(model)(ids, labels)
    for kind in ("chunked", "hf"):
        got = LMWithLoss(model, kind)(ids, labels, torch.tensor(4 * n))
        assert got.item() == pytest.approx(mean.item() / 4, rel=1e-6), kind


def test_2b_preset_is_the_ff_config():
    from transformers import GPT2LMHeadModel

    from ffllm.train.model import preset_config

    with torch.device("meta"):
        model = GPT2LMHeadModel(preset_config("2b"))
    n = count_params(model)
    assert n == 2_018_641_920
    assert flops_per_token(n, 38, 2048, 1024) == pytest.approx(13.068e9, rel=1e-3)


def test_lora_trains_adapters_only_and_exports_merged(tmp_path):
    from transformers import AutoModelForCausalLM

    from ffllm.train.checkpoint import export_hf
    from ffllm.train.config import LoraSpec
    from ffllm.train.trainer import add_lora

    torch.manual_seed(0)
    model = build_model("tiny", None)
    peft_model = add_lora(model, LoraSpec(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    for name, p in model.named_parameters():  # make the adapters do something
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    ids = torch.randint(0, 50257, (2, 16))
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
    export_hf(model, tmp_path / "hf", peft_model)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert not any("lora" in k for k in loaded.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, expected, rtol=1e-4, atol=1e-4)


def test_build_time_tokens_give_the_same_examples(built, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ffdata.sft_tokenize import SFT_SCHEMA, tokenize_records

    path = built.shard_paths("A")[0]
    records = pq.read_table(path).to_pylist()[:20]
    rows = []
    for rec, tok in zip(
        records, tokenize_records(records, max_tokens=256, pad_to=256), strict=True
    ):
        rows.append(
            rec
            | {
                "input_ids": tok.input_ids.tolist(),
                "loss_mask": tok.loss_mask.tolist(),
                "n_tokens": tok.n_tokens,
                "n_loss_tokens": tok.n_loss_tokens,
                "truncated": tok.truncated,
            }
        )
    shard = tmp_path / "tokenized.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SFT_SCHEMA), shard)
    plain = pq.read_table(path).slice(0, 20)
    pq.write_table(plain, tmp_path / "plain.parquet")

    a = load_sft([shard], seq_len=256)
    b = load_sft([tmp_path / "plain.parquet"], seq_len=256)
    assert len(a) == len(b) == 20
    for i in range(20):
        assert a.ids[i].tolist() == b.ids[i].tolist()  # padding stripped, same ids
    assert a.n_prompt.tolist() == b.n_prompt.tolist()


# --- logit distillation ----------------------------------------------------------------------


def test_distill_loss_mixes_ce_and_kl_and_trains_only_the_student(built, tmp_path):
    import copy

    from ffllm.train.distill import DistillLM

    batch = load_sft(built.shard_paths("D")[:1], seq_len=256).batch(range(6))
    torch.manual_seed(0)
    student = build_model("tiny", None)
    ce_only = LMWithLoss(student)(batch.input_ids, batch.labels)

    # A teacher equal to the student: the KL term is zero, the loss is (1 - alpha) · CE.
    same = DistillLM(student, copy.deepcopy(student), alpha=0.3, temperature=2.0)
    ce, kl = same.terms(batch.input_ids, batch.labels)
    assert ce.item() == pytest.approx(ce_only.item(), rel=1e-5)
    assert abs(kl.item()) < 1e-6
    assert same(batch.input_ids, batch.labels).item() == pytest.approx(0.7 * ce.item(), rel=1e-6)

    # Another teacher: KL > 0, and the gradient reaches the student only.
    torch.manual_seed(1)
    teacher = build_model("tiny", None)
    module = DistillLM(student, teacher, alpha=0.5, temperature=2.0)
    assert {id(p) for p in module.parameters()} == {id(p) for p in student.parameters()}
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    ce, kl = module.terms(batch.input_ids, batch.labels)
    assert kl.item() > 0.01
    student.zero_grad()
    (0.5 * ce + 0.5 * kl).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.lm_head.weight.grad.abs().sum() > 0
    # alpha = 1: pure distillation; its gradient is the KL term's alone
    only_kl = DistillLM(student, teacher, alpha=1.0, temperature=2.0)
    assert only_kl(batch.input_ids, batch.labels).item() == pytest.approx(kl.item(), rel=1e-6)


def test_distill_section_needs_the_distill_stage(tmp_path):
    teacher = {"teacher": str(tmp_path)}
    with pytest.raises(FFDataError, match="'distill' needs stage 'distill', not 'repair'"):
        load_run(write_run(tmp_path / "a.yaml", distill=teacher))
    run = load_run(write_run(tmp_path / "b.yaml", stage="distill", distill=teacher))
    assert (run.distill.alpha, run.distill.temperature) == (0.5, 2.0)
