"""Evaluation-set registry: the benchmarks the FF models are scored on, as one uniform item view.

Two copies of every set, same converters:
- the hub copy, `datasets.load_dataset` at a pinned revision (the full sets);
- a bundled offline copy (compact Parquet in `ffdata/data/evalsets/`, made from the real files
  by `python -m ffdata.evalsets --rebuild-bundle SRC_DIR`), checked against the sha256 in its
  `bundle.json` on every load. Its HellaSwag has only 1,000 of the 10,042 validation items.

`source="auto"` (the default, or FFDATA_EVALSETS_SOURCE) uses the hub when it is reachable and
HF_HUB_OFFLINE/HF_DATASETS_OFFLINE are unset, else the bundled copy. Each item carries a stable
id (`mmlu/<subject>/test/<row>`, `arc/<easy|challenge>/test/<arc id>`, `gsm8k/test/<row>`,
`hellaswag/validation/<ind>`, `truthfulqa/validation/<row>`).

The project's own factual benches (`factbench`: the card's 106 prompts, `factbench_extended`:
116) are targets too. They live in the repo (ffllm/eval/*.jsonl), whatever the source; their
sha256 is their description, so a changed bench changes every fingerprint that names it. Their
questions are short, so they are also matched whole (EXACT_QUESTION_SETS, ffdata.exact_questions).
"""

import argparse
import csv
import dataclasses
import functools
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_file, sha256_json

log = logging.getLogger(__name__)

BUNDLE_DIR = Path(__file__).parent / "data" / "evalsets"
BUNDLED_NAMES = ("mmlu", "arc", "gsm8k", "hellaswag", "truthfulqa")  # hub or bundled copy
# The project's factual benches, read from the repo (a test may point a name at another file).
_REPO = Path(__file__).resolve().parent.parent
REPO_SETS = {
    "factbench": _REPO / "ffllm" / "eval" / "factbench.jsonl",
    "factbench_extended": _REPO / "ffllm" / "eval" / "factbench_extended.jsonl",
}
EVALSET_NAMES = BUNDLED_NAMES + tuple(REPO_SETS)
# Sets whose questions are also matched whole, after normalization (too short for 13-grams).
EXACT_QUESTION_SETS = frozenset(REPO_SETS)

# The split each benchmark is scored on: what decontamination guards by default.
EVAL_SPLITS = {
    "mmlu": "test",
    "arc": "test",
    "gsm8k": "test",
    "hellaswag": "validation",
    "truthfulqa": "validation",
    "factbench": "test",
    "factbench_extended": "test",
}

# Full sizes of the scored splits; the bundled copy matches them except HellaSwag.
FULL_ROWS = {"mmlu": 14042, "arc": 3548, "gsm8k": 1319, "hellaswag": 10042, "truthfulqa": 817}


@dataclass(frozen=True)
class HubSource:
    repo: str
    revision: str  # a commit sha on the hub
    splits: tuple[tuple[str | None, str], ...]  # (config, split) pairs
    license: str


# Revisions are commit shas of the hub dataset repos, as pinned in public code (they could not
# be re-checked against the hub from this offline machine; see data/evalsets/PROVENANCE.md).
HUB_SOURCES = {
    "mmlu": HubSource(
        "cais/mmlu",
        "c30699e8356da336a370243923dbaf21066bb9fe",
        (("all", "test"), ("all", "dev")),
        "MIT",
    ),
    "arc": HubSource(
        "allenai/ai2_arc",
        "210d026faf9955653af8916fad021475a3f00453",
        (("ARC-Easy", "test"), ("ARC-Challenge", "test")),
        "CC-BY-SA-4.0",
    ),
    "gsm8k": HubSource(
        "openai/gsm8k", "740312add88f781978c0658806c59bc2815b9866", (("main", "test"),), "MIT"
    ),
    "hellaswag": HubSource(
        "Rowan/hellaswag",
        "218ec52e09a7e7462a5400043bb9a69a41d06b76",
        ((None, "validation"),),
        "MIT",
    ),
    "truthfulqa": HubSource(
        "truthfulqa/truthful_qa",
        "741b8276f2d1982aa3d5b832d3ee81ed3b896490",
        (("generation", "validation"),),
        "Apache-2.0",
    ),
}

