"""Checkpoint sweep and champion selection.

`sweep_run(RUN_DIR, rule)` scores every checkpoint of a run (MMLU through lm-eval, the factual
bench) and applies the champion rule from a selection manifest (manifests/selection/*.yaml):

    maximize MMLU full, but veto a checkpoint that regresses, against the baseline, in at least
    `veto_min_regressions` of the named weak domains.

The card describes its stage-7 decision by this rule: ckpt-200 scored +0.12pp over ckpt-150 but
regressed 5 of 6 weak domains, so ckpt-150 became the champion. Selection works on plain
numbers (`select`), so the rule is unit-tested without a model.
"""

import json
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ffdata.errors import FFDataError
from ffdata.evalsets import MMLU_DOMAINS
from ffllm.eval.common import check_checkpoint, pct
from ffllm.eval.mmlu import DOMAIN_TITLES, DOMAINS

SWEEP_JSON = "sweep.json"
SWEEP_MD = "sweep.md"
_CKPT = re.compile(r"^ckpt-(\d+)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MMLUSpec(_Strict):
    shots: Literal[0, 5] = 5
    limit: int | None = Field(default=None, gt=0)
    quick: bool = False


class SelectionRule(_Strict):
    name: str
    metric: str = "mmlu"  # the score to maximize: mmlu, a macro-domain, a subject or factbench
    # A checkpoint name in the sweep (e.g. ckpt-0), a checkpoint folder, or None (no veto).
    baseline: str | None = None
    weak_domains: list[str] = Field(default_factory=list)  # macro-domains or MMLU subjects
    veto_min_regressions: int = Field(default=1, ge=1)
    tolerance_pp: float = Field(default=0.0, ge=0)  # a drop must exceed this to count
    mmlu: MMLUSpec = Field(default_factory=MMLUSpec)
    factbench: bool = True


def load_rule(path: str | Path) -> SelectionRule:
    path = Path(path)
    if not path.exists():
        raise FFDataError(f"{path}: selection manifest not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rule = SelectionRule.model_validate(data)
    except yaml.YAMLError as e:
        raise FFDataError(f"{path}: malformed YAML: {e}") from None
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise FFDataError(f"{path}: field {field!r}: {err['msg']}") from None
    known = set(DOMAINS) | set(MMLU_DOMAINS) | {"mmlu", "factbench"}
    for i, d in enumerate(rule.weak_domains):
        if d not in known:
            raise FFDataError(f"{path}: field 'weak_domains.{i}': unknown domain {d!r}")
    if rule.metric not in known:
        raise FFDataError(f"{path}: field 'metric': unknown score {rule.metric!r}")
    if rule.veto_min_regressions > max(len(rule.weak_domains), 1):
        raise FFDataError(
            f"{path}: field 'veto_min_regressions': {rule.veto_min_regressions} is more than "
            f"the {len(rule.weak_domains)} weak domains"
        )
    return rule


def flat_scores(mmlu: dict, factbench: dict | None = None) -> dict[str, float]:
    """One flat mapping the rule reads: mmlu, each macro-domain, each subject, factbench."""
    scores = {"mmlu": mmlu["acc"]}
    scores.update({d: v["acc"] for d, v in mmlu["domains"].items()})
    scores.update({s: v["acc"] for s, v in mmlu["subjects"].items()})
    if factbench is not None:
        scores["factbench"] = factbench["acc"]
    return scores


def select(
    candidates: dict[str, dict[str, float]],
    rule: SelectionRule,
    baseline: dict[str, float] | None = None,
) -> dict:
    """Apply the champion rule to scores; returns per-checkpoint verdicts and the champion.

    Ties on the metric go to the earlier checkpoint (candidates keep their order).
    """
    verdicts = {}
    for name, s in candidates.items():
        regressed = []
        if baseline is not None:
            for d in rule.weak_domains:
                if d not in s or d not in baseline:
                    raise FFDataError(f"{name}: no score for weak domain {d!r}")
                if (s[d] - baseline[d]) * 100 < -rule.tolerance_pp:
                    regressed.append(d)
        vetoed = baseline is not None and len(regressed) >= rule.veto_min_regressions
        verdicts[name] = {"metric": s[rule.metric], "regressed": regressed, "vetoed": vetoed}
    eligible = [n for n, v in verdicts.items() if not v["vetoed"]]
    champion = max(eligible, key=lambda n: verdicts[n]["metric"], default=None)
    best = verdicts[champion]["metric"] if champion else None
    k = len(rule.weak_domains)
    for name, v in verdicts.items():
        delta = None if best is None else (v["metric"] - best) * 100
        v["delta_pp"] = delta
        if name == champion:
            v["status"] = "champion"
        elif v["vetoed"]:
            v["status"] = (
                f"rejected: {delta:+.2f}pp, regressed {len(v['regressed'])} of {k} weak domains"
                if delta is not None
                else f"rejected: regressed {len(v['regressed'])} of {k} weak domains"
            )
        else:
            v["status"] = f"{delta:+.2f}pp vs champion"
    return {"champion": champion, "verdicts": verdicts}


def find_checkpoints(run_dir: str | Path) -> list[Path]:
    """`<run>/hf/ckpt-<step>/` (the trainer's HF exports), or ckpt-* directly under RUN_DIR."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FFDataError(f"{run_dir}: run folder not found")
    base = run_dir / "hf" if (run_dir / "hf").is_dir() else run_dir
    found = [p for p in base.iterdir() if p.is_dir() and _CKPT.match(p.name)]
    if not found:
        raise FFDataError(f"{base}: no ckpt-<step> checkpoint folders")
    return [check_checkpoint(p) for p in sorted(found, key=lambda p: int(_CKPT.match(p.name)[1]))]


def _evaluate(ckpt: Path, rule: SelectionRule, batch_size: int, device: str, log) -> dict:
    from ffllm.eval.factbench import evaluate_factbench
    from ffllm.eval.mmlu import evaluate_mmlu

    log(f"evaluating {ckpt}")
    m = evaluate_mmlu(
        ckpt,
        shots=rule.mmlu.shots,
        limit=rule.mmlu.limit,
        quick=rule.mmlu.quick,
        batch_size=batch_size,
        device=device,
    )
    f = evaluate_factbench(ckpt, batch_size=batch_size, device=device) if rule.factbench else None
    return {"path": str(ckpt), "mmlu": m, "factbench": f}


def sweep_run(
    run_dir: str | Path,
    rule: SelectionRule,
    *,
    batch_size: int = 16,
    device: str = "cpu",
    log=print,
) -> dict:
    """Evaluate every checkpoint, choose the champion, write sweep.json and sweep.md."""
    run_dir = Path(run_dir)
    ckpts = find_checkpoints(run_dir)
    evals = {p.name: _evaluate(p, rule, batch_size, device, log) for p in ckpts}
    baseline_name, baseline = None, None
    if rule.baseline:
        if rule.baseline in evals:
            baseline_name = rule.baseline
            b = evals[rule.baseline]
        else:
            b = _evaluate(check_checkpoint(rule.baseline), rule, batch_size, device, log)
            baseline_name = rule.baseline
        baseline = flat_scores(b["mmlu"], b["factbench"])
    candidates = {
        n: flat_scores(e["mmlu"], e["factbench"]) for n, e in evals.items() if n != baseline_name
    }
    decision = select(candidates, rule, baseline)
    champion = decision["champion"]
    first = next(iter(evals.values()))
    result = {
        "run": str(run_dir),
        "rule": rule.model_dump(mode="json"),
        "mmlu_label": first["mmlu"]["label"],
        "factbench_label": first["factbench"]["label"] if first["factbench"] else None,
        "baseline": baseline_name,
        "baseline_scores": {k: baseline[k] for k in _table_keys(rule)} if baseline else None,
        "champion": champion,
        "champion_path": evals[champion]["path"] if champion else None,
        "checkpoints": [
            {
                "name": n,
                "path": e["path"],
                "weights_sha256": e["mmlu"]["weights_sha256"],
                "mmlu": e["mmlu"]["acc"],
                "domains": {d: e["mmlu"]["domains"][d]["acc"] for d in DOMAINS},
                "weak_domains": {d: flat_scores(e["mmlu"])[d] for d in rule.weak_domains},
                "factbench": e["factbench"]["acc"] if e["factbench"] else None,
                "status": "baseline" if n == baseline_name else decision["verdicts"][n]["status"],
                "regressed": [] if n == baseline_name else decision["verdicts"][n]["regressed"],
            }
            for n, e in evals.items()
        ],
    }
    (run_dir / SWEEP_JSON).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    (run_dir / SWEEP_MD).write_text(format_sweep(result))
    return result


def _table_keys(rule: SelectionRule) -> list[str]:
    keys = ["mmlu", *DOMAINS, *rule.weak_domains]
    return list(dict.fromkeys(keys + (["factbench"] if rule.factbench else [])))


def format_sweep(result: dict) -> str:
    """The card's "Checkpoint sweep & selection" table."""
    rule = result["rule"]
    spec = rule["mmlu"]
    # "MMLU full" only when it is: all 14,042 test items
    mmlu_col = "MMLU dev" if spec["quick"] else "MMLU (limited)" if spec["limit"] else "MMLU full"
    head = ["checkpoint", mmlu_col, *(DOMAIN_TITLES[d] for d in DOMAINS)]
    head += ["weak regressed", "factbench", "status"]
    lines = [
        "### Checkpoint sweep & selection",
        "",
        f"Scores: {result['mmlu_label']}"
        + (f"; {result['factbench_label']}" if result["factbench_label"] else "")
        + ".",
        f"Rule `{rule['name']}`: maximize {rule['metric']}; veto a checkpoint that regresses in "
        f"≥ {rule['veto_min_regressions']} of {len(rule['weak_domains'])} weak domains "
        f"({', '.join(rule['weak_domains']) or 'none'}) vs baseline "
        f"{result['baseline'] or '(none)'} (tolerance {rule['tolerance_pp']}pp).",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 2) + "---|",
    ]
    k = len(rule["weak_domains"])
    for c in result["checkpoints"]:
        name = f"**{c['name']}**" if c["status"] == "champion" else c["name"]
        fb = pct(c["factbench"], 1) if c["factbench"] is not None else "—"
        weak = "—" if c["status"] == "baseline" else f"{len(c['regressed'])}/{k}"
        row = [name, pct(c["mmlu"]), *(pct(c["domains"][d]) for d in DOMAINS), weak, fb]
        lines.append("| " + " | ".join(row + [c["status"]]) + " |")
    lines += ["", f"Champion: **{result['champion'] or 'none (every checkpoint vetoed)'}**"]
    return "\n".join(lines) + "\n"
