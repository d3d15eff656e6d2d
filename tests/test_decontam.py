"""Decontamination: what it must catch, what it must leave alone, and that both paths agree."""

import json
import random
import re
from pathlib import Path

import pytest

from ffdata.decontam import (
    PLANT_KINDS,
    Decontaminator,
    normalize,
    normalize_batch,
    normalize_words,
    numbers,
    plant,
)
from ffdata.evalsets import EvalItem, load_evalset
from tests.decontam_rephrasings import REPHRASINGS

ROOT = Path(__file__).resolve().parent.parent
GSM8K_TRAIN = ROOT / "data/sources/gsm8k/train.jsonl"


@pytest.fixture(scope="module")
def d() -> Decontaminator:
    return Decontaminator.load(source="bundled")


@pytest.fixture(scope="module")
def gsm8k_train() -> list[str]:
    rows = [json.loads(line) for line in GSM8K_TRAIN.read_text().splitlines()]
    return [f"{r['question']}\n{r['answer']}" for r in rows]


def test_normalization():
    assert normalize("  Hello,   WORLD!\n") == "hello world"
    assert normalize("Ｆｕｌｌ－ｗｉｄｔｈ ﬁne") == "fullwidth fine"  # NFKC, then joined
    # punctuation inside a word is deleted, so "person's" and "persons" are one word
    assert normalize("Janet’s ducks: (A) 16; B. 3") == "janets ducks a 16 b 3"
    assert normalize("a person's 0.108 M, 9/11 and client-centered") == (
        "a persons 0108 m 911 and clientcentered"
    )
    assert normalize("end. (start) -- x") == "end start x"  # at a word's edge: a space
    assert normalize("") == ""


def test_batch_and_single_normalization_agree():
    texts = [
        "",
        "!!!",
        "plain ASCII, with (A) labels and 3.5 numbers_and_underscores",
        "Héllo—WÖRLD’s café «quoted» ＡＢＣ İstanbul ﬁne Ⅻ ½",
        "Русский текст, 中文字符 and ١٢٣ digits\u00a0nbsp\ttab",
        "a b c d e",
        "it's 3.5, e.g. U.S.-made; café’s «x»y",
    ]
    assert normalize_batch(texts) == [normalize_words(t) for t in texts]


def test_planted_items_are_caught(d):
    filler = [
        "The weather was mild for most of the week.",
        "Please write your answer on the line below.",
        "Our school library opens at eight in the morning.",
    ]
    # questions of at least 10 words (4-word items like "Which is a renewable resource?" with
    # one-word choices are below what 13-grams and the short-question rules can tell apart)
    items = [
        it
        for name in ("mmlu", "arc", "gsm8k")
        for it in load_evalset(name, "bundled")
        if len(it.question.split()) >= 10
    ]
    rng = random.Random(7)
    sample = rng.sample(items, 400)
    caught = total = 0
    for kind in PLANT_KINDS:
        texts = [plant(it, kind, rng, filler) for it in sample]
        matches = d.check_batch(texts)
        caught += sum(m is not None for m in matches)
        total += len(texts)
    assert caught / total >= 0.995


def test_each_disguise_on_one_item(d):
    item = next(
        it
        for it in load_evalset("mmlu", "bundled")
        if it.item_id == "mmlu/high_school_biology/test/0"
    )
    choices = " ".join(f"({'ABCD'[i]}) {c}" for i, c in enumerate(reversed(item.choices)))
    texts = {
        "case+space+punct": item.question.upper().replace(" ", "   ").replace(",", " ;"),
        "reordered": f"{item.question}\n{choices}",
        "embedded": f"### Instruction:\nPlease help me. {item.question} Thanks!\n### Response:\n",
        "answer pasted": f"{item.question} The answer is {item.answer}",
    }
    for name, text in texts.items():
        m = d.check(text)
        assert m is not None, name
        assert (m.evalset, m.item_id) == ("mmlu", item.item_id), name


