"""The model card, generated from data: config, saved evaluations, the sweep, the training runs.

Every number in the card comes from a file: `config.json` and the safetensors headers
(overview), `<ckpt>/eval/*.json` (benchmarks), `sweep.json` (selection), the trainer's
`run.json` of each stage (configuration, set fingerprints) and the sets' `_build.json`
(rows, tokens, composition), followed back through `model.init` and `merge.json`.
"""

import json
from pathlib import Path

from safetensors import safe_open

from ffdata.errors import FFDataError
from ffdata.sets import open_set
from ffllm.eval.common import EVAL_DIR, check_checkpoint, pct, weight_files, weights_sha256
from ffllm.eval.factbench import format_factbench, is_current
from ffllm.eval.mmlu import format_mmlu

RUN_RECORD = "run.json"
MERGE_RECORD = "merge.json"


# ---------------------------------------------------------------- facts


def count_params(ckpt: Path) -> int:
    """Parameters stored in the safetensors files (a tied LM head is stored, and counted, once)."""
    total = 0
    for path in weight_files(ckpt):
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                total += n
    return total


def run_dir_of(ckpt: Path) -> Path | None:
    """`<run>/hf/ckpt-<step>` -> `<run>` when the trainer's run.json is there."""
    ckpt = Path(ckpt).resolve()
    if ckpt.parent.name == "hf" and (ckpt.parent.parent / RUN_RECORD).exists():
        return ckpt.parent.parent
    return None


def composition(built, parts: list[str]) -> dict:
    """What the run read, counted by SQL over exactly those shards (as the audits count it,
    audits/composition.sql): rows by block and by source for SFT-like sets; for token sets
    (pretrain sidecars) tokens by source and module."""
    import duckdb
    import pyarrow.parquet as pq

    from ffdata.sets import duckdb_paths

    files = [str(p) for part in parts for p in built.shard_paths(part)]
    if not files:
        return {}
    columns = set(pq.read_schema(files[0]).names)
    unit, measure = ("tokens", "sum(length)") if "length" in columns else ("rows", "count(*)")
    out = {"unit": unit}
    for column in ("block", "source", "module"):
        if column in columns:
            # duckdb_paths: a root holding *, ? or [ must not be globbed into other folders
            query = f"SELECT {column}, {measure} FROM read_parquet({duckdb_paths(files)}) GROUP BY 1 ORDER BY 1"
            out[f"by_{column}"] = {str(k): int(n) for k, n in duckdb.sql(query).fetchall()}
    return out


def _set_facts(root, name: str, fingerprint: str, parts: list[str] | None, skip=None) -> dict:
    """Facts of the parts a run read (`parts`; None: every part but `skip`, as the trainer
    chooses), from the set's build record and its shards."""
    facts = {"set": name, "fingerprint": fingerprint}
    try:
        built = open_set(root, f"{name}@{fingerprint}")
    except FFDataError as e:
        facts["missing"] = str(e)
        return facts
    rec = built.record
    parts = parts or [p for p in built.parts() if p != skip]
    shards = [sh for sh in rec["shards"] if sh["part"] in parts]
    facts.update(
        parts=parts,
        rows=sum(sh["rows"] for sh in shards),
        tokens=sum(sh.get("tokens") or 0 for sh in shards) or None,
        set_rows=rec.get("rows"),
        uri=built.uri,
        composition=composition(built, parts),
        dropped=rec.get("dropped", {}).get("total"),
        decontam_targets=rec.get("manifest", {}).get("decontamination", {}).get("targets", []),
        contaminated=sum(
            n
            for reason, n in rec.get("dropped", {}).get("by_reason", {}).items()
            if reason.startswith("contaminated")
        ),
    )
    return facts


