"""MMLU through lm-eval: the local task folder, lm-eval's prompt and scoring, aggregation."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import GPT2Config, GPT2LMHeadModel

from ffdata.errors import FFDataError
from ffdata.evalsets import MMLU_DOMAINS, load_evalset
from ffdata.tokenizer import save_hf_tokenizer
from ffllm.eval.common import load_model
from ffllm.eval.mmlu import (
    DOMAINS,
    description,
    evaluate_mmlu,
    format_mmlu,
    lm_eval_version,
    task_name,
    write_task_dir,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

LETTERS = "ABCD"


@pytest.fixture(scope="module")
def task_dir():
    return write_task_dir("bundled")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "ckpt"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=64)).save_pretrained(
        path
    )
    save_hf_tokenizer(path)
    return path


def test_task_folder_holds_every_item(task_dir):
    counts = {"test": 0, "dev": 0}
    for split in counts:
        files = sorted((task_dir / "data" / split).glob("*.jsonl"))
        assert len(files) == 57
        counts[split] = sum(len(f.read_text().splitlines()) for f in files)
    assert counts == {"test": 14042, "dev": 285}
    first = json.loads(
        (task_dir / "data" / "test" / "abstract_algebra.jsonl").read_text().splitlines()[0]
    )
    item = next(
        it for it in load_evalset("mmlu", "bundled") if it.item_id == "mmlu/abstract_algebra/test/0"
    )
    assert first == {
        "question": item.question,
        "subject": "abstract_algebra",
        "choices": list(item.choices),
        "answer": item.answer_index,
    }
    # same content -> same folder (the hash names it), so nothing is rewritten between runs
    assert write_task_dir("bundled") == task_dir


def test_tasks_use_lm_eval_mmlu_prompt_and_descriptions(task_dir):
    import lm_eval

    theirs = Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default"
    template = yaml.safe_load((theirs / "_default_template_yaml").read_text())
    for subject in MMLU_DOMAINS:
        mine = yaml.safe_load((task_dir / f"{task_name(subject, 'full')}.yaml").read_text())
        ref = yaml.safe_load((theirs / f"mmlu_{subject}.yaml").read_text())
        assert mine["description"] == ref["description"] == description(subject)
        for key in ("doc_to_text", "doc_to_choice", "doc_to_target", "output_type", "metric_list"):
            assert mine[key] == template[key], key
        assert (mine["test_split"], mine["fewshot_split"]) == ("test", "dev")
        # lm-eval's group membership is our macro-domain
        assert ref["tag"] == f"mmlu_{MMLU_DOMAINS[subject]}_tasks"


def test_five_shot_context_is_the_first_five_dev_items(task_dir):
    from lm_eval.tasks import TaskManager, get_task_dict  # get_task_dict: 0.4.11 (the card's)

    tm = TaskManager(include_path=str(task_dir), include_defaults=False)
    task = get_task_dict(["ffmmlu_anatomy"], tm)["ffmmlu_anatomy"]
    doc = task.test_docs()[0]
    dev = [it for it in load_evalset("mmlu", "bundled", split="dev") if it.subject == "anatomy"]

    def block(q, choices):
        return (
            q.strip()
            + "".join(f"\n{L}. {c}" for L, c in zip(LETTERS, choices, strict=True))
            + "\nAnswer:"
        )

    shots = "".join(
        f"{block(d.question, d.choices)} {LETTERS[d.answer_index]}\n\n" for d in dev[:5]
    )
    expected = description("anatomy") + shots + block(doc["question"], doc["choices"])
    assert task.fewshot_context(doc, 5) == expected


def _manual_predictions(model, tok, items, max_len):
    """argmax over log p(" A".." D" | prompt), computed here without lm-eval."""
    preds = []
    for it in items:
        ctx = description(it.subject) + it.question.strip()
        ctx += (
            "".join(f"\n{L}. {c}" for L, c in zip(LETTERS, it.choices, strict=True)) + "\nAnswer:"
        )
        ctx_ids = tok(ctx)["input_ids"]
        conts = []
        for L in LETTERS:
            whole = tok(ctx + " " + L)["input_ids"]
            assert whole[: len(ctx_ids)] == ctx_ids and len(whole) == len(ctx_ids) + 1
            conts.append(whole[-1])
        inp = (ctx_ids + [conts[0]])[-(max_len + 1) :][:-1]  # lm-eval truncates from the left
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([inp])).logits[0, -1].double(), -1)
        preds.append(max(range(4), key=lambda i: logp[conts[i]].item()))
    return preds


def test_scores_match_an_independent_loglikelihood_and_are_saved(tiny):
    res = evaluate_mmlu(tiny, shots=0, limit=1, quick=True, batch_size=32)
    assert res["items"] == 57 and res["split"] == "dev" and res["shots"] == 0
    first = {}
    for it in load_evalset("mmlu", "bundled", split="dev"):
        first.setdefault(it.subject, it)
    items = [first[s] for s in sorted(first)]
    model, tok = load_model(tiny)
    preds = _manual_predictions(model, tok, items, model.config.n_positions)
    for it, p in zip(items, preds, strict=True):
        assert res["subjects"][it.subject]["acc"] == float(p == it.answer_index), it.subject
    # overall and macro-domains: item-weighted means, equal to lm-eval's own group numbers
    assert res["acc"] == pytest.approx(
        sum(p == it.answer_index for p, it in zip(preds, items, strict=True)) / 57
    )
    assert res["lm_eval_groups"]["ffmmlu_dev"] == pytest.approx(res["acc"], abs=1e-12)
    for d in DOMAINS:
        assert res["lm_eval_groups"][f"ffmmlu_dev_{d}"] == pytest.approx(
            res["domains"][d]["acc"], abs=1e-12
        )
    assert sum(v["items"] for v in res["domains"].values()) == 57
    assert res["domains"]["stem"]["items"] == 19  # lm-eval's mapping: 19 STEM subjects
    assert (
        res["label"] == f"MMLU 0-shot, lm-eval {lm_eval_version()} (57 dev items, limit 1/subject)"
    )
    assert res["data"]["source"] == "bundled"

    # saved next to the weights, keyed by their sha256, and reused
    saved = tiny / "eval" / "mmlu-dev-0shot-limit1.json"
    assert json.loads(saved.read_text()) == json.loads(json.dumps(res))
    assert evaluate_mmlu(tiny, shots=0, limit=1, quick=True) == json.loads(saved.read_text())
    text = format_mmlu(res)
    assert "**MMLU overall** | 57 |" in text and "| abstract_algebra | stem | 1 |" in text


def test_bad_arguments_are_one_line_errors(tiny, tmp_path):
    with pytest.raises(FFDataError, match="--shots must be 0 or 5"):
        evaluate_mmlu(tiny, shots=3)
    with pytest.raises(FFDataError, match="--limit must be a positive"):
        evaluate_mmlu(tiny, limit=0)
    with pytest.raises(FFDataError, match="not a checkpoint"):
        evaluate_mmlu(tmp_path)
