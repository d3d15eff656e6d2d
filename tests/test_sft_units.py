"""Adapters (hub schemas, multi-turn rule), cleaning steps and build-time tokenization."""

import json
from pathlib import Path

import pytest

from ffdata import adapters
from ffdata.cleaning import (
    ExactDedup,
    MinHashDedup,
    dedup_key,
    pii_mask,
    refusal,
    refusal_mask,
    scrub_pii,
)
from ffdata.errors import FFDataError
from ffdata.records import render_alpaca, render_prompt
from ffdata.sft_tokenize import pad_batch, tokenize_pairs
from ffdata.tokenizer import EOT_ID, decode, encode

REPO = Path(__file__).resolve().parent.parent
SFT = REPO / "data" / "sources" / "sft"


def rows(name):
    return [json.loads(line) for line in (SFT / name).read_text().splitlines()]


@pytest.mark.parametrize(
    "adapter,file",
    [
        ("openhermes", "openhermes.jsonl"),
        ("ultrachat", "ultrachat_200k.jsonl"),
        ("wildchat", "wildchat.jsonl"),
        ("numinamath", "numinamath_cot.jsonl"),
        ("openthoughts", "openthoughts.jsonl"),
        ("ultrainteract", "ultrainteract_sft.jsonl"),
    ],
)
def test_every_fixture_row_adapts(adapter, file):
    fn = adapters.conversation_adapter(adapter)
    for i, row in enumerate(rows(file)):
        conv = fn(row, f"{file} row {i}")
        assert conv.messages or conv.problem


def test_multi_turn_rule_and_system_turn():
    conv = adapters.Conversation(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Name a colour."},
            {"role": "user", "content": "Just one."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Thanks, and another?"},  # no answer: cut
        ]
    )
    instruction, response, meta = adapters.to_instruction_response(conv)
    assert response == "Blue."
    assert instruction == "User: Hi\n\nAssistant: Hello!\n\nUser: Name a colour.\n\nJust one."
    assert meta == {"turns": 4, "source_system": "Be brief."}
    single = adapters.Conversation(
        [{"role": "user", "content": " Q? "}, {"role": "assistant", "content": "A."}]
    )
    assert adapters.to_instruction_response(single)[:2] == ("Q?", "A.")
    assert (
        adapters.to_instruction_response(adapters.Conversation([{"role": "user", "content": "x"}]))
        == "no_response"
    )


def test_wildchat_flags_and_bad_input_names_the_field():
    wc = rows("wildchat.jsonl")
    conv = adapters.wildchat(wc[3], "w")
    assert conv.language == "Chinese"
    assert adapters.wildchat(wc[4], "w").toxic
    bad = dict(wc[0])
    del bad["toxic"]
    with pytest.raises(FFDataError, match="source 'wildchat' row 7: field 'toxic' is missing"):
        adapters.wildchat(bad, "source 'wildchat' row 7")
    with pytest.raises(FFDataError, match="field 'conversations' should be list"):
        adapters.openhermes({"conversations": "hi"}, "source 'oh' row 0")


def test_question_adapters():
    q = adapters.q_arc(
        {
            "question": "Q?",
            "choices": {"label": ["1", "2", "3"], "text": ["a", "b", "c"]},
            "answerKey": "3",
        },
        "arc",
    )
    assert q.gold == "C" and q.text.endswith("Answer with the letter of the correct option.")
    nested = {"train": {"question": "Q?", "subject": "", "choices": ["x", "y"], "answer": 1}}
    assert adapters.q_mmlu(nested, "m").gold == "B"
    assert adapters.boxed(r"so \boxed{\frac{3}{8}} done") == r"\frac{3}{8}"
    with pytest.raises(FFDataError, match="'label' is empty"):
        adapters.q_hellaswag({"ctx": "c", "endings": ["a", "b"], "label": ""}, "hs")


def test_refusal_batch_matches_single():
    texts = [
        "As an AI language model, I cannot do that.",
        "I’m sorry, but I can’t help with this.",
        "I am not able to provide with that",
        "The AI model in the paper is small.",  # near miss
        "I cannot fulfill my dream of flying, said Tom.",  # near miss: not "that/this/your"
        "Sure! Here it is.",
    ]
    singles = [refusal(t) is not None for t in texts]
    assert singles == [True, True, True, False, False, False]
    assert list(refusal_mask(texts)) == singles


