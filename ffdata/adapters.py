"""Source adapters: each hub schema -> one `Conversation` -> (instruction, response).

Conversation adapters (SFT) read the sources' real schemas:

| adapter        | hub dataset                        | fields read                                        |
|----------------|------------------------------------|----------------------------------------------------|
| `openhermes`   | teknium/OpenHermes-2.5             | `conversations`: [{from: system/human/gpt, value}] |
| `ultrachat`    | HuggingFaceH4/ultrachat_200k       | `messages`: [{role, content}]                      |
| `wildchat`     | allenai/WildChat-1M                | `conversation` [{role, content}], `language`, `toxic`, `redacted` |
| `numinamath`   | AI-MO/NuminaMath-CoT               | `messages` [{role, content}] (else `problem`, `solution`) |
| `openthoughts` | open-thoughts/OpenThoughts-114k    | `system`, `conversations`: [{from: user/assistant, value}] |
| `ultrainteract`| openbmb/UltraInteract_sft (Eurus)  | `instruction`, `response`                          |
| `alpaca`       | Alpaca layout                      | `instruction`, `input`, `output`                   |
| `gsm8k`        | openai/gsm8k                       | `question`, `answer` (calculator marks removed)    |

Each adapter first checks the row against its source layout (ffdata.layouts: strict field
types). A missing or mistyped field raises MalformedRow (an FFDataError naming source, row and
field); the adapters that builders get from `conversation_adapter` / `question_adapter` /
`pair_adapter` turn it into a row the builder drops with the reason `malformed:<field>`, so one
bad row of a million is quarantined, never turned into text ("None"). Content problems (an
empty turn, an unknown speaker, no answer) are not errors either: the builder drops the row with
a reason.

Multi-turn rule (the Alpaca template has one instruction and one response):
- system turns leave the turn list; the first one is kept in `meta.source_system` (the record's
  system line stays the FF-LLM one, so every SFT-like set renders the same template);
- turns after the last assistant turn have no answer and are cut;
- the response is the last assistant turn;
- the instruction is the last user turn when it is the only earlier turn; otherwise all earlier
  turns as a transcript, one block per turn, blank line between blocks:
  `User: …` / `Assistant: …`, ending with the last `User: …` block.
Consecutive turns of the same speaker are joined with a blank line first.

Question adapters (distillation) give a `Question`: the prompt text, the gold reference answer
and its format.
"""

import functools
import re
from dataclasses import dataclass, field

from ffdata import layouts
from ffdata.errors import FFDataError, MalformedRow
from ffdata.formats import LETTERS, render_mcq

ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
}


@dataclass
class Conversation:
    messages: list[dict]  # [{"role": system|user|assistant, "content": str}]
    language: str | None = None  # only where the source states it
    toxic: bool = False
    redacted: bool = False
    problem: str = ""  # why the row cannot be used ("" when it can): a drop reason
    meta: dict = field(default_factory=dict)


@dataclass
class Question:
    text: str
    gold: str  # reference answer from the source ("" when the source has none)
    format: str  # records.FORMATS value describing the gold answer
    category: str = ""
    meta: dict = field(default_factory=dict)


# ------------------------------------------------------------------------- field access


def _field(row: dict, name: str, kind: type | tuple, where: str):
    if name not in row:
        raise MalformedRow(name, "is missing", where)
    value = row[name]
    wrong_bool = isinstance(value, bool) and kind is not bool  # True is an int in Python
    if value is None or wrong_bool or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        got = "is null" if value is None else f"should be {names}, got {type(value).__name__}"
        raise MalformedRow(name, got, where)
    return value


def layout(name: str):
    """Check the row against layouts.LAYOUTS[name] before the adapter reads it."""

    def wrap(adapt):
        @functools.wraps(adapt)
        def checked(row: dict, where: str):
            layouts.check(name, row, where)
            return adapt(row, where)

        return checked

    return wrap


def _turns(items: list, where: str, fname: str, role_key: str, text_key: str) -> Conversation:
    messages, problem = [], ""
    for i, turn in enumerate(items):
        if not isinstance(turn, dict):
            raise MalformedRow(
                f"{fname}.{i}", f"should be object, got {type(turn).__name__}", where
            )
        role = _field(turn, role_key, str, where)
        text = turn.get(text_key)
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise MalformedRow(f"{fname}.{i}.{text_key}", "should be str", where)
        if role not in ROLES:
            problem = problem or f"unknown_role:{role}"
            continue
        messages.append({"role": ROLES[role], "content": text})
    return Conversation(messages, problem=problem)


# ------------------------------------------------------------------------- conversation adapters


