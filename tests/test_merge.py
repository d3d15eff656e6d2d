"""SLERP merge: exact endpoints, the spherical formula, the linear fallback, loadable output."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from ffdata.errors import FFDataError
from ffdata.tokenizer import save_hf_tokenizer
from ffllm.merge import DOT_THRESHOLD, merge_checkpoints, slerp


def tiny_ckpt(path, seed, **cfg):
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=64, **cfg)
    GPT2LMHeadModel(config).save_pretrained(path)
    save_hf_tokenizer(path)
    return path


def test_slerp_orthogonal_vectors_follow_the_arc():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid, torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]), atol=1e-6)
    # a lerp would give [0.5, 0.5] (norm 0.707); the arc keeps unit norm all the way
    for t in (0.1, 0.3, 0.9):
        assert slerp(a, b, t).norm().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(
        slerp(a, b, 0.1),
        torch.tensor([math.cos(0.05 * math.pi), math.sin(0.05 * math.pi)]),
        atol=1e-6,
    )


def test_slerp_applies_weights_to_unnormalized_tensors():
    a, b = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 4.0])
    theta = math.pi / 2
    t = 0.25
    s0, s1 = math.sin((1 - t) * theta), math.sin(t * theta)
    assert torch.allclose(slerp(a, b, t), torch.tensor([2.0 * s0, 4.0 * s1]), atol=1e-6)


def test_nearly_parallel_tensors_use_plain_interpolation():
    a = torch.tensor([1.0, 0.0, 0.0])
    b = torch.tensor([2.0, 0.01, 0.0])  # cos ≈ 0.99999 > 0.9995
    na, nb = a / a.norm(), b / b.norm()
    assert torch.dot(na, nb) > DOT_THRESHOLD
    assert torch.equal(slerp(a, b, 0.3), torch.lerp(a, b, 0.3))
    # anti-parallel too (|dot|), where the arc is undefined
    assert torch.equal(slerp(a, -a, 0.3), torch.lerp(a, -a, 0.3))


def test_slerp_keeps_dtype_and_computes_in_fp32():
    a = torch.randn(8, 8, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    b = torch.randn(8, 8, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    out = slerp(a, b, 0.4)
    assert out.dtype == torch.bfloat16
    ref = slerp(a.float(), b.float(), 0.4).to(torch.bfloat16)
    assert torch.equal(out, ref)


def test_merge_endpoints_are_exact_and_output_loads(tmp_path):
    a = tiny_ckpt(tmp_path / "a", 0)
    b = tiny_ckpt(tmp_path / "b", 1)
    sa, sb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    for t, ref in ((0.0, sa), (1.0, sb)):
        out = merge_checkpoints(a, b, t, tmp_path / f"m{t}")
        got = load_file(out / "model.safetensors")
        assert set(got) == set(ref)
        assert all(torch.equal(got[k], ref[k]) for k in ref)

    out = merge_checkpoints(a, b, 0.1, tmp_path / "m")
    got = load_file(out / "model.safetensors")
    key = "transformer.h.0.attn.c_attn.weight"
    assert torch.allclose(got[key], slerp(sa[key], sb[key], 0.1))
    assert not torch.equal(got[key], sa[key])
    model = AutoModelForCausalLM.from_pretrained(out)
    # tied LM head follows the merged embedding
    assert torch.equal(model.lm_head.weight, got["transformer.wte.weight"])
    rec = json.loads((out / "merge.json").read_text())
    assert rec["t"] == 0.1 and rec["method"] == "slerp"
    # independent random matrices take the arc; LayerNorm gains (all ones in both) and zero
    # biases have no angle between them and take the line
    assert sum(rec["tensors"].values()) == len(got)
    assert rec["tensors"]["spherical"] > 0 and rec["tensors"]["linear"] > 0
    assert (out / "tokenizer.json").exists()


def test_merge_refuses_mismatched_models(tmp_path):
    a = tiny_ckpt(tmp_path / "a", 0)
    b = tiny_ckpt(tmp_path / "b", 1, n_inner=64)
    with pytest.raises(FFDataError, match="shape"):
        merge_checkpoints(a, b, 0.5, tmp_path / "m")
    with pytest.raises(FFDataError, match=r"within \[0, 1\]"):
        merge_checkpoints(a, a, 1.5, tmp_path / "m")
    with pytest.raises(FFDataError, match="new folder"):
        merge_checkpoints(a, a, 0.5, a)


def test_out_that_exists_and_is_not_empty_needs_force(tmp_path):
    a, b = tiny_ckpt(tmp_path / "a", 0), tiny_ckpt(tmp_path / "b", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("someone's work")
    with pytest.raises(FFDataError, match=r"out: exists and is not empty; pass --force"):
        merge_checkpoints(a, b, 0.5, out)
    assert (out / "notes.txt").read_text() == "someone's work"  # untouched

    merge_checkpoints(a, b, 0.5, out, force=True)  # replaced as asked
    assert not (out / "notes.txt").exists() and (out / "model.safetensors").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (merge_checkpoints(a, b, 0.5, empty) / "merge.json").exists()  # empty: no --force


@pytest.mark.parametrize("where", ["parent", "input", "inside"])
def test_out_that_is_holds_or_lies_in_an_input_is_refused_even_with_force(tmp_path, where):
    a = tiny_ckpt(tmp_path / "ckpts" / "a", 0)
    b = tiny_ckpt(tmp_path / "ckpts" / "b", 1)
    out = {"parent": tmp_path / "ckpts", "input": b, "inside": a / "merged"}[where]
    before = {p: p.read_bytes() for p in sorted((tmp_path / "ckpts").rglob("*")) if p.is_file()}
    with pytest.raises(FFDataError, match=r"--out (holds|is|lies inside) the input"):
        merge_checkpoints(a, b, 0.5, out, force=True)
    after = {p: p.read_bytes() for p in sorted((tmp_path / "ckpts").rglob("*")) if p.is_file()}
    assert after == before  # nothing deleted, nothing written


def test_cli_merge_refuses_a_parent_of_the_inputs_in_one_line(tmp_path, capsys):
    from ffllm.cli import app

    a = tiny_ckpt(tmp_path / "ckpts" / "a", 0)
    b = tiny_ckpt(tmp_path / "ckpts" / "b", 1)
    capsys.readouterr()  # save_pretrained's progress bars
    args = ["merge", str(a), str(b), "--out", str(tmp_path), "--force"]
    with pytest.raises(SystemExit) as exit_info:
        app(args, prog_name="ffllm")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "holds the input" in err and (a / "model.safetensors").exists()
