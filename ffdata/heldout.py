"""What a validation split must not contain: the questions and table rows that sets trained
earlier in the same model line read.

`options.validation_excludes: [surgical, sft_shards_v2]` names those sets. Their manifests are
read (not their builds: nothing needs to be built first) and every local source they name is
resolved: a JSONL/Parquet/CSV file gives the normalized text of each row's question, a curated
table gives its file, whose rows validation then never uses. The other set may train on any row
it reads, so every row it reads is excluded, not only the rows its last build happened to keep.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.manifest import load_manifest
from ffdata.sources import open_source, resolve_path

# Fields that hold a row's question in the sources our recipes read (ARC, GSM8K, MMLU, chat).
QUESTION_FIELDS = ("question", "instruction", "prompt", "problem", "query", "question_stem")
CHAT_FIELDS = ("messages", "conversations", "conversation")


def norm_question(text: str) -> str:
    """The question as compared across sets: casefolded, punctuation and spacing collapsed."""
    return re.sub(r"\W+", " ", str(text).casefold()).strip()


@dataclass
class Excludes:
    questions: set[str] = field(default_factory=set)  # normalized question texts
    files: set[Path] = field(default_factory=set)  # resolved table files read whole
    by_recipe: dict[str, dict] = field(default_factory=dict)  # what each named set contributed

    def question(self, text: str) -> bool:
        return norm_question(text) in self.questions


def row_questions(row) -> list[str]:
    """The question texts of one source row (ARC's `question` may be a dict with a `stem`)."""
    out = []
    if not isinstance(row, dict):
        return out
    for key in QUESTION_FIELDS:
        v = row.get(key)
        if isinstance(v, dict):
            v = v.get("stem")
        if isinstance(v, str) and v.strip():
            out.append(v)
    for key in CHAT_FIELDS:
        turns = row.get(key)
        if isinstance(turns, list):
            for t in turns:
                if isinstance(t, dict) and t.get("role", t.get("from")) in ("user", "human"):
                    text = t.get("content", t.get("value"))
                    if isinstance(text, str):
                        out.append(text)
                    break
    return out


def resolve(names, base_dir: Path) -> Excludes:
    """Exclusions from the manifests `names` (under base_dir/manifests/)."""
    if names is None:
        return Excludes()
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise FFDataError("options.validation_excludes: expected a list of set names")
    ex = Excludes()
    read: dict[Path, int] = {}  # a file several sets read is read once
    for name in names:
        path = Path(base_dir) / "manifests" / f"{name}.yaml"
        if not path.exists():
            raise FFDataError(f"options.validation_excludes: no manifest {path}")
        manifest = load_manifest(path)
        seen = {}
        for spec in manifest.sources:
            if spec.loader in ("hf", "generator"):
                continue  # hub rows are not on disk; a generator has no rows
            if spec.loader == "table":
                ex.files.add(resolve_path(spec, base_dir).resolve())
                seen[spec.name] = "table"
                continue
            path = resolve_path(spec, base_dir).resolve()
            if path not in read:
                _, rows = open_source(spec, base_dir)
                n = 0
                for _, row in rows:
                    for q in row_questions(row):
                        ex.questions.add(norm_question(q))
                        n += 1
                read[path] = n
            seen[spec.name] = read[path]
        ex.by_recipe[name] = seen
    return ex