def test_gsm8k_solution_without_question_or_calc_marks(d):
    item = load_evalset("gsm8k", "bundled")[0]
    solution = item.answer.replace("<<16-3-4=9>>", "").replace("<<9*2=18>>", "")
    m = d.check("Worked solution:\n" + solution)
    assert m is not None and m.item_id == "gsm8k/test/0"


def test_short_question_rules(d):
    # specific short question on its own
    m = d.check("Quick one: how does the ozone layer protect us?")  # not an eval question
    assert m is None
    arc = {it.item_id: it for it in load_evalset("arc", "bundled")}
    q = arc["arc/easy/test/NYSEDREGENTS_2015_4_12"].question  # "Which object is the best ..."
    m = d.check(f"Science quiz. {q}")
    assert m is not None and m.rule == "question"
    # generic stems alone are not contamination; with the item's own choices they are
    assert d.check("Which of the following statements is true? Cats are mammals.") is None
    item = next(
        it
        for it in load_evalset("mmlu", "bundled")
        if it.question.strip() == "Which of the following statements is true?"
    )
    shuffled = list(reversed(item.choices))
    m = d.check(f"{item.question}\n" + "\n".join(shuffled))
    assert m is not None and m.item_id == item.item_id and m.rule in ("ngram", "question+choices")


def test_clean_real_text_is_rarely_flagged(d, gsm8k_train):
    matches = d.check_batch(gsm8k_train)
    rate = sum(m is not None for m in matches) / len(matches)
    assert rate < 0.005  # measured 0.16%: GSM8K's own train/test near-duplicates
    clean = [
        "Write a short poem about autumn leaves falling in the park.",
        "Explain the difference between a list and a tuple in Python.",
        "For which of these two scenarios does the main character do something wrong? "
        "Scenario 1 | I returned the library book late. Scenario 2 | I fed my neighbour's cat.",
    ]
    assert d.check_batch(clean) == [None, None, None]


def test_batch_and_single_agree(d, gsm8k_train):
    arc = load_evalset("arc", "bundled")
    rng = random.Random(3)
    texts = gsm8k_train[:300] + [plant(it, "all", rng, ["Filler."]) for it in arc[:100]]
    rng.shuffle(texts)
    assert d.check_batch(texts) == [d.check(t) for t in texts]


def test_templates_are_not_items():
    """A 13-gram shared by many items (a preamble) must not match; the item text must."""
    preamble = "Read the passage about the old lighthouse keeper and answer the question below."
    items = [
        EvalItem(
            "toy",
            f"toy/test/{i}",
            "test",
            "",
            f"{preamble} Story {i}: {word} rowed out.",
            (),
            "",
            -1,
        )
        for i, word in enumerate(
            "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
        )
    ]
    d = Decontaminator(items)
    assert d.stats["template_ngrams_skipped"] > 0
    assert d.check(f"{preamble} Something else entirely happened here.") is None
    m = d.check(f"x {items[4].question} y")
    assert m is not None and m.item_id == "toy/test/4"
    assert m.evalset == "toy" and len(m.ngram.split()) == 13


def test_load_is_cached_and_fingerprinted(d):
    assert Decontaminator.load(source="bundled") is d
    assert len(d.fingerprint) == 64
    small = Decontaminator.load(targets=["gsm8k"], source="bundled")
    assert small.fingerprint != d.fingerprint
    assert small.check(load_evalset("arc", "bundled")[0].question) is None


# Items whose copies with the punctuation deleted the old normalization missed (punctuation
# became a space there, so "persons" never met "person s"): ffdata decontam caught 98.3% of
# planted items, and every miss was one of these joins.
JOINED = {
    "person's": "mmlu/clinical_knowledge/test/90",
    "0.108": "mmlu/high_school_chemistry/test/10",
    "9/11": "mmlu/us_foreign_policy/test/80",
    "client-centered": "mmlu/professional_psychology/test/610",
    "forced-choice": "mmlu/professional_psychology/test/62",
}


