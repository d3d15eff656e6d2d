"""surgical: 3,000 items balanced over four formats; every response passes its verifier, and the
verifiers refuse near misses."""

import json
from collections import Counter, defaultdict

import pytest

from ffdata.build import build_set
from ffdata.formats import is_list_n, is_mcq_letter, is_numeric, is_yes_no, verify
from ffdata.tables import load_all


@pytest.mark.parametrize(
    "check,good,near_misses",
    [
        (is_yes_no, ["Yes", "No"], ["yes", "Yes!", "Yes, it is", " No", "Nope", "Yes.."]),
        (lambda t: is_mcq_letter(t, 4), ["A", "D"], ["a", "A.", "(A)", "E", "A B", "Answer: A"]),
        (is_numeric, ["18", "-3", "1,234", "2.5"], ["18 dollars", "$18", "eighteen", "18.", "1 8"]),
        (
            lambda t: is_list_n(t, 3),
            ["1. a\n2. b\n3. c"],
            ["1. a\n2. b", "1. a\n3. b\n4. c", "1) a\n2) b\n3) c", "1. a\n2. b\n3. c\n"],
        ),
    ],
)
def test_verifiers_refuse_near_misses(check, good, near_misses):
    assert all(check(t) for t in good)
    assert not any(check(t) for t in near_misses)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    b, _ = build_set("surgical", root=str(tmp_path_factory.mktemp("surgical")), quiet=True)
    return b


def test_build_is_balanced_and_verified(built):
    rows = built.read_table().to_pylist()
    assert len(rows) == 3000
    assert built.record["counts"]["by_format"] == {
        f: 750 for f in ("list_n", "mcq_letter", "numeric", "yes_no")
    }
    for r in rows:
        meta = json.loads(r["meta"])
        kwargs = {
            "mcq_letter": {"n_options": meta.get("n_options", 4)},
            "list_n": {"n": meta.get("n")},
        }
        ok = verify(r["format"], r["response"], **kwargs.get(r["format"], {}))
        assert ok, r
    answers = [r["response"] for r in rows if r["format"] == "yes_no"]
    assert answers.count("Yes") == answers.count("No") == 375
    assert len({r["id"] for r in rows}) == 3000
    assert built.record["reconciliation"]["ok"]


def test_yes_no_asks_each_fact_once_half_true_per_relation_with_plausible_falses(built):
    rows = [r for r in built.read_table().to_pylist() if r["format"] == "yes_no"]
    metas = [json.loads(r["meta"]) for r in rows]
    facts = Counter((m["relation"], m["row"]) for m in metas)
    assert max(facts.values()) == 1  # never the true and the false statement of one fact
    by_relation = defaultdict(Counter)
    for r, m in zip(rows, metas, strict=True):
        by_relation[m["relation"]][r["response"]] += 1
        assert (r["response"] == "Yes") == m["truth"]
    assert len(by_relation) >= 5
    for relation, c in by_relation.items():
        assert c["Yes"] == c["No"], (relation, c)
    tables = load_all()
    countries = [x for x in tables["countries"].rows if x["capital"] and x["country"]]
    continent_of_capital = {x["capital"]: x["continent"] for x in countries}
    elements = tables["elements"].rows
    symbol_number = {e["symbol"]: e["number"] for e in elements}
    for m in metas:
        if m["truth"]:
            continue
        if m["relation"] == "capital":  # a capital of the same continent, not any capital
            assert continent_of_capital[m["asked"]] == countries[m["row"]]["continent"], m
        elif m["relation"] == "symbol":  # a confusable symbol: same first letter or a neighbour
            e = elements[m["row"]]
            near = abs(symbol_number[m["asked"]] - e["number"]) == 1
            assert m["asked"][0] == e["name"][0] or near, m
        elif m["relation"] in ("number", "period"):
            true = elements[m["row"]]["number" if m["relation"] == "number" else "period"]
            assert 0 < abs(int(m["asked"]) - int(true)) <= 3, m


def test_list_prompts_vary(built):
    prompts = Counter(
        r["instruction"] for r in built.read_table().to_pylist() if r["format"] == "list_n"
    )
    assert sum(prompts.values()) == 750
    assert len(prompts) >= 450 and max(prompts.values()) <= 2, prompts.most_common(3)