# MMLU subject -> macro-domain, the same grouping lm-eval uses (lm_eval/tasks/mmlu/default:
# mmlu_stem 19 subjects, mmlu_humanities 13, mmlu_social_sciences 12, mmlu_other 13).
MMLU_DOMAINS = {
    "abstract_algebra": "stem",
    "anatomy": "stem",
    "astronomy": "stem",
    "business_ethics": "other",
    "clinical_knowledge": "other",
    "college_biology": "stem",
    "college_chemistry": "stem",
    "college_computer_science": "stem",
    "college_mathematics": "stem",
    "college_medicine": "other",
    "college_physics": "stem",
    "computer_security": "stem",
    "conceptual_physics": "stem",
    "econometrics": "social_sciences",
    "electrical_engineering": "stem",
    "elementary_mathematics": "stem",
    "formal_logic": "humanities",
    "global_facts": "other",
    "high_school_biology": "stem",
    "high_school_chemistry": "stem",
    "high_school_computer_science": "stem",
    "high_school_european_history": "humanities",
    "high_school_geography": "social_sciences",
    "high_school_government_and_politics": "social_sciences",
    "high_school_macroeconomics": "social_sciences",
    "high_school_mathematics": "stem",
    "high_school_microeconomics": "social_sciences",
    "high_school_physics": "stem",
    "high_school_psychology": "social_sciences",
    "high_school_statistics": "stem",
    "high_school_us_history": "humanities",
    "high_school_world_history": "humanities",
    "human_aging": "other",
    "human_sexuality": "social_sciences",
    "international_law": "humanities",
    "jurisprudence": "humanities",
    "logical_fallacies": "humanities",
    "machine_learning": "stem",
    "management": "other",
    "marketing": "other",
    "medical_genetics": "other",
    "miscellaneous": "other",
    "moral_disputes": "humanities",
    "moral_scenarios": "humanities",
    "nutrition": "other",
    "philosophy": "humanities",
    "prehistory": "humanities",
    "professional_accounting": "other",
    "professional_law": "humanities",
    "professional_medicine": "other",
    "professional_psychology": "social_sciences",
    "public_relations": "social_sciences",
    "security_studies": "social_sciences",
    "sociology": "social_sciences",
    "us_foreign_policy": "social_sciences",
    "virology": "other",
    "world_religions": "humanities",
}

ITEM_SCHEMA = pa.schema(
    [
        ("evalset", pa.string()),
        ("item_id", pa.string()),
        ("split", pa.string()),
        # MMLU subject, ARC-Easy/ARC-Challenge, HellaSwag activity label, TruthfulQA category
        ("subject", pa.string()),
        ("question", pa.string()),
        ("choices", pa.list_(pa.string())),
        ("answer", pa.string()),  # gold answer text (GSM8K: the full worked solution)
        ("answer_index", pa.int32()),  # index of the gold answer in choices; -1 when none
    ]
)


@dataclass(frozen=True)
class EvalItem:
    evalset: str
    item_id: str
    split: str
    subject: str
    question: str
    choices: tuple[str, ...]
    answer: str
    answer_index: int

    @property
    def domain(self) -> str | None:
        """MMLU macro-domain (stem, humanities, social_sciences, other); None for other sets."""
        return MMLU_DOMAINS.get(self.subject) if self.evalset == "mmlu" else None


def mmlu_domain(subject: str) -> str:
    try:
        return MMLU_DOMAINS[subject]
    except KeyError:
        raise FFDataError(f"unknown MMLU subject {subject!r}") from None


