"""Checkpoint sweep and champion selection.

`sweep_run(RUN_DIR, rule)` scores every checkpoint of a run (MMLU through lm-eval, the factual
bench, and the held-out MCQ of a built set when the rule names `heldout:` domains) and applies the
champion rule from a selection manifest (manifests/selection/*.yaml):

    maximize MMLU full, but veto a checkpoint that regresses, against the baseline, in at least
    `veto_min_regressions` of the named weak domains; with `min_gain_pp`, reject the whole run
    when its best checkpoint does not beat the baseline by more than that ("MMLU flat").

The card describes its stage-7 decision by this rule: ckpt-200 scored +0.12pp over ckpt-150 but
regressed 5 of 6 weak domains, so ckpt-150 became the champion; FF_3.14 was rejected, MMLU flat.
A weak domain is an MMLU subject or macro-domain, or `heldout:<subject>`: that subject's items in
the rule's held-out part (ffllm/eval/heldout.py; MMLU has no literature, music or art subject).
Selection works on plain numbers (`select`, `select_recorded` for figures written in a file), so
the rule is unit-tested without a model.
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


class HeldoutSpec(_Strict):
    set: str = "repair_blocks"  # a built set: `name` or `name@<fingerprint>`
    part: str = "validation_e"


HELDOUT = "heldout:"  # weak-domain prefix: a subject of the held-out part


class SelectionRule(_Strict):
    name: str
    metric: str = "mmlu"  # the score to maximize: mmlu, a macro-domain, a subject or factbench
    # A checkpoint name in the sweep (e.g. ckpt-0), `init` (the checkpoint the run started
    # from: model.init in its run.json), a checkpoint folder, or None (no veto).
    baseline: str | None = None
    # macro-domains, MMLU subjects, or heldout:<subject> (scored on `heldout`)
    weak_domains: list[str] = Field(default_factory=list)
    veto_min_regressions: int = Field(default=1, ge=1)
    tolerance_pp: float = Field(default=0.0, ge=0)  # a drop must exceed this to count
    # The run is rejected ("flat") unless its champion beats the baseline's metric by more than
    # this many points; None: a sweep only chooses among its checkpoints.
    min_gain_pp: float | None = Field(default=None, ge=0)
    mmlu: MMLUSpec = Field(default_factory=MMLUSpec)
    factbench: bool = True
    heldout: HeldoutSpec | None = None


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
        if d.startswith(HELDOUT) and len(d) > len(HELDOUT):
            if rule.heldout is None:
                raise FFDataError(
                    f"{path}: field 'weak_domains.{i}': {d!r} needs a 'heldout' set and part"
                )
        elif d not in known:
            raise FFDataError(f"{path}: field 'weak_domains.{i}': unknown domain {d!r}")
    if len(set(rule.weak_domains)) != len(rule.weak_domains):
        raise FFDataError(f"{path}: field 'weak_domains': a domain is named twice")
    if rule.metric not in known:
        raise FFDataError(f"{path}: field 'metric': unknown score {rule.metric!r}")
    if rule.veto_min_regressions > max(len(rule.weak_domains), 1):
        raise FFDataError(
            f"{path}: field 'veto_min_regressions': {rule.veto_min_regressions} is more than "
            f"the {len(rule.weak_domains)} weak domains"
        )
    return rule


def flat_scores(
    mmlu: dict, factbench: dict | None = None, heldout: dict | None = None
) -> dict[str, float]:
    """One flat mapping the rule reads: mmlu, each macro-domain, each subject, factbench, and
    heldout:<subject> for each subject of the held-out part."""
    scores = {"mmlu": mmlu["acc"]}
    scores.update({d: v["acc"] for d, v in mmlu["domains"].items()})
    scores.update({s: v["acc"] for s, v in mmlu["subjects"].items()})
    if factbench is not None:
        scores["factbench"] = factbench["acc"]
    if heldout is not None:
        scores.update({f"{HELDOUT}{s}": v["acc"] for s, v in heldout["subjects"].items()})
    return scores


def select(
    candidates: dict[str, dict[str, float]],
    rule: SelectionRule,
    baseline: dict[str, float] | None = None,
) -> dict:
    """Apply the champion rule to scores; returns per-checkpoint verdicts, the champion and the
    run's verdict ("champion: <name>", or "rejected: ..." when every checkpoint is vetoed or,
    with `min_gain_pp`, the best one does not beat the baseline by more than that).

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
    what = "MMLU" if rule.metric == "mmlu" else rule.metric
    verdict = f"champion: {champion}" if champion else "rejected: every checkpoint vetoed"
    flat = None
    if champion and rule.min_gain_pp is not None and baseline is not None:
        if rule.metric not in baseline:
            raise FFDataError(f"baseline: no score for the metric {rule.metric!r}")
        gain = (best - baseline[rule.metric]) * 100
        if gain <= rule.min_gain_pp:
            flat = champion
            verdict = (
                f"rejected: {what} flat (best {champion} {gain:+.2f}pp vs baseline, "
                f"needs more than +{rule.min_gain_pp:.2f}pp)"
            )
            champion = None
    for name, v in verdicts.items():
        delta = None if best is None else (v["metric"] - best) * 100
        v["delta_pp"] = delta
        if name == champion:
            v["status"] = "champion"
        elif name == flat:
            v["status"] = f"best, but {what} flat vs baseline"
        elif v["vetoed"]:
            v["status"] = (
                f"rejected: {delta:+.2f}pp, regressed {len(v['regressed'])} of {k} weak domains"
                if delta is not None
                else f"rejected: regressed {len(v['regressed'])} of {k} weak domains"
            )
        else:
            v["status"] = f"{delta:+.2f}pp vs {'best' if flat else 'champion'}"
    return {"champion": champion, "verdict": verdict, "verdicts": verdicts}