@layout("openhermes")
def openhermes(row: dict, where: str) -> Conversation:
    conv = _turns(
        _field(row, "conversations", list, where), where, "conversations", "from", "value"
    )
    conv.meta = {
        k: row[k] for k in ("source", "category") if isinstance(row.get(k), str) and row[k]
    }
    return conv


@layout("ultrachat")
def ultrachat(row: dict, where: str) -> Conversation:
    return _turns(_field(row, "messages", list, where), where, "messages", "role", "content")


@layout("wildchat")
def wildchat(row: dict, where: str) -> Conversation:
    conv = _turns(
        _field(row, "conversation", list, where), where, "conversation", "role", "content"
    )
    conv.language = _field(row, "language", str, where)
    conv.toxic = bool(_field(row, "toxic", bool, where))
    conv.redacted = bool(_field(row, "redacted", bool, where))
    return conv


@layout("numinamath")
def numinamath(row: dict, where: str) -> Conversation:
    if isinstance(row.get("messages"), list) and row["messages"]:
        conv = _turns(row["messages"], where, "messages", "role", "content")
    else:
        problem = _field(row, "problem", str, where)
        solution = _field(row, "solution", str, where)
        conv = Conversation(
            [{"role": "user", "content": problem}, {"role": "assistant", "content": solution}]
        )
    if isinstance(row.get("source"), str):
        conv.meta = {"source": row["source"]}
    return conv


@layout("openthoughts")
def openthoughts(row: dict, where: str) -> Conversation:
    system = _field(row, "system", str, where)
    conv = _turns(
        _field(row, "conversations", list, where), where, "conversations", "from", "value"
    )
    if system.strip():
        conv.messages.insert(0, {"role": "system", "content": system})
    return conv