# ---------------------------------------------------------------- converters (hub row layout)
# Every converter takes rows in the hub's own layout; the bundle builder first reshapes the
# raw GitHub files into that layout, so hub and bundled items come out of the same code.


def _mmlu_items(rows: Iterable[dict], split: str) -> Iterator[EvalItem]:
    seen: dict[str, int] = {}
    for row in rows:
        subject = row["subject"]
        n = seen.get(subject, 0)
        seen[subject] = n + 1
        choices = tuple(row["choices"])
        answer = int(row["answer"])
        yield EvalItem(
            "mmlu",
            f"mmlu/{subject}/{split}/{n}",
            split,
            subject,
            row["question"],
            choices,
            choices[answer],
            answer,
        )


def _arc_items(rows: Iterable[dict], config: str, split: str) -> Iterator[EvalItem]:
    level = config.split("-")[1].lower()  # ARC-Easy -> easy
    for row in rows:
        labels = list(row["choices"]["label"])
        choices = tuple(row["choices"]["text"])
        answer = labels.index(row["answerKey"])
        yield EvalItem(
            "arc",
            f"arc/{level}/{split}/{row['id']}",
            split,
            config,
            row["question"],
            choices,
            choices[answer],
            answer,
        )


def _gsm8k_items(rows: Iterable[dict], split: str) -> Iterator[EvalItem]:
    for n, row in enumerate(rows):
        yield EvalItem(
            "gsm8k", f"gsm8k/{split}/{n}", split, "", row["question"], (), row["answer"], -1
        )


def _hellaswag_items(rows: Iterable[dict], split: str) -> Iterator[EvalItem]:
    for row in rows:
        endings = tuple(row["endings"])
        label = int(row["label"])
        yield EvalItem(
            "hellaswag",
            f"hellaswag/{split}/{row['ind']}",
            split,
            row["activity_label"],
            row["ctx"],
            endings,
            endings[label],
            label,
        )


def _truthfulqa_items(rows: Iterable[dict], split: str) -> Iterator[EvalItem]:
    for n, row in enumerate(rows):
        choices = tuple(row["correct_answers"]) + tuple(row["incorrect_answers"])
        best = row["best_answer"]
        yield EvalItem(
            "truthfulqa",
            f"truthfulqa/{split}/{n}",
            split,
            row["category"],
            row["question"],
            choices,
            best,
            choices.index(best) if best in choices else -1,
        )


def items_from_rows(name: str, config: str | None, split: str, rows: Iterable[dict]):
    """Hub-layout rows of one (config, split) -> EvalItems."""
    if name == "mmlu":
        return list(_mmlu_items(rows, split))
    if name == "arc":
        return list(_arc_items(rows, config, split))
    if name == "gsm8k":
        return list(_gsm8k_items(rows, split))
    if name == "hellaswag":
        return list(_hellaswag_items(rows, split))
    if name == "truthfulqa":
        return list(_truthfulqa_items(rows, split))
    raise FFDataError(f"unknown eval set {name!r}; known: {', '.join(EVALSET_NAMES)}")


# ---------------------------------------------------------------- hub loading


def load_hub(name: str) -> list[EvalItem]:
    """The full set from the hub at its pinned revision."""
    from datasets import load_dataset

    src = HUB_SOURCES[name]
    items: list[EvalItem] = []
    for config, split in src.splits:
        ds = load_dataset(src.repo, config, split=split, revision=src.revision)
        items.extend(items_from_rows(name, config, split, ds))
    return items


@functools.cache
def hub_reachable() -> bool:
    """One quick TCP probe, so an offline machine does not sit through datasets' retries."""
    if any(
        os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    ):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- the factual benches

_CHOICE_LINE = re.compile(r"([A-Z])\.\s+(.*\S)")
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+")
_ASKS_OPTIONS = re.compile(r"\b(?:of|among) (?:these|those|the following)\b", re.IGNORECASE)


