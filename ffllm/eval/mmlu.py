"""MMLU through lm-eval-harness, scored exactly like lm-eval's own `mmlu` task.

lm-eval's `mmlu` task reads `cais/mmlu` from the hub. To run offline we write a local task
folder: one task per subject whose prompt, choices, target, metric, few-shot split and sampler
are copied from lm-eval's installed `mmlu/default/_default_template_yaml` (so the scoring is
theirs: log-likelihood of " A".." D" after "...Answer:", metric acc), and whose data are JSON
Lines files written from `ffdata.evalsets` (the bundled Parquet offline, the pinned hub revision
online). Groups per macro-domain and overall use lm-eval's `weight_by_size`, i.e. weighted by
items, the way lm-eval reports `mmlu`.

Two item sets: the full test split (14,042 items, few-shot examples from dev as lm-eval does)
and a quick mode on the dev split (285 items; 5-shot there draws the other dev items of the
subject, lm-eval removing the scored item itself). `limit` is lm-eval's: N items per subject.
"""

import json
import logging
import os
import shutil
from collections import defaultdict
from pathlib import Path

import yaml

from ffdata.errors import FFDataError
from ffdata.evalsets import MMLU_DOMAINS, describe_source, load_evalset
from ffdata.hashing import sha256_json
from ffllm.eval.common import (
    check_checkpoint,
    load_model,
    load_result,
    pct,
    save_result,
    set_offline_env,
    weights_sha256,
)

log = logging.getLogger(__name__)

# Bump when the task folder we generate changes in a way that could move a score.
TASK_VERSION = "1"
PREFIX = "ffmmlu"
DOMAINS = ("stem", "humanities", "social_sciences", "other")
DOMAIN_TITLES = {
    "stem": "STEM",
    "humanities": "Humanities",
    "social_sciences": "Social sciences",
    "other": "Other",
}
SPLITS = {"full": "test", "quick": "dev"}
SHOTS = (0, 5)


def lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def lm_eval_template() -> dict:
    """lm-eval's own MMLU task template (prompt, choices, target, metric, few-shot)."""
    import lm_eval

    path = Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default" / "_default_template_yaml"
    if not path.exists():
        raise FFDataError(f"{path}: lm-eval's MMLU template is missing (lm-eval too old/new?)")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def description(subject: str) -> str:
    # Same wording as lm-eval's mmlu/_generate_configs.py.
    return (
        "The following are multiple choice questions (with answers) about "
        f"{' '.join(subject.split('_'))}.\n\n"
    )


def task_name(subject: str, mode: str) -> str:
    return f"{PREFIX}_{subject}" if mode == "full" else f"{PREFIX}_dev_{subject}"


def group_name(mode: str, domain: str | None = None) -> str:
    base = PREFIX if mode == "full" else f"{PREFIX}_dev"
    return base if domain is None else f"{base}_{domain}"


def _mmlu_rows(source: str) -> dict[str, dict[str, list[dict]]]:
    """split -> subject -> rows in lm-eval's cais/mmlu layout (question, subject, choices, answer)."""
    out: dict[str, dict[str, list[dict]]] = {"test": defaultdict(list), "dev": defaultdict(list)}
    for it in load_evalset("mmlu", source, split=None):
        if it.split in out:
            out[it.split][it.subject].append(
                {
                    "question": it.question,
                    "subject": it.subject,
                    "choices": list(it.choices),
                    "answer": it.answer_index,
                }
            )
    for split in out:
        missing = sorted(set(MMLU_DOMAINS) - set(out[split]))
        if missing:
            raise FFDataError(f"MMLU {split} split has no items for subjects {missing}")
    return out


def _cache_root() -> Path:
    base = os.environ.get("FFLLM_CACHE") or Path.home() / ".cache" / "ffllm"
    return Path(base) / "lm_eval_tasks"


def write_task_dir(source: str = "auto", cache_root: Path | None = None) -> Path:
    """The local task folder (data + YAML), written once per content hash and reused."""
    rows = _mmlu_rows(source)
    template = lm_eval_template()
    key = sha256_json(
        {"rows": rows, "template": template, "version": TASK_VERSION, "files": "jsonl-ascii"}
    )[:16]
    final = (cache_root or _cache_root()) / f"mmlu-{key}"
    if (final / "DONE").exists():
        return final
    tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    for split, by_subject in rows.items():
        (tmp / "data" / split).mkdir()
        for subject, items in by_subject.items():
            with open(tmp / "data" / split / f"{subject}.jsonl", "w", encoding="utf-8") as f:
                for r in items:
                    f.write(json.dumps(r, sort_keys=True) + "\n")  # ASCII: one item per line
    for mode, split in SPLITS.items():
        by_domain: dict[str, list[str]] = defaultdict(list)
        for subject in sorted(MMLU_DOMAINS):
            name = task_name(subject, mode)
            by_domain[MMLU_DOMAINS[subject]].append(name)
            data = final / "data"  # absolute paths of the final location
            cfg = {
                "task": name,
                "task_alias": subject,
                "dataset_path": "json",
                "dataset_kwargs": {
                    "data_files": {
                        "test": str(data / "test" / f"{subject}.jsonl"),
                        "dev": str(data / "dev" / f"{subject}.jsonl"),
                    }
                },
                "test_split": split,
                "fewshot_split": template["fewshot_split"],
                "fewshot_config": template["fewshot_config"],
                "output_type": template["output_type"],
                "doc_to_text": template["doc_to_text"],
                "doc_to_choice": template["doc_to_choice"],
                "doc_to_target": template["doc_to_target"],
                "description": description(subject),
                "metric_list": template["metric_list"],
                "metadata": {"version": float(TASK_VERSION)},
            }
            (tmp / f"{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=True))
        for domain in DOMAINS:
            group = {
                "group": group_name(mode, domain),
                "group_alias": domain,
                "task": by_domain[domain],
                "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}],
                "metadata": {"version": float(TASK_VERSION)},
            }
            (tmp / f"_{group_name(mode, domain)}.yaml").write_text(yaml.safe_dump(group))
        top = {
            "group": group_name(mode),
            "task": [group_name(mode, d) for d in DOMAINS],
            "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}],
            "metadata": {"version": float(TASK_VERSION)},
        }
        (tmp / f"_{group_name(mode)}.yaml").write_text(yaml.safe_dump(top))
    (tmp / "DONE").write_text(key + "\n")
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, final)
    except OSError:  # another process wrote the same content first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def result_name(quick: bool, shots: int, limit: int | None) -> str:
    name = f"mmlu-{'dev' if quick else 'test'}-{shots}shot"
    return name + (f"-limit{limit}" if limit else "")


