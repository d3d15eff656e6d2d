"""The factual bench: the card's 106 prompts and the extended 116, strict scoring with format
checkers tried on near misses, what a model could exploit in the prompts, the card's table,
and greedy generation end to end on a tiny model taught a few answers (one of them wrong)."""

import json
from collections import Counter

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from typer.testing import CliRunner

from ffdata import formats
from ffdata.errors import FFDataError
from ffdata.records import render_alpaca, render_prompt
from ffdata.tokenizer import hf_tokenizer, save_hf_tokenizer
from ffllm.card import saved_evals
from ffllm.eval.common import load_model
from ffllm.eval.factbench import (
    BENCHES,
    CATEGORIES,
    FORMATS,
    contains_phrase,
    evaluate_factbench,
    format_factbench,
    generate,
    is_one_word,
    is_yes_no_only,
    load_bench,
    load_prompts,
    normalize,
    run_factbench,
    score_answer,
    summarize,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

CARD = load_bench("card")
PROMPTS = {p["id"]: p for p in CARD}
# The card's counts, typed here from the issue, not read from the code.
CARD_COUNTS = {
    "arithmetic": 5,
    "open_ended": 1,
    "person": 25,
    "science": 25,
    "geography": 25,
    "format": 25,
}


# ---------------------------------------------------------------- the prompt files


def test_card_bench_has_the_card_counts():
    assert Counter(p["category"] for p in CARD) == CARD_COUNTS and len(CARD) == 106
    assert BENCHES["card"].counts == CARD_COUNTS
    assert CATEGORIES == tuple(CARD_COUNTS)  # the card's order
    # the 116-prompt file is not the card's bench, and is refused as one
    with pytest.raises(
        FFDataError, match=r"factbench_extended.jsonl: category 'arithmetic' has 18"
    ):
        load_prompts(BENCHES["extended"].file, counts=BENCHES["card"].counts)


def test_extended_bench_stays_loadable_and_separate():
    ext = load_bench("extended")
    assert len(ext) == 116 and BENCHES["extended"].total == 116
    assert BENCHES["extended"].file != BENCHES["card"].file
    assert BENCHES["extended"].result_name != BENCHES["card"].result_name
    with pytest.raises(FFDataError, match=r"unknown factbench 'small'"):
        load_bench("small")


@pytest.mark.parametrize("bench", sorted(BENCHES))
def test_ids_unique_and_every_truth_non_empty(bench):
    prompts = load_bench(bench)
    assert len({p["id"] for p in prompts}) == len(prompts)
    assert all(p["truth"] and all(normalize(t) for t in p["truth"]) for p in prompts)


def test_card_bench_answers_are_not_in_the_prompt():
    """A model that echoes the question must not score: no TRUTH entry is in its prompt (MCQ
    letters and Yes/No are the asked-for forms, checked below instead)."""
    leaks = [
        (p["id"], t)
        for p in CARD
        if p.get("format") not in ("mcq_letter", "yes_no")
        for t in p["truth"]
        if contains_phrase(p["prompt"], t)
    ]
    assert leaks == []


def test_card_format_prompts_are_balanced_and_unguessable():
    fmt = [p for p in CARD if p["category"] == "format"]
    by_format = Counter(p["format"] for p in fmt)
    assert set(by_format) == set(FORMATS) and min(by_format.values()) >= 4
    yes_no = Counter(p["truth"][0] for p in fmt if p["format"] == "yes_no")
    assert yes_no["Yes"] == yes_no["No"]
    mcq = [p for p in fmt if p["format"] == "mcq_letter"]
    assert sorted(p["truth"][0] for p in mcq) == ["A", "B", "C", "D"]
    for p in mcq:
        _, options = formats.parse_mcq(p["prompt"])  # the training sets' MCQ shape
        key = options[formats.LETTERS.index(p["truth"][0])]
        lengths = sorted(len(o) for o in options)
        assert lengths[0] < len(key) < lengths[-1], p["id"]  # neither longest nor shortest
    for p in fmt:
        if p["format"] == "list_n":  # more entries than asked, none inside another
            assert len(p["truth"]) >= p["n"]
            assert not [
                (a, b) for a in p["truth"] for b in p["truth"] if a != b and contains_phrase(a, b)
            ]
    # the anchor figures are true answers too, so naming them is not always wrong
    truths = " ".join(t for p in CARD if p["category"] == "person" for t in p["truth"])
    assert all(name in truths for name in ("edison", "tesla", "einstein", "newton"))


@pytest.mark.parametrize(
    ("baseline", "most"),
    [
        (lambda p: p["prompt"], 0),  # echo the question
        (lambda p: p["prompt"].split("\n")[0], 0),  # echo its first line
        (lambda p: "Yes", 2),  # always Yes: half of the four Yes/No prompts
        (lambda p: "A", 1),  # always the first letter: one MCQ in four
        (lambda p: "1", 0),
        (lambda p: "", 0),
    ],
)
def test_answer_blind_baselines_score_at_most_chance(baseline, most):
    scored = [score_answer(p, baseline(p)) for p in CARD]
    assert sum(s["correct"] for s in scored) == most


def ideal_answer(p: dict) -> str:
    """An answer in the prompt's format built from its first TRUTH entry."""
    t = p["truth"]
    fmt = p.get("format")
    if fmt == "list_n":
        return "\n".join(f"{i}. {x.title()}" for i, x in enumerate(t[: p["n"]], 1))
    if fmt == "short_fact":
        return f"It is {t[0]}."
    if fmt == "one_word":
        return t[0].capitalize()
    return t[0]


@pytest.mark.parametrize("bench", sorted(BENCHES))
def test_every_truth_is_reachable_in_its_format(bench):
    """Each prompt's key passes its own checker and scores: no TRUTH list the rules cannot meet."""
    prompts = load_bench(bench)
    scored = [score_answer(p, ideal_answer(p)) for p in prompts]
    assert [s["id"] for s in scored if not s["correct"]] == []
    assert all(s["format_ok"] for s in scored if "format_ok" in s)


def test_bad_prompt_file_names_line_and_field(tmp_path):
    bad = tmp_path / "fb.jsonl"
    ok = {"id": "x", "category": "person", "prompt": "q", "truth": ["a"]}
    bad.write_text(json.dumps(ok) + "\n" + json.dumps({**ok, "category": "trivia"}) + "\n")
    with pytest.raises(FFDataError, match=r"fb.jsonl:2: field 'category': unknown 'trivia'"):
        load_prompts(bad)
    bad.write_text(json.dumps(ok) + "\n" + json.dumps(ok) + "\n")
    with pytest.raises(FFDataError, match=r"fb.jsonl:2: field 'id': duplicate 'x'"):
        load_prompts(bad)
    bad.write_text(json.dumps({**ok, "truth": ["a", " , "]}))
    with pytest.raises(FFDataError, match=r"fb.jsonl:1: field 'truth'"):
        load_prompts(bad)
    bad.write_text(json.dumps({**ok, "category": "format"}))
    with pytest.raises(FFDataError, match=r"fb.jsonl:1: field 'format'"):
        load_prompts(bad)
    bad.write_text(json.dumps({**ok, "category": "format", "format": "yes_no", "truth": ["yes"]}))
    with pytest.raises(FFDataError, match=r"fb.jsonl:1: field 'truth' of a yes_no prompt"):
        load_prompts(bad)
    bad.write_text(json.dumps({**ok, "format": "one_word"}))  # a content prompt with a format
    with pytest.raises(FFDataError, match=r"fb.jsonl:1: field 'format'"):
        load_prompts(bad)


# ---------------------------------------------------------------- checkers and scoring


@pytest.mark.parametrize(
    ("fmt", "text", "ok"),
    [
        ("yes_no", "Yes", True),
        ("yes_no", "No.", True),
        ("yes_no", "yes", False),
        ("yes_no", "YES", False),
        ("yes_no", "Yes, it is.", False),
        ("yes_no", "Yes. It is larger.", False),  # the prompt asks for Yes or No, nothing else
        ("yes_no", "Yes!", False),
        ("yes_no", "Yes..", False),
        ("yes_no", "Yes or No", False),
        ("one_word", "Oslo", True),
        ("one_word", "Oslo.", True),
        ("one_word", "Brasília", True),
        ("one_word", "Berners-Lee", True),
        ("one_word", "Oslo, Norway", False),
        ("one_word", "The Oslo", False),
        ("one_word", "Oslo..", False),
        ("one_word", "Oslo!", False),
        ("one_word", "42", False),
        ("one_word", "", False),
        ("numeric", "56", True),
        ("numeric", "1,945", True),
        ("numeric", "56.", False),
        ("numeric", "56 minutes", False),
        ("numeric", "fifty-six", False),
        ("mcq_letter", "B", True),
        ("mcq_letter", "B.", False),
        ("mcq_letter", "b", False),
        ("mcq_letter", "E", False),  # four options
        ("short_fact", "Mozart composed it.", True),
        ("short_fact", "Mozart", False),
        ("short_fact", "Yes. Mozart did.", False),
        ("short_fact", "Mozart.\nHe did.", False),
    ],
)
def test_format_checkers_refuse_near_misses(fmt, text, ok):
    assert FORMATS[fmt](text) is ok


def test_list_checker_refuses_near_misses():
    check = FORMATS["list_n"]
    assert check("1. Helium\n2. Neon\n3. Argon", n=3)
    assert check("- Helium\n- Neon\n- Argon", n=3)
    assert not check("1. Helium\n2. Neon", n=3)
    assert not check("1. Helium\n2. Neon\n3. Argon\n4. Xenon", n=3)
    assert not check("1. Helium\n3. Neon\n4. Argon", n=3)
    assert not check("1. Helium\n- Neon\n- Argon", n=3)
    assert not check("1.Helium\n2.Neon\n3.Argon", n=3)
    assert not check("Helium, Neon, Argon", n=3)


def test_strict_one_word_and_yes_no_helpers():
    assert is_one_word("Camel") and not is_one_word("A camel.")
    assert is_yes_no_only("No") and not is_yes_no_only("No, it is not.")


@pytest.mark.parametrize(
    ("pid", "answer", "correct", "format_ok"),
    [
        ("fmt-01", "A", True, True),
        ("fmt-01", "A.", False, False),  # not the bare letter the format demands
        ("fmt-01", "B", False, True),
        ("fmt-05", "Yes", True, True),
        ("fmt-05", "Yes.", True, True),
        ("fmt-05", "Yes. The Pacific is larger.", False, False),
        ("fmt-05", "yes", False, False),
        ("fmt-06", "Yes", False, True),
        ("fmt-10", "56", True, True),
        ("fmt-10", "The answer is 56.", False, False),
        ("fmt-10", "57", False, True),
        ("fmt-13", "1. Helium\n2. Neon\n3. Argon", True, True),
        ("fmt-13", "- helium\n- helium\n- neon", False, True),  # right shape, repeated item
        ("fmt-13", "1. Helium and Neon\n2. Argon\n3. Xenon", False, True),  # two in one item
        ("fmt-13", "1. Helium\n2. Neon\n3. Oxygen", False, True),
        ("fmt-13", "1. Helium\n2. Neon", False, False),  # two items, three asked
        ("fmt-14", "1. Lake Superior\n2. Lake Erie\n3. Lake Huron", True, True),
        ("fmt-17", "Oslo", True, True),
        ("fmt-17", "Oslo.", True, True),
        ("fmt-17", "Oslo, Norway.", False, False),
        ("fmt-17", "The capital is Oslo.", False, False),
        ("fmt-17", "Bergen", False, True),
        ("fmt-22", "Mozart composed The Magic Flute.", True, True),
        ("fmt-22", "Mozart", False, False),  # a sentence was asked for
        ("fmt-22", "Salieri composed it.", False, True),
        ("fmt-24", "Au.", False, True),
    ],
)
def test_format_prompts_need_the_format_and_the_truth(pid, answer, correct, format_ok):
    s = score_answer(PROMPTS[pid], answer)
    assert (s["correct"], s["format_ok"]) == (correct, format_ok)


def test_normalized_whole_phrase_match():
    assert normalize("Wilhelm Röntgen!") == "wilhelm rontgen"
    assert normalize("Marie Skłodowska-Curie") == "marie sklodowska curie"
    assert normalize("It is 1,000.5 km.") == "it is 1000.5 km"
    assert normalize("J.J. Thomson") == "j j thomson"
    assert normalize("H₂O") == "h2o"
    assert contains_phrase("Alexander Graham Bell.", "bell")
    assert not contains_phrase("A bellow of smoke", "bell")
    assert contains_phrase("The answer is 85.", "85")
    assert not contains_phrase("The answer is 850.", "85")
    assert contains_phrase("Tim Berners-Lee", "berners-lee")


def test_content_answers_use_the_first_line():
    assert score_answer(PROMPTS["geo-01"], "Paris is the capital.\nMore text")["correct"]
    assert not score_answer(PROMPTS["geo-01"], "Lyon.\nParis")["correct"]
    assert score_answer(PROMPTS["arith-01"], "38 + 47 = 85")["correct"]
    assert not score_answer(PROMPTS["arith-01"], "850")["correct"]
    assert score_answer(PROMPTS["person-06"], "Marie Skłodowska-Curie.")["correct"]
    assert not score_answer(PROMPTS["person-06"], "Pierre Curie.")["correct"]
    assert score_answer(PROMPTS["sci-17"], "23 pairs, 46 in all.")["correct"]
    assert not score_answer(PROMPTS["sci-17"], "23")["correct"]


def test_anchor_overattribution():
    s = score_answer(PROMPTS["person-01"], "Thomas Edison invented the telephone.")
    assert s["anchors"] == ["Edison"] and not s["correct"]
    kepler = score_answer(PROMPTS["person-23"], "Isaac Newton.")
    assert kepler["anchors"] == ["Newton"] and not kepler["correct"]
    assert score_answer(PROMPTS["person-04"], "Leonardo da Vinci.")["anchors"] == []
    assert score_answer(PROMPTS["person-14"], "Albert Einstein.")["anchors"] == []


# ---------------------------------------------------------------- the card's table


def test_table_renders_the_card_categories_and_total():
    answers = [score_answer(p, ideal_answer(p)) for p in CARD]
    for a in answers:  # every science answer wrong, the rest right
        if a["category"] == "science":
            a["correct"] = False
    table = format_factbench(summarize(answers, "card"))
    rows = [ln for ln in table.splitlines() if ln.startswith("| ")]
    assert rows == [
        "| category | prompts | correct | accuracy |",
        "| arithmetic | 5 | 5 | 100.0% |",
        "| open-ended | 1 | 1 | 100.0% |",
        "| person | 25 | 25 | 100.0% |",
        "| science | 25 | 0 | 0.0% |",
        "| geography | 25 | 25 | 100.0% |",
        "| format compliance | 25 | 25 | 100.0% |",
        "| **total** | **106** | **81** | **76.4%** |",
    ]
    assert table.startswith("**factbench v2, card bench (106 prompts, greedy, Alpaca template)**")
    # a subset still prints all six categories, the empty ones as "—"
    sub = format_factbench(summarize(answers[:5]))
    assert "| open-ended | 0 | 0 | — |" in sub and "| **total** | **5** | **5** |" in sub


# ---------------------------------------------------------------- end to end

# Taught answers: right ones, one anchor error, format answers and one list.
TAUGHT = {
    "geo-01": "Paris is the capital of France.",
    "sci-01": "Au",
    "person-01": "Thomas Edison.",  # wrong: the bench must catch it as over-attribution
    "arith-01": "85",
    "fmt-01": "A",
    "fmt-05": "Yes",
    "fmt-13": "1. Helium\n2. Neon\n3. Argon",
    "open-01": "Saturn.",
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
    assert res["format_compliance"] == {"prompts": 3, "ok": 3}
    assert res["categories"]["person"] == {"prompts": 1, "correct": 0, "acc": 0.0}
    assert res["correct"] == 7
    table = format_factbench(res)
    assert "| format compliance | 3 | 3 | 100.0% |" in table and "Edison ×1" in table
    assert "| **total** | **8** | **7** | **87.5%** |" in table
    # left-padded batches decode exactly like one prompt at a time
    prompts = [render_prompt(p["prompt"]) for p in subset]
    assert generate(model, tok, prompts, batch_size=8) == [
        generate(model, tok, [p], batch_size=1)[0] for p in prompts
    ]


def test_each_bench_runs_whole_and_saves_its_own_result(taught_ckpt):
    card = evaluate_factbench(taught_ckpt, batch_size=64)
    ext = evaluate_factbench(taught_ckpt, bench="extended", batch_size=64)
    assert (card["prompts"], ext["prompts"]) == (106, 116)
    assert {c: v["prompts"] for c, v in card["categories"].items()} == CARD_COUNTS
    assert card["bench"]["name"] == "card" and card["bench"]["counts"] == CARD_COUNTS
    assert ext["bench"]["name"] == "extended"
    assert card["bench"]["prompts_sha256"] != ext["bench"]["prompts_sha256"]
    # 7 taught answers are right on the card bench whatever else the model says
    assert card["correct"] >= 7 and {"geo-01", "fmt-13"} <= {
        a["id"] for a in card["answers"] if a["correct"]
    }
    saved = json.loads((taught_ckpt / "eval" / "factbench.json").read_text())
    saved_ext = json.loads((taught_ckpt / "eval" / "factbench-extended.json").read_text())
    assert saved["bench"] == card["bench"] and saved["correct"] == card["correct"]
    assert saved_ext["prompts"] == 116
    assert evaluate_factbench(taught_ckpt) == saved  # reused, not recomputed
    # the card reads the card bench as its table and the extended one as a line apart
    evals = saved_evals(taught_ckpt)
    assert evals["factbench"] == saved and evals["factbench_extended"] == saved_ext
    # a result of the old 116 file or older rules is not the card's bench
    stale = {**saved, "bench_version": "1"}
    (taught_ckpt / "eval" / "factbench.json").write_text(json.dumps(stale))
    assert saved_evals(taught_ckpt)["factbench"] is None
    (taught_ckpt / "eval" / "factbench.json").write_text(json.dumps(saved))


def test_cli_bench_option(taught_ckpt, capsys):
    from ffllm.cli import app

    out = CliRunner().invoke(app, ["eval", "factbench", str(taught_ckpt), "--bench", "extended"])
    assert out.exit_code == 0, out.output
    assert "factbench v2, extended bench (116 prompts" in out.output
    assert "| **total** | **116** |" in out.output and "factbench-extended.json" in out.output
    with pytest.raises(SystemExit) as exit_info:
        app(["eval", "factbench", str(taught_ckpt), "--bench", "small"], prog_name="ffllm")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "unknown factbench 'small'" in err