def test_pii_scrub_and_near_misses():
    text, counts = scrub_pii(
        "Mail a.b@x.org, call (415) 555-0132 or +44 20 7946 0958; host 10.0.0.7."
    )
    assert text == "Mail <EMAIL>, call <PHONE> or <PHONE>; host <IP>."
    assert counts == {"email": 1, "ip": 1, "phone": 2}
    keep = "In 1999 the price was 1,234.50 dollars, version 3.11.4, page 12 of 300, on 2024-05-01"
    assert scrub_pii(keep) == (keep, {})
    assert list(pii_mask(["x@y.com", "plain text 2024"])) == [True, False]


def test_exact_and_near_duplicates():
    d = ExactDedup()
    assert not d.is_duplicate(dedup_key("What is 2+2?", "4"))
    assert d.is_duplicate(dedup_key("  what IS 2+2? ", "4"))
    assert not d.is_duplicate(dedup_key("What is 2+2?", "four"))
    base = ("Write a friendly email to my neighbour asking them to keep the music down after ten "
            "in the evening on weekdays because I start work very early in the morning and need my sleep")  # fmt: skip
    texts = [
        base + " please",
        base + " thanks",
        "Explain how photosynthesis turns light into sugar in plant leaves",
        "hi",
    ]
    m = MinHashDedup()
    flags = [m.is_near_duplicate(k) for k in m.band_keys(m.signatures(texts))]
    assert flags == [False, True, False, False]
    m2 = MinHashDedup()  # same seed, same signatures: decisions are reproducible
    assert (m2.signatures(texts) == m.signatures(texts)).all()


def test_tokenize_boundary_is_exact_and_mask_covers_response():
    gsm = [
        json.loads(x)
        for x in (REPO / "data/sources/gsm8k/train.jsonl").read_text().splitlines()[:50]
    ]
    prompts = [render_prompt(r["question"]) for r in gsm]
    responses = [r["answer"] for r in gsm]
    for p, r, tok in zip(prompts, responses, tokenize_pairs(prompts, responses), strict=True):
        ids, mask = tok.input_ids.tolist(), tok.loss_mask.tolist()
        assert ids == encode(render_alpaca_text(p, r)) + [EOT_ID]
        trained = [t for t, m in zip(ids, mask, strict=True) if m]
        assert decode(trained) == r + "<|endoftext|>"
        assert tok.n_loss_tokens == len(trained) and tok.n_tokens == len(tok.input_ids)
        assert mask[: len(encode(p))] == [0] * len(encode(p))


def render_alpaca_text(prompt, response):
    return prompt + response


def test_padding_truncation_and_drop():
    p, r = render_prompt("Count."), " ".join(["word"] * 300)
    (padded,) = tokenize_pairs([p], ["Short."], max_tokens=64, pad_to=64)
    assert len(padded.input_ids) == 64 and padded.input_ids[-1] == EOT_ID
    assert sum(padded.loss_mask) == padded.n_loss_tokens == len(encode("Short.")) + 1
    (dropped,) = tokenize_pairs([p], [r], max_tokens=64)
    assert dropped.input_ids is None and dropped.reason == "too_long"
    (cut,) = tokenize_pairs([p], [r], max_tokens=64, overlength="truncate")
    assert cut.truncated and len(cut.input_ids) == 64 and cut.input_ids[-1] != EOT_ID
    assert cut.response.startswith("word word")
    (tight,) = tokenize_pairs([render_prompt("x " * 80)], [r], max_tokens=64, overlength="truncate")
    assert tight.reason == "prompt_too_long"
    ids, mask = pad_batch([{"input_ids": [1, 2, 3], "loss_mask": [0, 1, 1]}], 5)
    assert ids.tolist() == [[1, 2, 3, EOT_ID, EOT_ID]] and mask.tolist() == [[0, 1, 1, 0, 0]]
    assert render_alpaca("a", "b").endswith("### Response:\nb")
