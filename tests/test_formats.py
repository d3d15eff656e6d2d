"""Format verifiers accept exactly their format and reject the near misses."""

import pytest

from ffdata.formats import (
    final_number,
    is_list_n,
    is_mcq_letter,
    is_numeric,
    is_short_fact,
    is_yes_no,
    parse_mcq,
    render_mcq,
    verify,
)


@pytest.mark.parametrize("text", ["A", "B", "C", "D"])
def test_mcq_letter_accepts(text):
    assert is_mcq_letter(text)


@pytest.mark.parametrize("text", ["b", "B.", " B", "B ", "(B)", "E", "AB", "", "B. Paris"])
def test_mcq_letter_rejects(text):
    assert not is_mcq_letter(text)


def test_mcq_letter_range_follows_option_count():
    assert is_mcq_letter("E", n_options=5) and not is_mcq_letter("D", n_options=3)


@pytest.mark.parametrize(
    "text",
    ["Yes", "No", "Yes.", "No.", "No. Alexander Graham Bell patented the telephone in 1876."],
)
def test_yes_no_accepts(text):
    assert is_yes_no(text)


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yeah",
        "No, Bell did.",
        "Yes..",
        "No. bell did it.",
        "No. Bell did it",
        "Maybe",
        "No.\nBell did.",
        " No.",
    ],
)
def test_yes_no_rejects(text):
    assert not is_yes_no(text)


@pytest.mark.parametrize("text", ["42", "-7", "3.50", "1,234", "3/4", "0"])
def test_numeric_accepts(text):
    assert is_numeric(text)


@pytest.mark.parametrize("text", ["42.", "$42", "42 apples", "1,23", "four", "", "4 2", "3/"])
def test_numeric_rejects(text):
    assert not is_numeric(text)


def test_numeric_with_steps():
    good = "Cost: 3 × 2.50 = 7.50.\nThe answer is 7.50."
    assert is_numeric(good, allow_steps=True) and final_number(good) == "7.50"
    assert not is_numeric("The answer is 7.50.", allow_steps=True)  # no steps
    assert not is_numeric("Cost: 7.50.\nThe answer is about 7.50.", allow_steps=True)
    assert not is_numeric("Cost: 7.50.\n\nThe answer is 7.50.", allow_steps=True)
    assert not is_numeric(good)  # steps are not a bare number


def test_list_n():
    assert is_list_n("1. red\n2. green\n3. blue", 3)
    assert is_list_n("- red\n- green", 2)
    assert not is_list_n("1. red\n2. green\n3. blue", 2)
    assert not is_list_n("1. red\n3. green", 2)  # numbering skips
    assert not is_list_n("1. red\n- green", 2)  # mixed markers
    assert not is_list_n("1.red\n2.green", 2)
    assert not is_list_n("red, green", 2)


def test_short_fact():
    assert is_short_fact("The capital of France is Paris.")
    assert not is_short_fact("x" * 99 + ".")  # 100 characters
    assert is_short_fact("x" * 98 + ".")
    assert not is_short_fact("The capital of France is Paris")  # no closing punctuation
    assert not is_short_fact("Paris.\nFrance.")
    assert not is_short_fact("No. It was Bell.")  # a yes/no answer in disguise
    assert not is_short_fact("1. Paris.")
    assert not is_short_fact(" Paris.")


def test_verify_dispatch_and_unknown_format():
    assert verify("mcq_letter", "C") and verify("free", "anything")
    assert not verify("free", "  ")
    with pytest.raises(ValueError, match="unknown format"):
        verify("essay", "x")


def test_render_and_parse_mcq_roundtrip():
    prompt = render_mcq("What is 2 + 2?", ["3", "4", "5", "22"])
    assert prompt.splitlines()[1:3] == ["A. 3", "B. 4"]
    assert parse_mcq(prompt) == ("What is 2 + 2?", ["3", "4", "5", "22"])
    with pytest.raises(ValueError):
        parse_mcq("What is 2 + 2?\nA. 3\nC. 4\nAnswer with the letter of the correct option.")
    with pytest.raises(ValueError):
        parse_mcq("What is 2 + 2?")