def select_recorded(path: str | Path) -> dict:
    """The rule applied to figures written in a file (manifests/selection/*_recorded.yaml): the
    card's recorded scores, with the figures it does not give marked as invented there.

        rule: manifests/selection/ff313.yaml     # relative to the repository root or this file
        baseline: {mmlu: 0.2747, ...}            # scores of the rule's baseline
        checkpoints: {ckpt-50: {mmlu: ...}, ...} # in order
    """
    path = Path(path)
    if not path.exists():
        raise FFDataError(f"{path}: recorded scores not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise FFDataError(f"{path}: malformed YAML: {e}") from None
    for key in ("rule", "checkpoints"):
        if key not in data:
            raise FFDataError(f"{path}: field {key!r} is missing")
    extra = sorted(set(data) - {"rule", "baseline", "checkpoints", "card_figures"})
    if extra:
        raise FFDataError(f"{path}: field {extra[0]!r}: unknown key")
    rule_path = Path(data["rule"])
    if not rule_path.is_absolute():
        here = path.parent / rule_path
        rule_path = here if here.exists() else Path(__file__).resolve().parent.parent / rule_path
    rule = load_rule(rule_path)

    def scores(where: str, value) -> dict[str, float]:
        if not isinstance(value, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            raise FFDataError(f"{path}: field {where!r}: expected a mapping of score -> number")
        return {str(k): float(v) for k, v in value.items()}

    baseline = scores("baseline", data["baseline"]) if data.get("baseline") else None
    if not isinstance(data["checkpoints"], dict) or not data["checkpoints"]:
        raise FFDataError(f"{path}: field 'checkpoints': expected checkpoint -> scores")
    candidates = {str(n): scores(f"checkpoints.{n}", s) for n, s in data["checkpoints"].items()}
    try:
        decision = select(candidates, rule, baseline)
    except FFDataError as e:
        raise FFDataError(f"{path}: {e}") from None
    return {"rule": rule.model_dump(mode="json"), **decision}


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


def _evaluate(ckpt: Path, rule: SelectionRule, batch_size: int, device: str, log, root) -> dict:
    from ffllm.eval.factbench import evaluate_factbench
    from ffllm.eval.heldout import evaluate_heldout
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
    h = None
    if rule.heldout is not None:
        h = evaluate_heldout(
            ckpt,
            set_ref=rule.heldout.set,
            part=rule.heldout.part,
            root=root,
            batch_size=batch_size,
            device=device,
        )
    return {"path": str(ckpt), "mmlu": m, "factbench": f, "heldout": h}


def _run_init(run_dir: Path) -> str:
    """The checkpoint a run started from (`baseline: init`), as its run.json records it."""
    path = run_dir / "run.json"
    try:
        init = json.loads(path.read_text(encoding="utf-8"))["run"]["model"]["init"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise FFDataError(f"{path}: cannot read the run's model.init ({e})") from None
    if not init:
        raise FFDataError(f"{path}: the run started from a preset: no init to compare with")
    return init


def _flat(e: dict) -> dict[str, float]:
    return flat_scores(e["mmlu"], e["factbench"], e.get("heldout"))


def sweep_run(
    run_dir: str | Path,
    rule: SelectionRule,
    *,
    batch_size: int = 16,
    device: str = "cpu",
    root: str | None = None,
    log=print,
) -> dict:
    """Evaluate every checkpoint, choose the champion, write sweep.json and sweep.md. `root`:
    where the rule's held-out set is built (default: FFDATA_ROOT or artifacts/)."""
    run_dir = Path(run_dir)
    ckpts = find_checkpoints(run_dir)
    evals = {p.name: _evaluate(p, rule, batch_size, device, log, root) for p in ckpts}
    baseline_name, baseline = None, None
    if rule.baseline:
        if rule.baseline in evals:
            baseline_name = rule.baseline
            b = evals[rule.baseline]
        else:
            path = _run_init(run_dir) if rule.baseline == "init" else rule.baseline
            b = _evaluate(check_checkpoint(path), rule, batch_size, device, log, root)
            baseline_name = rule.baseline
        baseline = _flat(b)
    candidates = {n: _flat(e) for n, e in evals.items() if n != baseline_name}
    decision = select(candidates, rule, baseline)
    champion = decision["champion"]
    first = next(iter(evals.values()))
    result = {
        "run": str(run_dir),
        "rule": rule.model_dump(mode="json"),
        "mmlu_label": first["mmlu"]["label"],
        "factbench_label": first["factbench"]["label"] if first["factbench"] else None,
        "heldout_label": first["heldout"]["label"] if first["heldout"] else None,
        "baseline": baseline_name,
        "baseline_scores": {k: baseline[k] for k in _table_keys(rule)} if baseline else None,
        "champion": champion,
        "verdict": decision["verdict"],
        "champion_path": evals[champion]["path"] if champion else None,
        "checkpoints": [
            {
                "name": n,
                "path": e["path"],
                "weights_sha256": e["mmlu"]["weights_sha256"],
                "mmlu": e["mmlu"]["acc"],
                "domains": {d: e["mmlu"]["domains"][d]["acc"] for d in DOMAINS},
                "weak_domains": {d: _flat(e)[d] for d in rule.weak_domains},
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
        + (f"; {result['heldout_label']}" if result.get("heldout_label") else "")
        + ".",
        f"Rule `{rule['name']}`: maximize {rule['metric']}; veto a checkpoint that regresses in "
        f"≥ {rule['veto_min_regressions']} of {len(rule['weak_domains'])} weak domains "
        f"({', '.join(rule['weak_domains']) or 'none'}) vs baseline "
        f"{result['baseline'] or '(none)'} (tolerance {rule['tolerance_pp']}pp)"
        + (
            f"; reject the run unless it gains more than {rule['min_gain_pp']}pp."
            if rule.get("min_gain_pp") is not None
            else "."
        ),
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
    weak = rule["weak_domains"]
    if weak and all("weak_domains" in c for c in result["checkpoints"]):
        lines += ["", "| checkpoint | " + " | ".join(weak) + " |", "|---|" + "---:|" * len(weak)]
        rows = [(c["name"], c["weak_domains"]) for c in result["checkpoints"]]
        if result.get("baseline_scores") and result["baseline"] not in {n for n, _ in rows}:
            rows.insert(0, (f"{result['baseline']} (baseline)", result["baseline_scores"]))
        for name, scores in rows:
            lines.append(f"| {name} | " + " | ".join(pct(scores.get(d)) for d in weak) + " |")
    verdict = result.get("verdict") or "rejected: every checkpoint vetoed"
    tail = "" if result["champion"] else f" ({verdict})"
    lines += ["", f"Champion: **{result['champion'] or 'none'}**{tail}"]
    return "\n".join(lines) + "\n"
