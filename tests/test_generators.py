"""Generators: numeric families re-derive their answers; MCQ options are distinct, same-type and
balanced; anti-anchoring items put the anchor among the wrong answers; adapters read real rows."""

import random
from collections import Counter, defaultdict
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
    assert len(set(near)) == 3 and 1876 not in near and all(abs(n - 1876) <= 40 for n in near)
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


ANCHORED = ("inventions", "discoveries", "literature", "music", "art", "philosophy")


def test_anchors_are_options_at_their_table_share(tables):
    """Avoid-the-anchor and pick-the-anchor stay within chance + 5 points on every anchored
    table, and an anchor is a wrong option about as often as its share of the credits."""
    all_anchors = {r["anchor"] for r in tables["anchors"].rows}
    for table in ANCHORED:
        who_col = mcq.CREDIT_TABLES[table][1]
        items = list(anchors.contrastive_mcq(tables, 1313, table))
        pick = avoid = 0.0
        for c in items:
            _check_mcq(c)
            options = [c.answer, *c.distractors]
            named = [o for o in options if o in all_anchors]
            pick += (1 / len(named) if c.answer in named else 0) if named else 0.25
            free = [o for o in options if o not in all_anchors]
            avoid += (1 / len(free) if c.answer in free else 0) if named else 0.25
        assert pick / len(items) <= 0.30 and avoid / len(items) <= 0.30, table
        credits = tables[table].column(who_col)
        share = sum(credits.count(a) for a in all_anchors) / len(credits)
        as_wrong = sum(d in all_anchors for c in items for d in c.distractors) / (3 * len(items))
        assert as_wrong <= 2 * share + 0.03, (table, as_wrong, share)


def test_yes_no_is_balanced_in_every_prefix_and_asks_each_fact_once(tables):
    anchor_labels = Counter()
    for table in ANCHORED:
        items = list(anchors.yes_no(tables, 1313, table))
        labels = [c.meta["label"] for c in items]
        for n in range(2, len(items) + 1, 2):  # any quota drawn from the front is balanced
            assert abs(labels[:n].count("yes") - n / 2) <= 1, (table, n)
        assert len({c.key for c in items}) == len(items)
        facts = Counter((c.meta["row"], c.meta["template"]) for c in items)
        assert max(facts.values()) == 1, table  # one statement per fact, not one per anchor
        assert len({c.answer for c in items}) == len(items), table
        assert all(is_yes_no(c.answer) for c in items)
        assert all(c.answer.startswith("Yes" if c.meta["label"] == "yes" else "No") for c in items)
        # true and false credits name people of the same table, anchors included
        people = set(tables[table].column(mcq.CREDIT_TABLES[table][1]))
        credit = [c for c in items if c.meta["template"] == "yes_no_credit"]
        assert {c.meta["named"] for c in credit} <= people
        anchor_labels.update(c.meta["label"] for c in credit if c.meta["anchor"])
    assert anchor_labels["yes"] and anchor_labels["no"]  # anchors in true and false statements


def test_yes_no_true_credits_come_from_the_tables(tables):
    items = list(anchors.yes_no(tables, 1313, "inventions"))
    edison = [c for c in items if c.meta.get("named") == "Thomas Edison"]
    assert any(c.meta["label"] == "yes" for c in edison)
    for c in items:
        if c.meta["template"] == "yes_no_credit":
            row = tables["inventions"].rows[c.meta["row"]]
            assert (c.meta["named"] == row["inventor"]) == (c.meta["label"] == "yes")


def test_no_item_has_two_correct_options(tables):
    """A join over the tables for every who-made-it and which-is-theirs item of every table."""
    from ffdata import lints
    from ffdata.generators import names

    seen = 0
    for table in ANCHORED:
        works = mcq.work_by(tables, 1313, table) if table in names.WORK_COLUMN else []
        for c in [*mcq.creator_of(tables, 1313, table), *works]:
            rec = {
                "instruction": "",
                "response": "A",
                "format": "mcq_letter",
                "meta": {"table": table, "row": c.meta["row"], "template": c.meta["template"]},
            }
            assert not lints._two_correct(rec["meta"], [c.answer, *c.distractors], c.answer, tables)
            seen += 1
    assert seen > 500
    works = {
        c.question: c
        for c in mcq.work_by(tables, 1313, "philosophy")
        if c.answer in ("Emile, or On Education", '"I think, therefore I am"', "Ethics")
    }
    for c in works.values():
        assert not {"Confessions", "Meditations", "Nicomachean Ethics"} & set(c.distractors), c
    ethics = next(
        c for c in mcq.creator_of(tables, 1313, "philosophy") if c.answer == "Baruch Spinoza"
    )
    assert "Aristotle" not in ethics.distractors and "(" not in ethics.question


