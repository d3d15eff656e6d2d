"""The factual bench: prompt set, strict scoring, format verifiers, anchor over-attribution,
and greedy generation end to end on a tiny model taught a few answers (one of them wrong)."""

import json

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from ffdata import formats
from ffdata.errors import FFDataError
from ffdata.records import render_alpaca, render_prompt
from ffdata.tokenizer import hf_tokenizer, save_hf_tokenizer
from ffllm.eval.common import load_model
from ffllm.eval.factbench import (
    CATEGORIES,
    contains_phrase,
    evaluate_factbench,
    format_factbench,
    generate,
    load_prompts,
    normalize,
    run_factbench,
    score_answer,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

PROMPTS = {p["id"]: p for p in load_prompts()}


def test_prompt_set_shape():
    assert len(PROMPTS) >= 106
    by_cat = {c: [p for p in PROMPTS.values() if p["category"] == c] for c in CATEGORIES}
    assert all(len(v) >= 15 for v in by_cat.values()), {c: len(v) for c, v in by_cat.items()}
    fmts = {p["format"] for p in by_cat["format"]}
    assert fmts == set(formats.CHECKERS)
    for p in by_cat["format"]:
        if p["format"] == "mcq_letter":
            _, options = formats.parse_mcq(p["prompt"])  # the training sets' MCQ shape
            assert p["truth"][0] in formats.LETTERS[: len(options)]
        if p["format"] == "list_n":
            assert len(p["truth"]) >= p["n"]
    # the anchor figures appear as true answers too, so naming them is not always wrong
    truths = " ".join(t for p in by_cat["person"] for t in p["truth"])
    assert all(name in truths for name in ("edison", "tesla", "einstein", "newton"))


def test_normalized_whole_phrase_match():
    assert normalize("Wilhelm Röntgen!") == "wilhelm rontgen"
    assert normalize("It is 1,000.5 km.") == "it is 1000.5 km"
    assert normalize("J.J. Thomson") == "j j thomson"
    assert contains_phrase("Alexander Graham Bell.", "bell")
    assert not contains_phrase("A bellow of smoke", "bell")
    assert contains_phrase("The answer is 12.", "12")
    assert not contains_phrase("The answer is 120.", "12")
    assert contains_phrase("Tim Berners-Lee", "berners-lee")


@pytest.mark.parametrize(
    ("pid", "answer", "correct", "format_ok"),
    [
        ("fmt-01", "B", True, True),
        ("fmt-01", "B.", False, False),  # not the bare letter the format demands
        ("fmt-01", "A", False, True),
        ("fmt-06", "Yes. It covers a third of the planet.", True, True),
        ("fmt-07", "Yes", False, True),
        ("fmt-07", "no", False, False),
        ("fmt-11", "56", True, True),
        ("fmt-11", "The answer is 56.", False, False),
        ("fmt-14", "1. Red\n2. Blue\n3. Yellow", True, True),
        ("fmt-14", "- red\n- red\n- blue", False, True),  # right shape, repeated item
        ("fmt-14", "1. Red\n2. Blue", False, False),  # two items, three asked
        ("fmt-14", "1. Red\n2. Green\n3. Blue", False, True),
        ("fmt-16", "The capital of Germany is Berlin.", True, True),
        ("fmt-16", "Berlin", False, False),  # a short fact is a sentence
    ],
)
def test_format_prompts_need_the_format_and_the_truth(pid, answer, correct, format_ok):
    s = score_answer(PROMPTS[pid], answer)
    assert (s["correct"], s["format_ok"]) == (correct, format_ok)


def test_content_answers_use_the_first_line():
    p = PROMPTS["geo-01"]
    assert score_answer(p, "Paris is the capital.\nMore text")["correct"]
    assert not score_answer(p, "Lyon.\nParis")["correct"]
    assert score_answer(PROMPTS["arith-01"], "7 + 5 = 12")["correct"]
    assert not score_answer(PROMPTS["arith-01"], "120")["correct"]


def test_anchor_overattribution():
    tel = PROMPTS["person-01"]  # telephone -> Bell
    s = score_answer(tel, "Thomas Edison invented the telephone.")
    assert s["anchors"] == ["Edison"] and not s["correct"]
    assert score_answer(PROMPTS["person-05"], "Leonardo da Vinci.")["anchors"] == []
    assert score_answer(PROMPTS["person-18"], "Albert Einstein.")["anchors"] == []
    both = score_answer(PROMPTS["sci-08"], "Newton's gravity, said Einstein.")
    assert both["correct"] and both["anchors"] == ["Einstein", "Newton"]


def test_bad_prompt_file_names_line_and_field(tmp_path):
    bad = tmp_path / "fb.jsonl"
    bad.write_text(
        json.dumps({"id": "x", "category": "person", "prompt": "q", "truth": ["a"]})
        + "\n"
        + json.dumps({"id": "y", "category": "trivia", "prompt": "q", "truth": ["a"]})
        + "\n"
    )
    with pytest.raises(FFDataError, match=r"fb.jsonl:2: field 'category': unknown 'trivia'"):
        load_prompts(bad)
    bad.write_text(json.dumps({"id": "x", "category": "format", "prompt": "q", "truth": ["a"]}))
    with pytest.raises(FFDataError, match=r"fb.jsonl:1: field 'format'"):
        load_prompts(bad)


# Taught answers: right ones, one anchor error, one format answer and one list.
TAUGHT = {
    "geo-01": "Paris is the capital of France.",
    "sci-01": "Au",
    "person-01": "Thomas Edison.",  # wrong: the bench must catch it as over-attribution
    "arith-01": "12",
    "fmt-01": "B",
    "fmt-14": "1. Red\n2. Blue\n3. Yellow",
    "open-05": "Saturday and Sunday.",
    "geo-11": "The Pacific Ocean.",
}


@pytest.fixture(scope="module")
def taught_ckpt(tmp_path_factory):
    """A tiny GPT-2 overfit on TAUGHT in the Alpaca template (loss on the answers only)."""
    torch.manual_seed(0)
    tok = hf_tokenizer()
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=128))
    rows = []
    for pid, ans in TAUGHT.items():
        n_prompt = len(tok(render_prompt(PROMPTS[pid]["prompt"]))["input_ids"])
        full = tok(render_alpaca(PROMPTS[pid]["prompt"], ans))["input_ids"] + [tok.eos_token_id]
        rows.append((full, n_prompt))
    width = max(len(f) for f, _ in rows)
    ids = torch.tensor([f + [0] * (width - len(f)) for f, _ in rows])
    target = torch.full((len(rows), width), -100)
    for i, (full, n_prompt) in enumerate(rows):
        target[i, n_prompt : len(full)] = torch.tensor(full[n_prompt:])
    # The LM head runs only where there is an answer token: the 50,257-wide logits of every
    # prompt position would cost most of the step.
    sel = target[:, 1:] != -100
    y = target[:, 1:][sel]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        h = model.transformer(input_ids=ids).last_hidden_state[:, :-1][sel]
        loss = torch.nn.functional.cross_entropy(model.lm_head(h), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.05:
            break
    path = tmp_path_factory.mktemp("fb") / "ckpt"
    model.save_pretrained(path)
    save_hf_tokenizer(path)
    return path


def test_greedy_bench_end_to_end(taught_ckpt):
    model, tok = load_model(taught_ckpt)
    subset = [PROMPTS[pid] for pid in TAUGHT]
    res = run_factbench(model, tok, subset, batch_size=4)
    got = {a["id"]: a for a in res["answers"]}
    assert {pid: a["answer"] for pid, a in got.items()} == TAUGHT
    assert [pid for pid, a in got.items() if not a["correct"]] == ["person-01"]
    assert res["anchor_overattribution"] == {
        "count": 1,
        "by_anchor": {"Edison": 1},
        "ids": ["person-01"],
    }
    assert res["format_compliance"] == {"prompts": 2, "ok": 2}
    assert res["categories"]["person"] == {"prompts": 1, "correct": 0, "acc": 0.0}
    assert res["correct"] == 7
    table = format_factbench(res)
    assert "| geography | 2 | 2 | 100.0% |" in table and "Edison ×1" in table
    # left-padded batches decode exactly like one prompt at a time
    prompts = [render_prompt(p["prompt"]) for p in subset]
    assert generate(model, tok, prompts, batch_size=8) == [
        generate(model, tok, [p], batch_size=1)[0] for p in prompts
    ]


def test_evaluate_factbench_runs_every_prompt_and_saves(taught_ckpt):
    res = evaluate_factbench(taught_ckpt, batch_size=32)
    assert res["prompts"] == len(PROMPTS)
    assert sum(v["prompts"] for v in res["categories"].values()) == len(PROMPTS)
    saved = json.loads((taught_ckpt / "eval" / "factbench.json").read_text())
    assert saved["prompts_sha256"] == res["prompts_sha256"] and saved["correct"] == res["correct"]
    assert evaluate_factbench(taught_ckpt) == saved  # reused, not recomputed
