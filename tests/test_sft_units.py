"""Adapters (hub schemas, multi-turn rule), cleaning steps and build-time tokenization."""

import json
import random
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
from ffdata.records import SYSTEM_PROMPT, render_alpaca, render_prompt
from ffdata.sft_tokenize import (
    TemplateEncoder,
    joins_exactly,
    pad_batch,
    sft_columns,
    tokenize_pairs,
)
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


def test_batched_near_duplicates_decide_like_one_by_one():
    # near copies inside a batch, across batches, and chains (a copy of a dropped copy)
    gsm = [json.loads(x)["question"] for x in (REPO / "data/sources/gsm8k/train.jsonl").open()]
    base = gsm[:300]
    texts = base + [f"(Variant 1) {t}" for t in base[::3]] + [t + " Explain." for t in base[::5]]
    random.Random(0).shuffle(texts)  # copies before and after their originals
    batches = [texts[i : i + 250] for i in range(0, len(texts), 250)]
    one, many = MinHashDedup(5, 14, 8, 1), MinHashDedup(5, 14, 8, 1)
    expected = [
        [one.is_near_duplicate(k) for k in one.band_keys(one.signatures(b))] for b in batches
    ]
    got = [many.near_duplicates(b).tolist() for b in batches]
    assert got == expected and 50 < sum(map(sum, got)) < len(texts) / 2
    assert many.buckets == one.buckets


def test_template_encoder_ids_equal_whole_prompt_encoding():
    enc = TemplateEncoder()
    gsm = [json.loads(x) for x in (REPO / "data/sources/gsm8k/train.jsonl").open()][:200]
    fixtures = [r for f in SFT.glob("*.jsonl") for r in rows(f.name)]
    instructions = [r["question"] for r in gsm] + [json.dumps(r)[:300] for r in fixtures]
    instructions += [
        " leading space", "trailing space ", "ends in newline\n", "\nstarts with newline",
        "two\n\n", "", "x", "nbsp\u00a0", "\u2028line sep", "info sep\x1c", "\x1cinfo sep",
        "tab\t", "lone \ud800 surrogate", "eot <|endoftext|> inside", "'s contraction", "42",
        "ünïcödé text", "中文指令", "emoji 🙂", "🙂",
    ]  # fmt: skip
    for system in (SYSTEM_PROMPT, "You are FF-LLM. Follow the user's instructions exactly."):
        for text in instructions:
            ids, part = enc.prompt(text, system)
            assert ids.tolist() == encode(render_prompt(text, system)), repr(text)
            if part is not None:  # reusing known instruction ids gives the same prompt
                assert enc.prompt(text, system, part)[0].tolist() == ids.tolist()
                joined = enc.extend(text, part, "\n\nGive only the final answer.")
                assert joined.tolist() == encode(text + "\n\nGive only the final answer.")
    assert enc.prompt(" x", SYSTEM_PROMPT)[1] is None  # not joinable: encoded whole
    assert joins_exactly("a.", "\nb") and joins_exactly("a:\n", "b")
    for left, right in [
        ("a ", "\nb"),
        ("a\n\n", "b"),
        ("a:\n", " b"),
        ("a:\n", "\u00a0b"),
        ("", "b"),
    ]:
        assert not joins_exactly(left, right), (left, right)


def test_table_columns_and_writer_tables_match_row_by_row(tmp_path):
    import pyarrow as pa

    from ffdata.hashing import sha256_file
    from ffdata.sets import SetWriter

    prompts = [render_prompt(f"Question {i}: what is {i} + {i}?") for i in range(7)]
    responses = [f"{i} + {i} = {2 * i}. " * (1 + 20 * i) for i in range(7)]
    toks = tokenize_pairs(prompts, responses, max_tokens=128, overlength="truncate", pad_to=130)
    kept = [t for t in toks if t.prompt_ids is not None]
    assert any(t.truncated for t in kept) and any(not t.truncated for t in kept)
    cols = sft_columns(kept)
    assert cols["input_ids"].to_pylist() == [t.input_ids.tolist() for t in kept]
    assert cols["loss_mask"].to_pylist() == [t.loss_mask.tolist() for t in kept]
    schema = pa.schema([("id", pa.string()), ("n", pa.int64())])
    rows = [{"id": f"r{i}", "n": i} for i in range(23)]
    by_row, by_table = SetWriter(tmp_path / "a", 10, schema), SetWriter(tmp_path / "b", 10, schema)
    for r in rows:
        by_row.add("p", r)
    for lo in (0, 4, 15):  # chunks that straddle shard boundaries
        by_table.add_table("p", pa.Table.from_pylist(rows[lo : {0: 4, 4: 15, 15: 23}[lo]], schema))
    a, b = by_row.close([]), by_table.close([])
    assert [s["rows"] for s in b] == [10, 10, 3]
    assert [s["sha256"] for s in a] == [s["sha256"] for s in b]
    assert sha256_file(tmp_path / "a" / "part-p-00002.parquet") == b[2]["sha256"]