def test_english_of_table_questions(tables):
    from ffdata.generators import names

    caps = {c.meta["row"]: c for c in mcq.capital_of(tables, 0)}
    dr = next(r for r in tables["countries"].rows if r["country"] == "Dominican Republic")
    assert "the Dominican Republic" in caps[dr["_row"]].question
    moon = next(c for c in mcq.creator_of(tables, 0, "music") if "Moonlight" in c.question)
    assert "the Moonlight Sonata" in moon.question
    for table in ANCHORED:
        for c in [*mcq.creator_of(tables, 0, table), *anchors.yes_no(tables, 0, table)]:
            assert "(" not in c.question.replace("(Choral", ""), c.question
    years = list(facts.work_year(tables, 0, "music"))
    assert years and not any("from in" in c.answer for c in years)
    for (table, key), _ in names.WORK_FORMS.items():  # the curated list names real rows
        assert key in tables[table].column("work"), (table, key)
    for country in names.COUNTRIES_WITH_THE:
        assert country in tables["countries"].column("country"), country


MY_TABLE_POOLS = (
    "capital_of", "symbol_of", "atomic_number_of", "element_of_number", "element_category",
    "inventor_contrastive", "scientist_contrastive", "person_field", "country_of_capital",
    "continent_of", "element_of_symbol", "element_discoverer", "invention_year", "discovery_year",
    "birth_year", "inventor_yes_no", "scientist_yes_no",
    *(f"{t}_{k}" for t in ("literature", "music", "art", "philosophy")
      for k in ("creator", "work_by", "year", "yes_no")),
)  # fmt: skip


def test_question_families_have_three_phrasings(tables):
    from ffdata import lints

    for name in MY_TABLE_POOLS:
        items = [c for *_, c in pools.table_candidates(name, tables, 1313)]
        stems = Counter(lints.stem(c.question, tables) for c in items)
        assert len(stems) >= 3, (name, stems)


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
    import yaml

    from ffdata.tables import TABLES_DIR

    targets = yaml.safe_load((TABLES_DIR.parent / "repair_blocks.yaml").read_text())["targets"]
    asked = {p for spec in targets.values() if isinstance(spec, dict) for p in spec}
    for name, pool in pools.POOLS.items():
        if pool.kind != "table":
            continue
        items = list(pools.table_candidates(name, tables, 0))
        assert items or name not in asked, name  # a pool the manifest draws from is never empty
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


def _looks(text):
    if "/" in text:
        return ("fraction", int(text.split("/")[1]) % 2)
    return ("number", len(text.partition(".")[2]))


def test_numeric_mcq_has_no_rank_centre_or_format_cue():
    """Over 2,100 items: the key's rank among the sorted options is uniform (25% ± 3 each), the
    option closest to the options' mean is the key at most 30% of the time, and the key is never
    the only option written its way (only decimal, only odd denominator)."""
    from fractions import Fraction

    ranks, central, alone, n = Counter(), 0.0, 0, 0
    for fam in numeric.FAMILIES:
        for i in range(300):
            c = pools.numeric_mcq(numeric.generate(fam, 13, i), 13)
            options = [c.answer, *c.distractors]
            values = [Fraction(o) for o in options]
            ranks[sorted(values).index(values[0])] += 1
            mean = sum(values) / 4
            gaps = [abs(v - mean) for v in values]
            best = [k for k, g in enumerate(gaps) if g == min(gaps)]
            central += 1 / len(best) if 0 in best else 0
            looks = Counter(_looks(o) for o in options)
            alone += looks[_looks(c.answer)] == 1
            n += 1
    assert all(abs(ranks[r] / n - 0.25) <= 0.03 for r in range(4)), ranks
    assert central / n <= 0.30, central / n
    assert alone == 0


def test_numeric_mcq_distractors_include_plausible_slips():
    p = next(p for i in range(50) if (p := numeric.generate("change", 3, i)).variant == "a")
    slips = {str(x) for x in numeric.mistakes(p.family, p.variant, p.question)}
    c = pools.numeric_mcq(p, 3)
    from fractions import Fraction

    assert {str(Fraction(d)) for d in c.distractors} & slips


def test_numeric_english_and_phrasings():
    import re
    from math import gcd

    stems = defaultdict(set)
    for fam in numeric.FAMILIES:
        for i in range(400):
            p = numeric.generate(fam, 21, i)
            assert not re.search(r"\b1 (hours|minutes)\b", p.question), p.question
            for a, b in re.findall(r"(\d+)/(\d+)", p.question):
                assert gcd(int(a), int(b)) == 1, p.question
            stems[fam].add(re.sub(r"[\d$.:/]+", "#", p.question.split(" ")[0] + p.question[-25:]))
    assert all(len(v) >= 3 for v in stems.values()), {k: len(v) for k, v in stems.items()}


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


def test_rank_ordered_tables_are_exactly_those_with_only_numeric_or_choice_relations():
    """subjects.RANK_ORDERED_TABLES keeps its _ask pool in a seeded order so a quota's prefix
    has balanced key ranks; that is only sound where no relation picks distractors by length."""
    import csv
    from pathlib import Path

    from ffdata.generators import pools, subjects

    tables = Path(__file__).resolve().parent.parent / "manifests" / "tables"
    want = set()
    for t in subjects.KNOWLEDGE_TABLES:
        with open(tables / f"{t}.csv", encoding="utf-8") as f:
            rels = {r["relation"] for r in csv.DictReader(f)}
        kinds = [subjects.RELATIONS[r] for r in rels]
        if all(k.kind in ("year", "count") or k.choices for k in kinds):
            want.add(t)
    assert set(subjects.RANK_ORDERED_TABLES) == want
    assert all(pools.POOLS[f"{t}_ask"].ordered for t in want)
