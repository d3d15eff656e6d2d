"""surgical: 3,000 items balanced over four formats; every response passes its verifier, and the
verifiers refuse near misses."""

import json

import pytest

from ffdata.build import build_set
from ffdata.formats import is_list_n, is_mcq_letter, is_numeric, is_yes_no, verify


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


def test_build_is_balanced_and_verified(tmp_path):
    built, _ = build_set("surgical", root=str(tmp_path), quiet=True)
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