def training_stages(ckpt: Path, root=None, _depth: int = 0) -> list[dict]:
    """Stages oldest first: each run that produced this checkpoint, back through model.init."""
    if _depth > 32:
        raise FFDataError(f"{ckpt}: model.init chain is longer than 32 runs (a cycle?)")
    ckpt = Path(ckpt)
    merge = ckpt / MERGE_RECORD
    if merge.exists():
        rec = json.loads(merge.read_text())
        stages = training_stages(Path(rec["a"]["path"]), root, _depth + 1)
        return stages + [
            {
                "kind": "merge",
                "name": f"SLERP t={rec['t']}",
                "a": rec["a"]["path"],
                "b": rec["b"]["path"],
                "t": rec["t"],
            }
        ]
    run_dir = run_dir_of(ckpt)
    if run_dir is None:
        return []
    info = json.loads((run_dir / RUN_RECORD).read_text())
    run = info["run"]
    earlier = []
    if run["model"].get("init"):
        earlier = training_stages(Path(run["model"]["init"]), root, _depth + 1)
    data = run["data"]
    sets = {"train": _set_facts(root, data["set"].split("@")[0], info["sets"]["train"],
                                data.get("train_parts"), skip=data.get("eval_part"))}  # fmt: skip
    if "eval" in info["sets"]:
        name = (data.get("eval_set") or data["set"]).split("@")[0]
        sets["eval"] = _set_facts(root, name, info["sets"]["eval"], [data["eval_part"]])
    return earlier + [
        {
            "kind": "train",
            "name": run["name"],
            "stage": run["stage"],
            "checkpoint": ckpt.name,
            "run": run,
            "sets": sets,
            "steps": info.get("steps", {}),
            "examples": info.get("examples", {}),
            "params": info.get("params"),
            "deepspeed_zero": info.get("deepspeed", {}).get("zero_optimization", {}).get("stage"),
            "teacher_weights_sha256": info.get("teacher_weights_sha256"),
        }
    ]


def saved_evals(ckpt: Path) -> dict:
    """The best saved MMLU result (most items, then 5-shot) and the factual benches, if any."""
    out = {"mmlu": None, "mmlu_all": [], "factbench": None, "factbench_extended": None}
    sha = weights_sha256(ckpt)
    for path in sorted((ckpt / EVAL_DIR).glob("*.json")):
        res = json.loads(path.read_text())
        if res.get("weights_sha256") != sha:
            continue  # a result of other weights (the folder was overwritten)
        if res.get("benchmark") == "mmlu":
            out["mmlu_all"].append(res)
        elif res.get("benchmark") == "factbench":
            # the card shows its 106-prompt bench; a result of another bench or of an older
            # prompt file (or version) is not that bench
            for key, bench in (("factbench", "card"), ("factbench_extended", "extended")):
                if is_current(res, bench):
                    out[key] = res
    if out["mmlu_all"]:
        out["mmlu"] = max(
            out["mmlu_all"], key=lambda r: (r["split"] == "test", r["items"], r["shots"])
        )
    return out


# ---------------------------------------------------------------- rendering