@pytest.mark.parametrize("word", JOINED)
def test_punctuation_deleted_inside_words_is_caught(d, word):
    item = next(it for it in load_evalset("mmlu", "bundled") if it.item_id == JOINED[word])
    assert word in item.question
    joined = re.sub(r"[^\w\s]", "", item.question)  # "person's" -> "persons", "9/11" -> "911"
    assert word.replace("'", "").replace(".", "").replace("/", "").replace("-", "") in joined
    for text in (joined, re.sub(r"[^\w\s]", " ", item.question), item.question.upper()):
        m = d.check(f"Homework help please.\n{text}\nThanks.")
        assert m is not None and m.item_id == item.item_id, text


def test_one_letter_words_count_in_13_grams(d):
    """An ARC-Challenge train question that shares "to produce light the atoms inside a light
    bulb transform electrical energy into" with a test question: 13 words only with "a"."""
    train = [
        json.loads(line)
        for line in (ROOT / "data/sources/arc/ARC-Challenge-train.jsonl").read_text().splitlines()
    ]
    row = next(r for r in train if r["id"] == "Mercury_7014193")
    text = row["question"] + "\n" + "\n".join(row["choices"]["text"])
    m = d.check(text)
    assert m is not None and m.item_id == "arc/challenge/test/Mercury_400811"
    assert " inside a light bulb " in f" {m.ngram} " and len(m.ngram.split()) == 13
    assert d.check_batch([text]) == [m]


def test_numbers_of_a_rephrased_gsm8k_item(d):
    gsm8k = {it.item_id: it for it in load_evalset("gsm8k", "bundled")}
    caught = 0
    for item_id, text in REPHRASINGS:
        m = d.check(text)
        caught += m is not None and m.item_id == item_id
        if m is not None and m.rule == "numbers":
            assert m.item_id == item_id  # the numbers rule never names another item here
    assert caught >= 30  # of 35: the rest have only small numbers (2, 4, 5, 8 ...)
    # the same story with another final answer, or its numbers with others between them (a
    # worked sum), is not this item
    text = dict(REPHRASINGS)["gsm8k/test/230"]
    assert d.check(text)
    assert d.check(text.replace("276,000", "275,000")) is None
    assert gsm8k["gsm8k/test/230"].question not in text  # really rephrased
    sums = "12 * 20000 = 240000, 10 + 1000 = 1010, so 276000 in all."
    assert d.check(sums) is None


def test_numbers_as_the_rule_reads_them():
    text = "From 1:00 PM to 5:30, 1,000.50 and three; $12.00 each, 40g, the 2nd, 2/5, one"
    assert numbers(text) == ["1", "00", "5", "30", "100050", "3", "12", "40", "2", "25"]
    assert numbers("It costs $12.") == numbers("It costs $12.00.") == ["12"]


def test_index_from_the_cache_matches_the_same(d, tmp_path, gsm8k_train):
    """Saved once, loaded memory-mapped: the same matches, the same fingerprint."""
    d.save(tmp_path / "index")
    loaded = Decontaminator.from_cache(tmp_path / "index")
    assert loaded.fingerprint == d.fingerprint and loaded.stats == d.stats
    rng = random.Random(5)
    items = [it for name in ("mmlu", "arc", "gsm8k") for it in load_evalset(name, "bundled")]
    texts = gsm8k_train[:500] + [text for _, text in REPHRASINGS]
    texts += [plant(it, rng.choice(PLANT_KINDS), rng, ["Filler."]) for it in rng.sample(items, 500)]
    assert loaded.check_batch(texts) == d.check_batch(texts)
    assert sum(m is not None for m in d.check_batch(texts)) > 500  # it had things to find
    d.save(tmp_path / "index")  # a second save of the same index leaves the first in place
    assert Decontaminator.from_cache(tmp_path / "index").check_batch(texts[:50]) == (
        d.check_batch(texts[:50])
    )