def _bench_item(name: str, row: dict) -> EvalItem:
    """One bench prompt as an item. A format prompt wraps its question in an instruction
    ("Answer with one word.", "Answer in one short sentence: ...") and may list lettered
    options: the item's question is then its sentences that end in "?" (the whole prompt when
    none does: "List exactly 3 noble gases, ..."), its choices the options, its answer the
    right option's text. Other prompts are the question as they stand."""
    prompt, truth = row["prompt"], row["truth"]
    choices, letters, lines = [], [], []
    for line in prompt.splitlines():
        m = _CHOICE_LINE.fullmatch(line.strip()) if "format" in row else None
        if m:
            letters.append(m.group(1))
            choices.append(m.group(2))
        elif line.strip():
            lines.append(line.strip())
    question = " ".join(lines)
    if "format" in row:
        asked = [s for s in _SENTENCE_END.split(question) if s.endswith("?")]
        question = " ".join(asked) or question
    if choices and _ASKS_OPTIONS.search(question):
        # "Which of these animals is a mammal?" is answered by its options: without them it is
        # a generic stem that other items share, so they are part of the question
        question = f"{question} ({', '.join(choices)})"
    index = letters.index(truth[0]) if truth[0] in letters else -1
    answer = choices[index] if index >= 0 else truth[0]
    return EvalItem(
        name,
        f"{name}/{row['id']}",
        "test",
        row["category"],
        question,
        tuple(choices),
        answer,
        index,
    )


def load_bench_file(name: str, path: Path) -> list[EvalItem]:
    """The items of a factual-bench JSONL (id, category, prompt, truth; format for format
    prompts). A bad row is one error naming the file, line and field."""
    items = []
    for lineno, row in enumerate(_read_jsonl(path), 1):
        if not isinstance(row, dict):
            raise FFDataError(f"{path}: row {lineno} is not a JSON object")
        for field, kind in (("id", str), ("category", str), ("prompt", str), ("truth", list)):
            if not isinstance(row.get(field), kind) or not row[field]:
                raise FFDataError(f"{path}: row {lineno}: field {field!r} missing or empty")
        if not all(isinstance(t, str) for t in row["truth"]):
            raise FFDataError(f"{path}: row {lineno}: field 'truth' must be a list of strings")
        items.append(_bench_item(name, row))
    return items


@functools.cache
def _load_bench_cached(name: str, path: Path, sha256: str) -> tuple[EvalItem, ...]:
    return tuple(load_bench_file(name, path))


def _repo_file(name: str) -> Path:
    path = Path(REPO_SETS[name])
    if not path.exists():
        raise FFDataError(f"{path}: the {name} prompt file is missing")
    return path


# ---------------------------------------------------------------- bundled copy


@functools.cache
def _bundle_manifest(bundle_dir: Path) -> dict:
    path = bundle_dir / "bundle.json"
    if not path.exists():
        raise FFDataError(f"{path}: bundled eval-set manifest missing (reinstall ffllm)")
    return json.loads(path.read_text(encoding="utf-8"))


def _bundle_file(name: str, bundle_dir: Path) -> Path:
    entry = _bundle_manifest(bundle_dir)["files"].get(f"{name}.parquet")
    path = bundle_dir / f"{name}.parquet"
    if entry is None:
        raise FFDataError(f"{bundle_dir / 'bundle.json'}: no entry for {path.name}")
    if not path.exists():
        raise FFDataError(f"{path}: bundled eval set {name!r} is missing")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise FFDataError(
            f"{path}: sha256 {digest[:12]}… does not match bundle.json {entry['sha256'][:12]}…"
            " (file altered or corrupt; rebuild with python -m ffdata.evalsets --rebuild-bundle)"
        )
    return path


def bundled_sha256(name: str, bundle_dir: Path = BUNDLE_DIR) -> str:
    return _bundle_manifest(bundle_dir)["files"][f"{name}.parquet"]["sha256"]