def _fmt_counts(counts: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "—"


def _overview(ckpt: Path, name: str, config: dict, evals: dict) -> list[str]:
    params = count_params(ckpt)
    rows = [
        ("Model", name),
        (
            "Architecture",
            f"{', '.join(config.get('architectures', ['?']))} ({config.get('model_type')})",
        ),
        ("Parameters", f"{params:,}"),
        (
            "Layers / hidden / heads",
            f"{config.get('n_layer')} / {config.get('n_embd')} / {config.get('n_head')}",
        ),
        ("Vocabulary", f"{config.get('vocab_size'):,} (GPT-2 BPE)"),
        ("Context", f"{config.get('n_positions'):,} tokens"),
        ("Weights dtype", str(config.get("dtype") or config.get("torch_dtype") or "float32")),
        ("Weights sha256", f"`{weights_sha256(ckpt)}`"),
    ]
    if evals["mmlu"]:
        m = evals["mmlu"]
        rows.append(
            (
                "MMLU",
                f"{pct(m['acc'])} ({m['shots']}-shot, lm-eval {m['lm_eval_version']}, {m['items']:,} {m['split']} items)",
            )
        )
    if evals["factbench"]:
        f = evals["factbench"]
        rows.append(("Factual bench", f"{f['correct']}/{f['prompts']} ({pct(f['acc'], 1)})"))
    lines = ["## Overview", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return lines


def _stages_table(stages: list[dict]) -> list[str]:
    if not stages:
        return [
            "## Training stages",
            "",
            "No trainer run record (`run.json`) was found for this checkpoint.",
        ]
    lines = [
        "## Training stages",
        "",
        "Rows, tokens and composition count the parts each stage trained on, by SQL over their "
        "shards; the full fingerprints are below the table.",
        "",
        "| # | stage | run | checkpoint | data set (parts) | fingerprint | rows | tokens "
        "| composition |",
        "|---:|---|---|---|---|---|---:|---:|---|",
    ]
    notes = []
    for i, s in enumerate(stages, 1):
        if s["kind"] == "merge":
            lines.append(
                f"| {i} | merge | {s['name']} | — | A `{s['a']}`, B `{s['b']}` | — | — | — | — |"
            )
            continue
        tr = s["sets"]["train"]
        comp = tr.get("composition", {})
        main = comp.get("by_block") or comp.get("by_source") or {}
        unit = "tokens: " if comp.get("unit") == "tokens" else ""
        parts = f" ({', '.join(tr['parts'])})" if tr.get("parts") else ""
        lines.append(
            f"| {i} | {s['stage']} | {s['name']} | {s['checkpoint']} | {tr['set']}{parts} | "
            f"`{tr['fingerprint'][:16]}` | {tr.get('rows') or 0:,} | "
            f"{tr.get('tokens') or 0:,} | {unit}{_fmt_counts(main)} |"
        )
        notes.append(f"- stage {i} data: `{tr['set']}@{tr['fingerprint']}`")
        if "missing" in tr:
            notes[-1] += f": build record not found ({tr['missing']})"
            continue
        notes[-1] += f", parts {', '.join(tr['parts'])} of a {tr['set_rows'] or 0:,}-row build"
        for kind in ("by_source", "by_module"):
            if comp.get(kind) and comp[kind] is not main:
                notes[-1] += f"; {kind[3:]}s ({comp['unit']}): {_fmt_counts(comp[kind])}"
        notes[-1] += f"; the build dropped {tr.get('dropped') or 0:,} input rows"
        ev = s["sets"].get("eval")
        if ev:
            where = f"`{ev['set']}@{ev['fingerprint']}`"
            rows = f", {ev['rows']:,} rows" if "rows" in ev else " (build record not found)"
            notes.append(
                f"- stage {i} validation: {where} part {s['run']['data']['eval_part']}{rows}"
            )
    return lines + ([""] + notes if notes else [])


def _config_table(stages: list[dict]) -> list[str]:
    train = [s for s in stages if s["kind"] == "train"]
    if not train:
        return []
    lines = [
        "## Training configuration",
        "",
        "| run | init | lr (min) | warmup | schedule / stopped at | batch global (micro) | seq len | weight decay | grad clip | precision | ZeRO | seed | method |",
        "|---|---|---|---:|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for s in train:
        r = s["run"]
        o, b, st = r["optim"], r["batch"], s["steps"]
        init = (
            r["model"].get("preset")
            and f"preset {r['model']['preset']}"
            or Path(r["model"]["init"]).name
        )
        method = "full fine-tune" if r["model"].get("init") else "from scratch"
        if r.get("lora"):
            method = f"LoRA r={r['lora']['r']} α={r['lora']['alpha']}"
        if r.get("distill"):
            d = r["distill"]
            method += (
                f"; logit distillation from `{Path(d['teacher']).name}` "
                f"(α={d['alpha']:g}, T={d['temperature']:g}"
                + (
                    f", teacher weights `{s['teacher_weights_sha256'][:16]}`"
                    if s.get("teacher_weights_sha256")
                    else ""
                )
                + ")"
            )
        lines.append(
            f"| {r['name']} | {init} | {o['lr']:g} ({o['min_lr']:g}) | {o['warmup_steps']} | "
            f"{st.get('schedule', '?')} / {st.get('stop', '?')} | {b['global']} ({b['micro']}) | "
            f"{r['data']['seq_len']} | {o['weight_decay']:g} | {o.get('grad_clip', 0):g} | "
            f"{r['runtime']['precision']} | {s['deepspeed_zero']} | {r['seed']} | {method} |"
        )
    return lines


def _decontam_line(stages: list[dict]) -> str:
    """What the build records say about decontamination of every training set."""
    parts = []
    for s in stages:
        if s["kind"] != "train":
            continue
        tr = s["sets"]["train"]
        if "missing" in tr:
            parts.append(f"{tr['set']}: unknown (build record not found)")
        elif tr.get("decontam_targets"):
            parts.append(
                f"{tr['set']}: against {', '.join(tr['decontam_targets'])} "
                f"({tr['contaminated']:,} rows dropped)"
            )
        else:
            parts.append(f"{tr['set']}: not decontaminated (no targets in its manifest)")
    if not parts:
        return "- Decontamination of the training data is not recorded for this checkpoint."
    return (
        "- Decontamination (13-gram and exact-question matching, from the build records): "
        + "; ".join(parts)
        + ". Paraphrased leakage is not ruled out."
    )


def _limitations(evals: dict, config: dict, stages: list[dict]) -> list[str]:
    items = [
        f"- Small GPT-2 ({config.get('n_layer')} layers, {config.get('n_embd')} hidden): expect "
        "confident wrong answers; verify facts before use.",
        "- English only; GPT-2 BPE; context of "
        f"{config.get('n_positions')} tokens. Use the prompt template above; other "
        "prompt shapes were not trained or evaluated.",
    ]
    m = evals["mmlu"]
    if m:
        items.append(
            f"- MMLU was measured {m['shots']}-shot with lm-eval {m['lm_eval_version']} on "
            f"{m['items']:,} {m['split']} items"
            + (
                f" (first {m['limit']} per subject only: not comparable with full-set scores)"
                if m["limit"]
                else ""
            )
            + "; 25% is chance level."
        )
    f = evals["factbench"]
    if f:
        ao = f["anchor_overattribution"]
        items.append(
            f"- Anchor-entity over-attribution: {ao['count']} of {f['prompts']} factual-bench "
            "answers name a famous figure (Edison, Tesla, Einstein, …) who is not the answer."
        )
    items.append(_decontam_line(stages))
    return ["## Limitations", "", *items]


TEMPLATE = (
    "```\n### System:\nYou are FF-LLM, a helpful assistant.\n### Instruction:\n<question>\n"
    "### Response:\n```"
)


def _merge_lines(ckpt: Path, evals: dict) -> list[str]:
    """A merged model's scores next to those of its A side (the champion it was merged from),
    computed from both saved results: the card states the difference, never types it."""
    merge = ckpt / MERGE_RECORD
    if not merge.exists():
        return []
    rec = json.loads(merge.read_text())
    a = Path(rec["a"]["path"])
    base = saved_evals(a) if (a / "config.json").exists() else {"mmlu": None, "factbench": None}
    lines = ["", "## SLERP merge", "", f"SLERP t={rec['t']} from A `{a.name}` towards B "
             f"`{Path(rec['b']['path']).name}` (`{MERGE_RECORD}` holds both paths and digests)."]  # fmt: skip
    m, mb = evals["mmlu"], base["mmlu"]
    same = mb is not None and (mb["split"], mb["items"], mb["shots"]) == (
        m["split"],
        m["items"],
        m["shots"],
    )
    if same:
        diff = 100 * (m["acc"] - mb["acc"])
        lines.append(
            f"- MMLU ({m['label']}): merged {pct(m['acc'])}, A {pct(mb['acc'])}: {diff:+.2f}pp"
        )
    else:
        lines.append("- MMLU: A has no saved result on the same items, so no difference is stated")
    f, fb = evals["factbench"], base["factbench"]
    if f and fb:
        lines.append(
            f"- Factual bench: merged {f['correct']}/{f['prompts']}, A {fb['correct']}/{fb['prompts']}"
        )
    return lines


def build_card(
    ckpt: str | Path, root=None, sweep: dict | None = None, name: str | None = None
) -> str:
    ckpt = check_checkpoint(ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    stages = training_stages(ckpt, root)
    evals = saved_evals(ckpt)
    if evals["mmlu"] is None:
        raise FFDataError(
            f"{ckpt}: no MMLU result for these weights; run `ffllm eval mmlu {ckpt}` first"
        )
    name = name or next((s["name"] for s in reversed(stages) if s["kind"] == "train"), ckpt.name)
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "language: [en]",
        "tags: [gpt2, ffllm]",
        "---",
        "",
        f"# {name}",
        "",
        f"Generated by `ffllm publish` from checkpoint `{ckpt.name}`. Load with "
        '`AutoModelForCausalLM.from_pretrained("champions/latest")`.',
        "",
        *_overview(ckpt, name, config, evals),
        "",
        "## Benchmarks",
        "",
        "### MMLU and macro-domains",
        "",
        format_mmlu(evals["mmlu"], subjects=False).rstrip(),
    ]
    others = [r for r in evals["mmlu_all"] if r is not evals["mmlu"]]
    if others:
        lines += ["", "Other MMLU runs of these weights:", ""]
        lines += [f"- {r['label']}: {pct(r['acc'])}" for r in others]
    if evals["factbench"]:
        lines += ["", "### Factual bench", "", format_factbench(evals["factbench"]).rstrip()]
    if evals["factbench_extended"]:
        x = evals["factbench_extended"]
        lines += [
            "",
            f"Extended bench, not the card's ({x['label']}): {x['correct']}/{x['prompts']} "
            f"({pct(x['acc'], 1)}).",
        ]
    if sweep:
        from ffllm.sweep import format_sweep

        lines += ["", format_sweep(sweep).rstrip().replace("### Checkpoint", "## Checkpoint", 1)]
    lines += _merge_lines(ckpt, evals)
    lines += [
        "",
        *_stages_table(stages),
        "",
        *_config_table(stages),
        "",
        "## Prompt template",
        "",
        TEMPLATE,
        "",
        "Greedy decoding is recommended (the factual bench is scored that way).",
        "",
        *_limitations(evals, config, stages),
        "",
        "<details><summary>MMLU per subject</summary>",
        "",
        format_mmlu(evals["mmlu"], subjects=True).split("\n\n", 2)[-1].rstrip(),
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"