def _check_args(shots: int, limit: int | None) -> None:
    if shots not in SHOTS:
        raise FFDataError(f"--shots must be 0 or 5, got {shots}")
    if limit is not None and limit < 1:
        raise FFDataError(f"--limit must be a positive number of items per subject, got {limit}")


def run_mmlu(
    model,
    tokenizer,
    *,
    shots: int = 5,
    limit: int | None = None,
    quick: bool = False,
    batch_size: int = 16,
    source: str = "auto",
) -> dict:
    """Score an in-memory model; returns the result dict (no model identity in it)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    _check_args(shots, limit)
    set_offline_env()
    mode = "quick" if quick else "full"
    task_dir = write_task_dir(source)
    tm = TaskManager(include_path=str(task_dir), include_defaults=False)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    out = lm_eval.simple_evaluate(
        model=lm,
        tasks=[group_name(mode)],
        num_fewshot=shots,
        limit=limit,
        task_manager=tm,
        log_samples=False,
        bootstrap_iters=0,
        verbosity="WARNING",
    )
    return summarize(out, mode=mode, shots=shots, limit=limit, source=source)


def summarize(out: dict, *, mode: str, shots: int, limit: int | None, source: str) -> dict:
    """lm-eval's output -> per subject, per macro-domain and overall (weighted by items)."""
    res, n_samples = out["results"], out["n-samples"]
    subjects = {}
    for subject in sorted(MMLU_DOMAINS):
        name = task_name(subject, mode)
        n = int(n_samples[name]["effective"])
        subjects[subject] = {
            "acc": float(res[name]["acc,none"]),
            "items": n,
            "domain": MMLU_DOMAINS[subject],
        }
    domains = {}
    for d in DOMAINS:
        members = [s for s in subjects.values() if s["domain"] == d]
        n = sum(s["items"] for s in members)
        domains[d] = {"acc": sum(s["acc"] * s["items"] for s in members) / n, "items": n}
    items = sum(s["items"] for s in subjects.values())
    acc = sum(s["acc"] * s["items"] for s in subjects.values()) / items
    split = SPLITS[mode]
    version = lm_eval_version()
    return {
        "benchmark": "mmlu",
        "split": split,
        "shots": shots,
        "limit": limit,
        "items": items,
        "acc": acc,
        "domains": domains,
        "subjects": subjects,
        # lm-eval's own group aggregates, kept to show they agree with ours
        "lm_eval_groups": {
            g: float(res[g]["acc,none"])
            for g in [group_name(mode)] + [group_name(mode, d) for d in DOMAINS]
        },
        "lm_eval_version": version,
        "task_version": TASK_VERSION,
        "data": describe_source("mmlu", source),
        "label": label(split, shots, items, limit, version),
    }


def label(split: str, shots: int, items: int, limit: int | None, version: str) -> str:
    scope = f"{items:,} {split} items" + (f", limit {limit}/subject" if limit else "")
    return f"MMLU {shots}-shot, lm-eval {version} ({scope})"


def evaluate_mmlu(
    ckpt: str | Path,
    *,
    shots: int = 5,
    limit: int | None = None,
    quick: bool = False,
    batch_size: int = 16,
    device: str = "cpu",
    source: str = "auto",
    reuse: bool = True,
) -> dict:
    """Score a checkpoint folder and save the result in `<ckpt>/eval/`."""
    _check_args(shots, limit)
    ckpt = check_checkpoint(ckpt)
    name = result_name(quick, shots, limit)
    expect = {
        "weights_sha256": weights_sha256(ckpt),
        "task_version": TASK_VERSION,
        "lm_eval_version": lm_eval_version(),
    }
    if reuse and (saved := load_result(ckpt, name, expect)):
        return saved
    model, tok = load_model(ckpt, device=device)
    result = run_mmlu(
        model, tok, shots=shots, limit=limit, quick=quick, batch_size=batch_size, source=source
    )
    result["weights_sha256"] = expect["weights_sha256"]
    save_result(ckpt, name, result)
    return result


def format_mmlu(result: dict, subjects: bool = True) -> str:
    """Markdown tables: overall + macro-domains, then per subject."""
    lines = [
        f"**{result['label']}**",
        "",
        "| scope | items | acc |",
        "|---|---:|---:|",
        f"| **MMLU overall** | {result['items']:,} | **{pct(result['acc'])}** |",
    ]
    for d in DOMAINS:
        v = result["domains"][d]
        lines.append(f"| {DOMAIN_TITLES[d]} | {v['items']:,} | {pct(v['acc'])} |")
    if subjects:
        lines += ["", "| subject | domain | items | acc |", "|---|---|---:|---:|"]
        for s, v in result["subjects"].items():
            lines.append(f"| {s} | {v['domain']} | {v['items']:,} | {pct(v['acc'])} |")
    return "\n".join(lines) + "\n"
