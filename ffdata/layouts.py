"""Source row layouts: the field types each adapter relies on, as strict pydantic models.

A row of the wrong shape (`question: null`, an integer question, a null option) must never reach
an adapter that would turn it into text ("None", "12405"). `check(layout, row, where)` raises
MalformedRow naming the first bad field ("choices.text.2") and what is wrong with it; adapters
call it first, and the read path calls it for sources with `on_malformed: error`. Extra fields
are allowed: sources carry more than the adapters read.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic import ValidationError as _ValidationError

from ffdata.errors import MalformedRow

Number = float  # strict: an int is accepted, a bool or a string is not


class _Layout(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)


class _Choices(_Layout):
    label: list[StrictStr]
    text: list[StrictStr]


class Arc(_Layout):
    question: StrictStr
    choices: _Choices
    answerKey: StrictStr  # noqa: N815 (the hub's field name)


class OpenBookQA(_Layout):
    question_stem: StrictStr
    choices: _Choices
    answerKey: StrictStr  # noqa: N815


class Mmlu(_Layout):
    question: StrictStr
    choices: list[StrictStr]
    answer: StrictInt | StrictStr


class Gsm8k(_Layout):
    question: StrictStr
    answer: StrictStr


class HellaSwag(_Layout):
    ctx: StrictStr
    endings: list[StrictStr]
    label: StrictInt | StrictStr | None = None  # unlabelled test rows: the adapter refuses them


class Math(_Layout):
    problem: StrictStr
    solution: StrictStr


class TruthfulQA(_Layout):
    question: StrictStr | None = None
    Question: StrictStr | None = None


class _FromValue(_Layout):
    from_: StrictStr = Field(alias="from")
    value: StrictStr | None = None  # a null turn is an empty one (dropped as empty_turn)


class _RoleContent(_Layout):
    role: StrictStr
    content: StrictStr | None = None


class OpenHermes(_Layout):
    conversations: list[_FromValue]


class UltraChat(_Layout):
    messages: list[_RoleContent]


class WildChat(_Layout):
    conversation: list[_RoleContent]
    language: StrictStr
    toxic: StrictBool
    redacted: StrictBool


class NuminaMath(_Layout):  # `messages`, else `problem` + `solution` (the adapter decides)
    messages: list[_RoleContent] | None = None
    problem: StrictStr | None = None
    solution: StrictStr | None = None


class OpenThoughts(_Layout):
    system: StrictStr
    conversations: list[_FromValue]


class UltraInteract(_Layout):
    instruction: StrictStr
    response: StrictStr


class Alpaca(_Layout):
    instruction: StrictStr
    input: StrictStr | None = None
    output: StrictStr


class UltraFeedback(_Layout):
    instruction: StrictStr
    chosen_response: StrictStr
    rejected_response: StrictStr
    chosen_avg_rating: Number
    rejected_avg_rating: Number


class AlpacaFarm(_Layout):
    instruction: StrictStr
    input: StrictStr | None = None
    output_1: StrictStr
    output_2: StrictStr
    preference: StrictInt


class Pairs(_Layout):
    prompt: StrictStr
    chosen: StrictStr
    rejected: StrictStr
    score_chosen: Number | None = None
    score_rejected: Number | None = None


# By source layout; adapters of every kind (conversation, question, pair, real MCQ) that read
# one hub schema share its name.
LAYOUTS: dict[str, type[_Layout]] = {
    "arc": Arc,
    "openbookqa": OpenBookQA,
    "mmlu": Mmlu,
    "gsm8k": Gsm8k,
    "hellaswag": HellaSwag,
    "math": Math,
    "truthfulqa": TruthfulQA,
    "openhermes": OpenHermes,
    "ultrachat": UltraChat,
    "wildchat": WildChat,
    "numinamath": NuminaMath,
    "openthoughts": OpenThoughts,
    "ultrainteract": UltraInteract,
    "alpaca": Alpaca,
    "ultrafeedback": UltraFeedback,
    "alpaca_farm": AlpacaFarm,
    "pairs": Pairs,
}

_EXPECTED = {
    "string_type": "str",
    "int_type": "int",
    "float_type": "number",
    "bool_type": "bool",
    "list_type": "list",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
}


def unwrap(layout: str, row: dict) -> dict:
    """cais/mmlu's auxiliary_train config nests each row under `train`."""
    if layout == "mmlu" and isinstance(row.get("train"), dict):
        return row["train"]
    return row


def check(layout: str, row: Any, where: str = "") -> None:
    """Raise MalformedRow if `row` does not have the field types `layout` needs."""
    if not isinstance(row, dict):
        raise MalformedRow("(row)", f"should be object, got {_kind(row)}", where)
    try:
        LAYOUTS[layout].model_validate(unwrap(layout, row))
    except _ValidationError as e:
        raise _malformed(unwrap(layout, row), e.errors(), where) from None


def _malformed(row: dict, errors: list[dict], where: str) -> MalformedRow:
    path, value, missing = _locate(row, errors[0]["loc"])
    field = ".".join(map(str, path))
    if missing:
        return MalformedRow(field, "is missing", where)
    if value is None:
        return MalformedRow(field, "is null", where)
    # a union (int | str) reports one error per member at the same field
    expected = []
    for err in errors:
        if _locate(row, err["loc"])[0] == path:
            name = _EXPECTED.get(err["type"], err["type"])
            if name not in expected:
                expected.append(name)
    return MalformedRow(field, f"should be {'/'.join(expected)}, got {_kind(value)}", where)


def _locate(row: dict, loc: tuple) -> tuple[list, Any, bool]:
    """(path into the row, the value there, whether it is missing). Pydantic's loc can end in
    union-member tags ("int", "str") that are not keys of the row: they are left out."""
    path, node = [], row
    for part in loc:
        if isinstance(node, dict):
            path.append(part)
            if part not in node:
                return path, None, True
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        else:
            break
    return path, node, False


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
