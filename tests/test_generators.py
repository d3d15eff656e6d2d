"""Generators: numeric families re-derive their answers; MCQ options are distinct, same-type and
balanced; anti-anchoring items put the anchor among the wrong answers; adapters read real rows."""

import random
from collections import Counter
from dataclasses import replace

import pytest

from ffdata.formats import LETTERS, is_short_fact, is_yes_no
from ffdata.generators import anchors, facts, mcq, numeric, pools, realmcq
from ffdata.tables import load_all


@pytest.fixture(scope="module")
def tables():
    return load_all()


@pytest.mark.parametrize("family", numeric.FAMILIES)
def test_numeric_family_answers_rederive(family):
    for i in range(300):
        p = numeric.generate(family, 11, i)
        assert numeric.check(p) == [], (p.question, p.response)


def test_numeric_is_seeded():
    a = [numeric.generate("change", 1, i).question for i in range(20)]
    b = [numeric.generate("change", 1, i).question for i in range(20)]
    c = [numeric.generate("change", 2, i).question for i in range(20)]
    assert a == b and a != c


def test_checker_catches_wrong_answer_and_wrong_step():
    p = numeric.generate("multi_step_total", 3, 0)
    wrong_final = replace(p, answer=str(int(float(p.answer)) + 1))
    assert any("re-derived" in e for e in numeric.check(wrong_final))
    bad_step = replace(p, steps=[p.steps[0].replace("=", "= 1") if True else ""] + p.steps[1:])
    assert any("is wrong" in e for e in numeric.check(bad_step))


def test_balanced_letters_is_exact():
    seq = mcq.balanced_letters(10714, random.Random(0))
    counts = Counter(seq)
    assert set(counts) == set("ABCD") and max(counts.values()) - min(counts.values()) <= 1
    assert seq != sorted(seq)


def test_place_and_pick():
    assert mcq.place("Paris", ["Rome", "Oslo", "Bern"], "C") == ["Rome", "Oslo", "Paris", "Bern"]
    with pytest.raises(ValueError):
        mcq.place("Paris", ["Rome", "paris", "Bern"], "A")  # not four distinct options
    rng = random.Random(0)
    for _ in range(50):
        d = mcq.pick("x", ["x", "y", "z", "w", "v", "X"], rng)
        assert len(set(d)) == 3 and "x" not in d and "X" not in d
    near = mcq.near_numbers(1876, rng, spread=20)
    assert len(set(near)) == 3 and 1876 not in near and all(abs(n - 1876) <= 20 for n in near)
    assert len(mcq.near_numbers(5_000_000, rng, spread=1_000_000)) == 3  # huge spreads are cheap


def _check_mcq(c):
    options = [c.answer, *c.distractors]
    assert len(options) == 4 and len({o.casefold() for o in options}) == 4, c


def test_table_mcq_distractors_are_same_type(tables):
    capitals = {r["capital"] for r in tables["countries"].rows}
    for c in mcq.capital_of(tables, 0):
        _check_mcq(c)
        assert set(c.distractors) <= capitals
    symbols = {r["symbol"] for r in tables["elements"].rows}
    for c in mcq.symbol_of(tables, 0):
        _check_mcq(c)
        assert set(c.distractors) <= symbols
    for c in mcq.atomic_number_of(tables, 0):
        _check_mcq(c)
        assert all(1 <= int(d) <= 118 for d in c.distractors)
    inventors = {r["inventor"] for r in tables["inventions"].rows}
    for c in anchors.contrastive_mcq(tables, 0, "inventions"):
        _check_mcq(c)
        assert set(c.distractors) <= inventors


def test_contrastive_items_hold_the_anchor_as_a_wrong_answer(tables):
    items = list(anchors.contrastive_mcq(tables, 0, "inventions"))
    contrastive = [c for c in items if c.meta["template"] == "creator_contrastive"]
    assert contrastive
    for c in contrastive:
        assert c.answer not in ("Thomas Edison", "Nikola Tesla")
        assert {"Thomas Edison", "Nikola Tesla"} <= set(c.distractors)
    phone = next(c for c in items if c.question == "Who patented the telephone?")
    assert phone.answer == "Alexander Graham Bell"


def test_yes_no_anchor_items(tables):
    items = {c.question: c for c in anchors.yes_no(tables, 0, "inventions")}
    edison_phone = items["Did Thomas Edison invent the telephone?"]
    assert edison_phone.answer == "No. Alexander Graham Bell patented the telephone in 1876."
    assert items["Did Thomas Edison invent the phonograph?"].answer.startswith("Yes.")
    assert all(is_yes_no(c.answer) for c in items.values())


def test_short_facts_are_short_and_unique(tables):
    seen = set()
    for make in (
        facts.country_of_capital,
        facts.continent_of,
        facts.element_of_symbol,
        facts.birth_year,
        facts.discoverer_of,
    ):
        for c in make(tables, 0):
            assert is_short_fact(c.answer) and len(c.answer) < 100
            assert c.question not in seen
            seen.add(c.question)


def test_every_table_pool_yields_candidates_with_lineage(tables):
    for name, pool in pools.POOLS.items():
        if pool.kind != "table":
            continue
        items = list(pools.table_candidates(name, tables, 0))
        assert items, name
        keys = [c.key for _, _, c in items]
        assert len(keys) == len(set(keys)), name
        assert all("table" in c.meta and "row" in c.meta for _, _, c in items)


def test_numeric_mcq_options():
    for fam in numeric.FAMILIES:
        for i in range(40):
            c = pools.numeric_mcq(numeric.generate(fam, 5, i), 5)
            _check_mcq(c)
            if "/" in c.answer:
                assert all(0 < eval(d) < 1 for d in c.distractors)  # noqa: S307 fractions only


def test_real_row_adapters():
    arc_row = {
        "id": "x",
        "question": "Q?",
        "answerKey": "3",
        "choices": {"label": ["1", "2", "3", "4"], "text": ["a", "b", "c", "d"]},
    }
    c = realmcq.arc("arc", 0, arc_row, "arc_easy")
    assert c.answer == "c" and c.distractors == ["a", "b", "d"]
    three = {
        **arc_row,
        "answerKey": "1",
        "choices": {"label": ["1", "2", "3"], "text": list("abc")},
    }
    with pytest.raises(ValueError, match="not_four_options"):
        realmcq.arc("arc", 0, three, "arc_easy")
    nested = {"train": {"question": "Q", "choices": list("wxyz"), "answer": 2, "subject": "law"}}
    m = realmcq.mmlu("mmlu", 0, nested, "mmlu")
    assert m.answer == "y" and m.category == "law"
    obqa = {
        "id": "o",
        "question_stem": "S?",
        "answerKey": "B",
        "choices": {"label": list("ABCD"), "text": list("pqrs")},
    }
    assert realmcq.openbookqa("ob", 0, obqa, "openbookqa").answer == "q"
    g = realmcq.gsm8k("gsm", 0, {"question": "How many?", "answer": "2+2=4\n#### 216000"}, "m", 1)
    assert g.answer == "216000" and all(int(d) % 1000 == 0 for d in g.distractors)
    with pytest.raises(ValueError, match="non_integer"):
        realmcq.gsm8k("gsm", 0, {"question": "q", "answer": "x\n#### 2.5"}, "m", 1)
    assert LETTERS.startswith("ABCD")