def load_bundled(name: str, bundle_dir: Path = BUNDLE_DIR) -> list[EvalItem]:
    table = pq.read_table(_bundle_file(name, bundle_dir))
    return [
        EvalItem(
            r["evalset"],
            r["item_id"],
            r["split"],
            r["subject"],
            r["question"],
            tuple(r["choices"]),
            r["answer"],
            r["answer_index"],
        )
        for r in table.to_pylist()
    ]


# ---------------------------------------------------------------- public entry points


def resolve_source(source: str = "auto") -> str:
    source = os.environ.get("FFDATA_EVALSETS_SOURCE", source) if source == "auto" else source
    if source == "auto":
        return "hub" if hub_reachable() else "bundled"
    if source not in ("hub", "bundled"):
        raise FFDataError(f"eval-set source must be auto, hub or bundled, got {source!r}")
    return source


def _check_name(name: str) -> None:
    if name not in EVALSET_NAMES:
        raise FFDataError(f"unknown eval set {name!r}; known: {', '.join(EVALSET_NAMES)}")


@functools.cache
def _load_cached(name: str, source: str) -> tuple[EvalItem, ...]:
    if source == "hub":
        # No fallback to the bundle: the fingerprint already names the hub revision, and the
        # bundle is another copy (HellaSwag: 1,000 of 10,042 items), so a silent switch would
        # make the record lie about what the set was decontaminated against.
        src = HUB_SOURCES[name]
        try:
            return tuple(load_hub(name))
        except Exception as e:
            raise FFDataError(
                f"eval set {name!r}: could not load {src.repo}@{src.revision[:12]} from the hub "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); set "
                "FFDATA_EVALSETS_SOURCE=bundled to use the bundled copy on purpose"
            ) from None
    return tuple(load_bundled(name))


def load_evalset(name: str, source: str = "auto", split: str | None = "eval") -> list[EvalItem]:
    """Items of one eval set. split="eval" keeps the scored split, None keeps every split."""
    _check_name(name)
    if name in REPO_SETS:  # the same file whatever the source, read again when it changes
        path = _repo_file(name)
        items = _load_bench_cached(name, path, sha256_file(path))
    else:
        items = _load_cached(name, resolve_source(source))
    if split == "eval":
        split = EVAL_SPLITS[name]
    return [it for it in items if split is None or it.split == split]


def describe_source(name: str, source: str = "auto") -> dict:
    """What a load of `name` reads: for fingerprints and reports."""
    _check_name(name)
    if name in REPO_SETS:
        path = _repo_file(name)
        shown = path.relative_to(_REPO).as_posix() if path.is_relative_to(_REPO) else str(path)
        digest = sha256_file(path)
        # the items too: they are parsed here (not in a bundle), so a change of the parsing
        # must reach the fingerprints and the index cache key as a change of the file does
        items = [dataclasses.astuple(it) for it in _load_bench_cached(name, path, digest)]
        return {"source": "repo", "file": shown, "sha256": digest, "items": sha256_json(items)}
    if resolve_source(source) == "hub":
        src = HUB_SOURCES[name]
        return {"source": "hub", "repo": src.repo, "revision": src.revision}
    note = "offline subset: 1,000 of 10,042 validation items" if name == "hellaswag" else None
    return {"source": "bundled", "sha256": bundled_sha256(name), "note": note}


def items_table(items: Iterable[EvalItem]) -> pa.Table:
    cols = {f: [] for f in ITEM_SCHEMA.names}
    for it in items:
        for f in ITEM_SCHEMA.names:
            v = getattr(it, f)
            cols[f].append(list(v) if f == "choices" else v)
    return pa.table(cols, schema=ITEM_SCHEMA)


def evalsets_table(source: str = "auto") -> pa.Table:
    """Every item of every set (all splits) with its MMLU domain: the `evalsets` SQL view."""
    items = [it for name in EVALSET_NAMES for it in load_evalset(name, source, split=None)]
    table = items_table(items)
    return table.append_column("domain", pa.array([it.domain for it in items], pa.string()))


