"""Lints (ffdata.lints): each fires on the bad example issue 13 found, and the built repair_blocks
and surgical sets have none on any generated item of any part; no question stem is above 5% of a
block and every generated question family has at least three phrasings."""

import json
from collections import Counter, defaultdict

import pytest

from ffdata import lints
from ffdata.build import build_set
from ffdata.formats import render_mcq
from ffdata.tables import load_all

REAL_SOURCES = {"arc_easy_train", "arc_challenge_train", "gsm8k_train"}
# Real source rows keep their own wording; typos there belong in manifests/errata.csv. These are
# the ones the lints see today (gsm8k train: "down the the three flights of stairs").
KNOWN_SOURCE_DEFECTS = {("gsm8k_train", "double_preposition")}


@pytest.fixture(scope="module")
def tables():
    return load_all()


def _mcq(question, options, key, **meta):
    return {
        "instruction": render_mcq(question, options),
        "response": "ABCD"[options.index(key)],
        "format": "mcq_letter",
        "meta": json.dumps({"correct": key, **meta}),
    }


def _qa(question, answer, fmt="short_fact"):
    return {"instruction": question, "response": answer, "format": fmt, "meta": "{}"}


def _row(tables, table, col, value):
    return next(r["_row"] for r in tables[table].rows if r[col] == value)


def test_each_lint_fires_on_the_issues_example_and_not_on_the_fix(tables):
    cases = [
        (
            "plural_agreement",
            _qa("A workshop takes 1 hours and 54 minutes. How many minutes is that?", "114."),
            _qa("A workshop takes 1 hour and 54 minutes. How many minutes is that?", "114."),
        ),
        (
            "missing_article",
            _qa("What is the capital of Dominican Republic?", "Santo Domingo."),
            _qa("What is the capital of the Dominican Republic?", "Santo Domingo."),
        ),
        (
            "missing_article",
            _qa("Who composed Moonlight Sonata?", "Beethoven."),
            _qa("Who composed the Moonlight Sonata?", "Beethoven."),
        ),
        (
            "table_note",
            _qa("Who composed William Tell (the opera)?", "Gioachino Rossini."),
            _qa("Who composed the opera William Tell?", "Gioachino Rossini."),
        ),
        (
            "double_preposition",
            _qa("When does Water Music date from?", "Water Music dates from in 1717."),
            _qa(
                "When was Water Music first performed?", "Water Music was first performed in 1717."
            ),
        ),
        (
            "fraction_not_lowest",
            _qa("Quinn weeds 2/10 of a garden and a friend weeds 1/4 of it. What is left?", "x."),
            _qa("Quinn weeds 1/5 of a garden and a friend weeds 1/4 of it. What is left?", "x."),
        ),
        (
            "key_only_format",
            _mcq("What fraction is left?", ["1/12", "1/11", "1/9", "2/11"], "1/12"),
            _mcq("What fraction is left?", ["1/12", "1/11", "1/10", "2/11"], "1/12"),
        ),
    ]
    for name, bad, good in cases:
        assert name in lints.lint(bad, tables), (name, bad["instruction"])
        assert name not in lints.lint(good, tables), (name, good["instruction"])


def test_two_correct_options_lint_joins_the_tables(tables):
    rousseau = _row(tables, "philosophy", "work", "The Social Contract")
    bad = _mcq(
        "Which of the following is associated with Jean-Jacques Rousseau?",
        ["The Social Contract", "Confessions", "Leviathan", "Utopia"],
        "The Social Contract",
        table="philosophy",
        row=rousseau,
        template="work_by",
    )
    assert "two_correct_options" in lints.lint(bad, tables)
    spinoza = _row(tables, "philosophy", "work", "Ethics (Ethica)")
    who = _mcq(
        "Who wrote the Ethics of 1677?",
        ["Baruch Spinoza", "Aristotle", "David Hume", "John Locke"],
        "Baruch Spinoza",
        table="philosophy",
        row=spinoza,
        template="creator",
    )
    assert "two_correct_options" in lints.lint(who, tables)
    fine = json.loads(who["meta"])
    ok = _mcq(
        "Who wrote the Ethics of 1677?",
        ["Baruch Spinoza", "Plato", "David Hume", "John Locke"],
        "Baruch Spinoza",
        **{k: fine[k] for k in ("table", "row", "template")},
    )
    assert lints.lint(ok, tables) == []


def test_stem_masks_entities_and_numbers(tables):
    a = lints.stem("Who wrote Pride and Prejudice?", tables)
    b = lints.stem("Who wrote The Republic?", tables)
    assert a == b == "Who wrote X?"
    assert lints.stem("Ana buys 3 mugs at $2.50 each.", tables) == "X buys # X at # each."


@pytest.fixture(scope="module")
def surgical_rows(tmp_path_factory):
    built, _ = build_set("surgical", root=str(tmp_path_factory.mktemp("surgical")), quiet=True)
    return built.read_table().to_pylist()


def _generated(rec: dict) -> bool:
    meta = json.loads(rec["meta"])
    return rec["source"] not in REAL_SOURCES and meta.get("template") != "real_mcq"


def _check_set(rows, tables, block_of, stems_not_judged=()):
    hits, real_hits = Counter(), set()
    stems, sizes = defaultdict(Counter), Counter()
    family_stems = defaultdict(set)
    for rec in rows:
        block = block_of(rec)
        sizes[block] += 1
        found = lints.lint(rec, tables)
        if not _generated(rec):
            real_hits |= {(rec["source"], d) for d in found}
            continue
        hits.update(f"{d}: {rec['instruction'][:80]!r}" for d in found)
        s = lints.stem(rec["instruction"], tables)
        stems[block][s] += 1
        meta = json.loads(rec["meta"])
        family_stems[(meta.get("pool", rec["format"]), rec["category"])].add(s)
    assert not hits, hits.most_common(5)
    assert real_hits <= KNOWN_SOURCE_DEFECTS, real_hits - KNOWN_SOURCE_DEFECTS
    for block, counts in stems.items():
        if block in stems_not_judged:
            continue
        s, n = counts.most_common(1)[0]
        assert n <= 0.05 * sizes[block], (block, s, n, sizes[block])
    few = {k: len(v) for k, v in family_stems.items() if len(v) < 3}
    assert not few, few


def test_repair_blocks_has_no_lint_hits_and_no_dominant_stem(repair_blocks, tables):
    rows = repair_blocks.read_table().to_pylist()
    # validation_e is a 104-item evaluation part from six pools of 3-4 phrasings each: a stem is
    # ~10% of it by construction and teaches nothing (it is never trained on); lints still apply
    part = lambda r: json.loads(r["meta"]).get("part", r["block"])  # noqa: E731
    _check_set(rows, tables, part, stems_not_judged={"validation_e"})


def test_surgical_has_no_lint_hits_and_no_dominant_stem(surgical_rows, tables):
    _check_set(surgical_rows, tables, lambda r: r["block"])
