"""The held-out MCQ evaluator (ffllm/eval/heldout.py) on repair_blocks' validation_e part, with
tiny real GPT-2 checkpoints: per-subject counts and accuracies, batched scoring equal to scoring
one full sequence at a time, saved results reused, errors that name the part."""

from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from ffdata.errors import FFDataError
from ffdata.sets import open_set
from ffdata.tokenizer import encode_batch, hf_tokenizer, save_hf_tokenizer
from ffllm.eval.heldout import (
    evaluate_heldout,
    letter_ids,
    letter_logprobs,
    load_items,
    predict,
    result_name,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _root(built) -> str:
    return str(built.storage.root)


def _always(letter: str, path: Path) -> Path:
    """A checkpoint whose next token is `letter` after any prompt: the final LayerNorm outputs a
    constant unit vector and only that letter's (untied) output row reads it."""
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=512, tie_word_embeddings=False)
    model = GPT2LMHeadModel(cfg)
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0
        model.lm_head.weight[:, 0] = 0.0
        model.lm_head.weight[hf_tokenizer().encode(letter)[0], 0] = 10.0
    model.save_pretrained(path)
    save_hf_tokenizer(path)
    return path


def test_per_subject_scores_of_a_model_that_always_answers_a(repair_blocks, tmp_path):
    """validation_e's gold letters are a quarter per subject, so always-A scores exactly 25% in
    literature (48 items), music (32) and art (24); the result is saved and reused."""
    ckpt = _always("A", tmp_path / "always-a")
    res = evaluate_heldout(ckpt, root=_root(repair_blocks), part="validation_e")
    assert {s: v["items"] for s, v in res["subjects"].items()} == {
        "art": 24,
        "literature": 48,
        "music": 32,
    }
    assert {s: v["acc"] for s, v in res["subjects"].items()} == {
        "art": 0.25,
        "literature": 0.25,
        "music": 0.25,
    }
    assert res["items"] == 104 and res["acc"] == 0.25
    assert res["set_fingerprint"] == repair_blocks.fingerprint and res["part"] == "validation_e"
    saved = ckpt / "eval" / f"{result_name('repair_blocks', 'validation_e')}.json"
    first = saved.read_bytes()
    assert evaluate_heldout(ckpt, root=_root(repair_blocks)) == res  # reused, not re-scored
    assert saved.read_bytes() == first
    # an item is right exactly when its gold letter is the one predicted
    items = load_items(repair_blocks, "validation_e")
    from ffllm.eval.common import load_model

    model, tok = load_model(ckpt)
    assert set(predict(model, tok, items)) == {"A"}


def test_batched_scores_equal_one_full_sequence_at_a_time(repair_blocks, tmp_path):
    """The batch reads each prompt's last position through left padding; the reference scores
    prompt + letter as one unpadded sequence, tokenized the way the trainer tokenizes (prompt and
    response separately, ffdata.tokenizer), and reads the letter's log-probability."""
    torch.manual_seed(1)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=512)).eval()
    tok = hf_tokenizer()
    items = load_items(repair_blocks, "validation_e")[::5]  # 21 items of different lengths
    batched = letter_logprobs(model, tok, items, batch_size=8)
    letters = letter_ids(tok)
    for it, got in zip(items, batched, strict=True):
        prompt = encode_batch([it["prompt"]])[0]
        assert tok.encode(it["prompt"]) == prompt
        want = []
        for k in range(it["options"]):
            ids = torch.tensor([prompt + [letters[k]]])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids).logits[0, -2], -1)
            want.append(float(logp[letters[k]]))
        assert got == pytest.approx(want, abs=1e-4)
    assert len({max(range(4), key=s.__getitem__) for s in batched}) > 1  # not one constant pick


def test_a_missing_part_is_named(repair_blocks):
    with pytest.raises(FFDataError, match=r"set repair_blocks: no part 'validation_x' \(parts:"):
        load_items(open_set(_root(repair_blocks), "repair_blocks"), "validation_x")