# ---------------------------------------------------------------- bundle builder

# Raw files (layout of the shared real-data folder) and where they came from.
_RAW = {
    "mmlu": (
        "HaeChan0305/MLILAB-FedLLM",
        "d92730e8bacd7b3a61e551e015e40588e10234b4",
        "data/mmlu/{dev,test}/<subject>_{dev,test}.csv",
        "MIT (upstream hendrycks/test); vendoring repo Apache-2.0",
        ["LICENSE.hendrycks-test", "LICENSE.HaeChan0305-MLILAB-FedLLM"],
    ),
    "arc": (
        "zhaoxlpku/HKU-DASC7606-A2",
        "fcca017f3468a25901ad298913e976c42ad9165e",
        "data/ARC-{Easy,Challenge}-test.jsonl",
        "CC-BY-SA-4.0 (allenai/ai2_arc); share-alike applies to this Parquet",
        ["LICENSE.arc-CC-BY-SA-4.0"],
    ),
    "gsm8k": (
        "openai/grade-school-math",
        "3101c7d5072418e28b9008a6636bde82a006892c",
        "grade_school_math/data/test.jsonl",
        "MIT",
        ["LICENSE.openai-grade-school-math"],
    ),
    "hellaswag": (
        "RubriksCube/rubriks_cube",
        "45e617d6ca (abbreviated as in the source folder's MANIFEST)",
        "data/hellaswag.jsonl (1,000 of the 10,042 validation items)",
        "MIT (upstream rowanz/hellaswag)",
        ["LICENSE.rowanz-hellaswag", "LICENSE.RubriksCube-rubriks_cube"],
    ),
    "truthfulqa": (
        "benedictflorance/truthfulqa_experiments",
        "6fdfd38288e86296582a584694df5cf43d1f634a",
        "datasets/TruthfulQA.csv",
        "Apache-2.0 (upstream sylinrl/TruthfulQA; the vendoring repo has no licence file)",
        ["LICENSE.truthfulqa-Apache-2.0"],
    ),
}


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise FFDataError(f"{path}:{lineno}: malformed JSON: {e.msg}") from None
    return rows


def _raw_files(name: str, src: Path) -> list[Path]:
    if name == "mmlu":
        return sorted((src / "mmlu" / "test").glob("*_test.csv")) + sorted(
            (src / "mmlu" / "dev").glob("*_dev.csv")
        )
    return {
        "arc": [src / "arc" / "ARC-Easy-test.jsonl", src / "arc" / "ARC-Challenge-test.jsonl"],
        "gsm8k": [src / "gsm8k" / "test.jsonl"],
        "hellaswag": [src / "hellaswag" / "hellaswag.jsonl"],
        "truthfulqa": [src / "truthfulqa" / "TruthfulQA.csv"],
    }[name]


def _raw_items(name: str, src: Path) -> list[EvalItem]:
    """Reshape the raw GitHub files into hub rows, then convert with the hub converters."""
    files = _raw_files(name, src)
    for f in files:
        if not f.exists():
            raise FFDataError(f"{f}: raw eval-set file missing")
    if name == "mmlu":
        items = []
        for split in ("test", "dev"):
            rows = []
            for f in files:
                if not f.name.endswith(f"_{split}.csv"):
                    continue
                subject = f.name[: -len(f"_{split}.csv")]
                with open(f, encoding="utf-8", newline="") as fh:
                    for r in csv.DictReader(fh):
                        choices = [r[f"choice{i}"] for i in range(4)]
                        rows.append(
                            {
                                "subject": subject,
                                "question": r["question"],
                                "choices": choices,
                                "answer": int(r["answer"]),
                            }
                        )
            items.extend(items_from_rows("mmlu", "all", split, rows))
        return items
    if name == "arc":
        return [
            it
            for f, config in zip(files, ("ARC-Easy", "ARC-Challenge"), strict=True)
            for it in items_from_rows("arc", config, "test", _read_jsonl(f))
        ]
    if name == "gsm8k":
        return items_from_rows("gsm8k", "main", "test", _read_jsonl(files[0]))
    if name == "hellaswag":
        return items_from_rows("hellaswag", None, "validation", _read_jsonl(files[0]))
    with open(files[0], encoding="utf-8", newline="") as fh:
        rows = [
            {
                "category": r["Category"],
                "question": r["Question"],
                "best_answer": r["Best Answer"],
                "correct_answers": [a.strip() for a in r["Correct Answers"].split(";")],
                "incorrect_answers": [a.strip() for a in r["Incorrect Answers"].split(";")],
            }
            for r in csv.DictReader(fh)
        ]
    return items_from_rows("truthfulqa", "generation", "validation", rows)