@layout("ultrainteract")
def ultrainteract(row: dict, where: str) -> Conversation:
    instruction = _field(row, "instruction", str, where)
    response = _field(row, "response", str, where)
    conv = Conversation(
        [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
    )
    conv.meta = {k: row[k] for k in ("task", "dataset") if isinstance(row.get(k), str) and row[k]}
    return conv


def alpaca_instruction(row: dict, where: str) -> str:
    instruction = _field(row, "instruction", str, where)
    extra = row.get("input") or ""
    if not isinstance(extra, str):
        raise MalformedRow("input", "should be str", where)
    return f"{instruction.strip()}\n\n{extra.strip()}" if extra.strip() else instruction


@layout("alpaca")
def alpaca(row: dict, where: str) -> Conversation:
    output = _field(row, "output", str, where)
    return Conversation(
        [
            {"role": "user", "content": alpaca_instruction(row, where)},
            {"role": "assistant", "content": output},
        ]
    )


_CALC = re.compile(r"<<[^>]*>>")
_GSM_FINAL = re.compile(r"\n#### (.+)$")


def gsm8k_solution(answer: str) -> tuple[str, str] | None:
    """(worked solution ending "The answer is N.", N) or None without a '#### N' line."""
    match = _GSM_FINAL.search(answer)
    if not match:
        return None
    steps = _CALC.sub("", answer[: match.start()]).strip()
    final = match.group(1).strip().replace(",", "")
    return f"{steps}\nThe answer is {final}.", final


@layout("gsm8k")
def gsm8k(row: dict, where: str) -> Conversation:
    question = _field(row, "question", str, where)
    solved = gsm8k_solution(_field(row, "answer", str, where))
    if solved is None:
        return Conversation([], problem="malformed:no_final_answer")
    return Conversation(
        [{"role": "user", "content": question}, {"role": "assistant", "content": solved[0]}]
    )


CONVERSATION_ADAPTERS = {
    "openhermes": openhermes,
    "ultrachat": ultrachat,
    "wildchat": wildchat,
    "numinamath": numinamath,
    "openthoughts": openthoughts,
    "ultrainteract": ultrainteract,
    "alpaca": alpaca,
    "gsm8k": gsm8k,
}


def _quarantining(adapt, unusable):
    """`adapt` for a builder: a malformed row becomes `unusable(reason)`, an object the builder
    drops with that reason (Conversation.problem, Question/Pair meta 'problem')."""

    @functools.wraps(adapt)
    def safe(row: dict, where: str):
        try:
            return adapt(row, where)
        except MalformedRow as e:
            return unusable(e.reason)

    return safe


def conversation_adapter(name: str):
    try:
        return _quarantining(
            CONVERSATION_ADAPTERS[name], lambda reason: Conversation([], problem=reason)
        )
    except KeyError:
        raise FFDataError(
            f"unknown adapter {name!r} (known: {sorted(CONVERSATION_ADAPTERS)})"
        ) from None


# ------------------------------------------------------------------------- multi-turn rule


def _merge_same_speaker(turns: list[dict]) -> list[dict]:
    merged: list[dict] = []
    for t in turns:
        if merged and merged[-1]["role"] == t["role"]:
            merged[-1] = {
                "role": t["role"],
                "content": f"{merged[-1]['content']}\n\n{t['content']}",
            }
        else:
            merged.append(dict(t))
    return merged


def to_instruction_response(conv: Conversation) -> tuple[str, str, dict] | str:
    """(instruction, response, meta) by the multi-turn rule, or a drop reason."""
    system = next((m["content"] for m in conv.messages if m["role"] == "system"), None)
    turns = [m for m in conv.messages if m["role"] != "system"]
    last = max((i for i, m in enumerate(turns) if m["role"] == "assistant"), default=-1)
    if last < 0:
        return "no_response"
    before = _merge_same_speaker(turns[:last])
    response = turns[last]["content"].strip()
    if not before or before[-1]["role"] != "user":
        return "no_user_turn"
    meta: dict = {"turns": len(before) + 1}
    if system is not None:
        meta["source_system"] = system
    if len(before) == 1:
        return before[0]["content"].strip(), response, meta
    blocks = [
        f"{'User' if t['role'] == 'user' else 'Assistant'}: {t['content'].strip()}" for t in before
    ]
    return "\n\n".join(blocks), response, meta


# ------------------------------------------------------------------------- question adapters


def _index(value: int | str, name: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise MalformedRow(name, f"should be an option number, got {value!r}", where) from None


def _letter_mcq(question: str, options: list[str], answer_idx: int, where: str, **meta) -> Question:
    if not 0 <= answer_idx < len(options):
        raise MalformedRow("answer", f"index {answer_idx} outside {len(options)} options", where)
    return Question(
        render_mcq(question, options), LETTERS[answer_idx], "mcq_letter", meta=dict(meta)
    )


@layout("hellaswag")
def q_hellaswag(row: dict, where: str) -> Question:
    ctx = _field(row, "ctx", str, where)
    endings = _field(row, "endings", list, where)
    label = row.get("label")
    if label in (None, ""):
        raise MalformedRow("label", "is empty (an unlabelled test row?)", where)
    stem = f"Which ending completes the description best?\n{ctx.strip()}"
    q = _letter_mcq(stem, [str(e) for e in endings], _index(label, "label", where), where)
    q.category = str(row.get("activity_label") or "")
    return q


@layout("mmlu")
def q_mmlu(row: dict, where: str) -> Question:
    if isinstance(row.get("train"), dict):  # cais/mmlu auxiliary_train nests each row
        row = row["train"]
    question = _field(row, "question", str, where)
    choices = _field(row, "choices", list, where)
    answer = _field(row, "answer", (int, str), where)
    if isinstance(answer, str):
        answer = LETTERS.index(answer) if answer in LETTERS else _index(answer, "answer", where)
    q = _letter_mcq(question, [str(c) for c in choices], answer, where)
    q.category = str(row.get("subject") or "")
    return q


@layout("arc")
def q_arc(row: dict, where: str) -> Question:
    question = _field(row, "question", str, where)
    choices = _field(row, "choices", dict, where)
    labels = _field(choices, "label", list, f"{where}: choices")
    texts = _field(choices, "text", list, f"{where}: choices")
    key = _field(row, "answerKey", str, where)
    if key not in labels:
        raise MalformedRow("answerKey", f"{key!r} is not one of {labels}", where)
    return _letter_mcq(
        question, [str(t) for t in texts], labels.index(key), where, id=row.get("id")
    )


@layout("gsm8k")
def q_gsm8k(row: dict, where: str) -> Question:
    question = _field(row, "question", str, where)
    solved = gsm8k_solution(_field(row, "answer", str, where))
    if solved is None:
        raise MalformedRow("answer", "has no '#### <answer>' line", where)
    return Question(question, solved[1], "numeric", meta={"solution": solved[0]})


def boxed(solution: str) -> str:
    """The content of the last \\boxed{…} (balanced braces), or ""."""
    start = solution.rfind("\\boxed{")
    if start < 0:
        return ""
    i, depth = start + len("\\boxed{"), 1
    for j in range(i, len(solution)):
        depth += {"{": 1, "}": -1}.get(solution[j], 0)
        if depth == 0:
            return solution[i:j].strip()
    return ""


@layout("math")
def q_math(row: dict, where: str) -> Question:
    problem = _field(row, "problem", str, where)
    solution = _field(row, "solution", str, where)
    q = Question(problem, boxed(solution), "free", category=str(row.get("type") or ""))
    q.meta = {"level": row.get("level"), "solution": solution}
    return q


def q_openhermes(row: dict, where: str) -> Question:
    conv = openhermes(row, where)
    turns = [m for m in conv.messages if m["role"] != "system"]
    # Only single-turn conversations make self-contained questions.
    if conv.problem or [m["role"] for m in turns] != ["user", "assistant"]:
        return Question("", "", "free", meta={"problem": conv.problem or "multi_turn"})
    return Question(turns[0]["content"].strip(), turns[1]["content"].strip(), "free")


@layout("truthfulqa")
def q_truthfulqa(row: dict, where: str) -> Question:
    question = row.get("question", row.get("Question"))
    if not isinstance(question, str):
        raise MalformedRow("question", "is missing", where)
    return Question(question, str(row.get("best_answer", row.get("Best Answer", ""))), "short_fact")


QUESTION_ADAPTERS = {
    "hellaswag": q_hellaswag,
    "mmlu": q_mmlu,
    "arc": q_arc,
    "gsm8k": q_gsm8k,
    "math": q_math,
    "openhermes": q_openhermes,
    "truthfulqa": q_truthfulqa,
}


def question_adapter(name: str):
    try:
        return _quarantining(
            QUESTION_ADAPTERS[name],
            lambda reason: Question("", "", "free", meta={"problem": reason}),
        )
    except KeyError:
        raise FFDataError(
            f"unknown question adapter {name!r} (known: {sorted(QUESTION_ADAPTERS)})"
        ) from None


# ------------------------------------------------------------------------- preference adapters


@dataclass
class Pair:
    instruction: str
    chosen: str
    rejected: str
    score_chosen: float | None = None
    score_rejected: float | None = None
    meta: dict = field(default_factory=dict)


@layout("ultrafeedback")
def p_ultrafeedback(row: dict, where: str) -> Pair:
    """argilla/ultrafeedback-binarized-preferences: mean preference ratings as scores."""
    return Pair(
        _field(row, "instruction", str, where),
        _field(row, "chosen_response", str, where),
        _field(row, "rejected_response", str, where),
        float(_field(row, "chosen_avg_rating", (int, float), where)),
        float(_field(row, "rejected_avg_rating", (int, float), where)),
        {k: row[k] for k in ("source", "chosen_model") if isinstance(row.get(k), str)},
    )


@layout("alpaca_farm")
def p_alpaca_farm(row: dict, where: str) -> Pair:
    """tatsu-lab/alpaca_farm preference splits: `preference` names the better output (1 or 2)."""
    out1 = _field(row, "output_1", str, where)
    out2 = _field(row, "output_2", str, where)
    pref = _field(row, "preference", int, where)
    if pref not in (1, 2):
        raise MalformedRow("preference", f"should be 1 or 2, got {pref}", where)
    chosen, rejected = (out1, out2) if pref == 1 else (out2, out1)
    return Pair(alpaca_instruction(row, where), chosen, rejected)


@layout("pairs")
def p_pairs(row: dict, where: str) -> Pair:
    """The plain `prompt, chosen, rejected` layout (optional `score_chosen`/`score_rejected`)."""
    scores = [row.get("score_chosen"), row.get("score_rejected")]
    for name, s in zip(("score_chosen", "score_rejected"), scores, strict=True):
        if s is not None and not isinstance(s, int | float):
            raise MalformedRow(name, "should be a number", where)
    return Pair(
        _field(row, "prompt", str, where),
        _field(row, "chosen", str, where),
        _field(row, "rejected", str, where),
        *[None if s is None else float(s) for s in scores],
    )


PAIR_ADAPTERS = {"ultrafeedback": p_ultrafeedback, "alpaca_farm": p_alpaca_farm, "pairs": p_pairs}


def pair_adapter(name: str):
    try:
        return _quarantining(
            PAIR_ADAPTERS[name], lambda reason: Pair("", "", "", meta={"problem": reason})
        )
    except KeyError:
        raise FFDataError(
            f"unknown pair adapter {name!r} (known: {sorted(PAIR_ADAPTERS)})"
        ) from None


def require_pinned(manifest) -> None:
    """Hub sources must name a commit: a branch or a placeholder would make builds drift."""
    for s in manifest.sources:
        if s.loader == "hf" and not re.fullmatch(r"[0-9a-f]{40}", s.revision or ""):
            raise FFDataError(
                f"{manifest.name}: source {s.name!r} ({s.uri}) has revision {s.revision!r}, "
                "not a 40-hex hub commit: pin it before building"
            )