def rebuild_bundle(src: Path, out: Path = BUNDLE_DIR) -> dict:
    """Write <set>.parquet, bundle.json and PROVENANCE.md into `out`; byte-identical reruns."""
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"files": {}}
    prov = [
        "# Bundled evaluation sets: provenance",
        "",
        "Made by `python -m ffdata.evalsets --rebuild-bundle SRC_DIR` from real public files",
        "(SRC_DIR laid out like the team's shared real-data folder). Each Parquet holds the",
        "uniform item view (ffdata.evalsets.ITEM_SCHEMA); its sha256 is in bundle.json and is",
        "checked on every load. Hub loaders use the pinned revisions listed at the end.",
        "",
        "**HellaSwag offline has only 1,000 of the 10,042 validation items.**",
        "",
    ]
    for name in BUNDLED_NAMES:
        items = _raw_items(name, src)
        path = out / f"{name}.parquet"
        pq.write_table(items_table(items), path, compression="zstd", compression_level=9)
        splits: dict[str, int] = {}
        for it in items:
            splits[it.split] = splits.get(it.split, 0) + 1
        manifest["files"][path.name] = {
            "sha256": sha256_file(path),
            "rows": len(items),
            "splits": dict(sorted(splits.items())),
        }
        repo, commit, rpath, lic, lic_files = _RAW[name]
        prov += [
            f"## {name}.parquet ({len(items):,} items: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(splits.items()))
            + ")",
            "",
            f"- source: github.com/{repo} @ `{commit}`, `{rpath}`",
            f"- licence: {lic}" + (f"; licence files: {', '.join(lic_files)}" if lic_files else ""),
            f"- bundled file sha256: `{manifest['files'][path.name]['sha256']}`",
            "- raw input files (path under SRC_DIR, sha256):",
        ]
        for f in _raw_files(name, src):
            prov.append(f"  - `{f.relative_to(src).as_posix()}` `{sha256_file(f)}`")
        prov.append("")
    prov += ["## Hub revisions (ffdata.evalsets.HUB_SOURCES)", ""]
    for name, h in HUB_SOURCES.items():
        cfgs = ", ".join(f"{c or 'default'}/{s}" for c, s in h.splits)
        prov.append(f"- {name}: `{h.repo}` @ `{h.revision}` ({cfgs}; {h.license})")
    prov += [
        "",
        "The revisions were taken from public code that pins them; this offline machine could",
        "not re-check them against the hub.",
        "",
    ]
    (out / "bundle.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    (out / "PROVENANCE.md").write_text("\n".join(prov))
    _bundle_manifest.cache_clear()
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ffdata.evalsets", description=__doc__)
    ap.add_argument("--rebuild-bundle", metavar="SRC_DIR", help="raw real-data folder")
    ap.add_argument("--out", default=str(BUNDLE_DIR), help="bundle folder to write")
    args = ap.parse_args(argv)
    if not args.rebuild_bundle:
        for name in EVALSET_NAMES:
            print(name, len(load_evalset(name, split=None)), describe_source(name))
        return 0
    try:
        manifest = rebuild_bundle(Path(args.rebuild_bundle), Path(args.out))
    except FFDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(manifest, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
