"""Declarative set manifests: pydantic v2 models loaded from YAML with `yaml.safe_load`.

Unknown keys are errors, and every validation error names the manifest file, the field path
and what was expected.
"""

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ffdata.errors import FFDataError

LoaderKind = Literal["hf", "jsonl", "parquet", "csv", "table", "generator"]
# hub repo files a source may name (`files`), by type: the `datasets` builder that reads them
HUB_FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(Strict):
    name: str
    loader: LoaderKind
    path: str | None = None  # local file, relative to the project folder
    uri: str | None = None  # hub dataset id for loader "hf"
    subset: str | None = None  # hub config name
    split: str | None = None
    revision: str | None = None  # pinned hub commit for loader "hf"
    # loader "hf": files of the repo read as they are (sources.hub_file_urls)
    files: list[str] | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")  # pins a local file
    count: int | None = Field(default=None, ge=0)
    fraction: float | None = Field(default=None, ge=0, le=1)
    weight: float | None = Field(default=None, ge=0)
    adapter: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_loader_fields(self):
        if self.loader == "hf":
            if not self.uri:
                raise ValueError("loader 'hf' needs 'uri' (the hub dataset id)")
            if not self.revision:
                raise ValueError("loader 'hf' needs a pinned 'revision' (a hub commit)")
            if self.files is not None:
                if not self.files or self.subset:
                    raise ValueError("'files' names one or more repo files, and replaces 'subset'")
                kinds = {Path(f).suffix for f in self.files}
                if len(kinds) != 1 or not kinds <= set(HUB_FILE_BUILDERS):
                    raise ValueError(
                        f"'files' must share one of the types {sorted(HUB_FILE_BUILDERS)}, "
                        f"got {self.files}"
                    )
        elif self.files is not None:
            raise ValueError("'files' is for loader 'hf' (files of a hub repo)")
        if self.loader in ("jsonl", "parquet", "csv", "table"):
            if not self.path:
                raise ValueError(f"loader {self.loader!r} needs 'path'")
            if not self.sha256:
                raise ValueError(f"loader {self.loader!r} needs the file's 'sha256'")
        return self


class OutputSpec(Strict):
    path: str  # layout path under the storage root, e.g. "repair" or "sft/shards_v2"
    rows_per_shard: int = Field(default=50_000, gt=0)
    root: str | None = None  # default storage root; the CLI's --root wins


class DecontamSpec(Strict):
    targets: list[str] = Field(
        default_factory=lambda: ["mmlu", "arc", "gsm8k", "hellaswag", "truthfulqa"]
    )
    action: Literal["drop", "report"] = "drop"
    fields: list[str] = Field(default_factory=lambda: ["instruction", "response"])


class ShortcutSpec(Strict):
    """The build fails when an answer-blind baseline (ffdata.shortcuts) beats chance by more
    than max_gain on a pool of at least min_items items."""

    max_gain: float = Field(default=0.05, ge=0, le=1)
    min_items: int = Field(default=50, ge=1)


class Manifest(Strict):
    name: str
    version: str
    builder: str | None = None  # defaults to the set name
    description: str = ""
    seed: int = 0
    sources: list[SourceSpec] = Field(default_factory=list)
    targets: dict[str, Any] = Field(default_factory=dict)  # builder-specific quotas
    options: dict[str, Any] = Field(default_factory=dict)  # builder-specific switches
    output: OutputSpec
    decontamination: DecontamSpec = Field(default_factory=DecontamSpec)
    shortcuts: ShortcutSpec | None = None  # answer-blind baseline gate (docs/audits.md)

    @model_validator(mode="after")
    def _unique_sources(self):
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {dupes}")
        return self

    def source(self, name: str) -> SourceSpec:
        for s in self.sources:
            if s.name == name:
                return s
        raise FFDataError(f"manifest {self.name!r} has no source named {name!r}")


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    if err["type"] == "missing":
        return f"{loc}: required field is missing"
    return f"{loc}: {err['msg']} (got {err.get('input')!r})"


def validate(model: type[BaseModel], data: Any, origin: str, what: str = "manifest"):
    """Validate YAML data into `model`; errors name the file and every bad field path."""
    if not isinstance(data, dict):
        raise FFDataError(f"{origin}: a {what} must be a YAML mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(_describe(err) for err in e.errors())
        raise FFDataError(f"{origin}: invalid {what}: {problems}") from None


def read_yaml(path: str | Path, what: str = "manifest") -> Any:
    path = Path(path)
    if not path.exists():
        raise FFDataError(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise FFDataError(f"{path}: not valid UTF-8 at byte {e.start}") from None
    except yaml.YAMLError as e:
        raise FFDataError(f"{path}: YAML error: {str(e).splitlines()[0]}") from None


def parse_manifest(data: Any, origin: str) -> Manifest:
    return validate(Manifest, data, origin)


def load_manifest(path: str | Path) -> Manifest:
    return parse_manifest(read_yaml(path), str(path))


def project_dir(manifest_path: str | Path) -> Path:
    """The folder local source paths are relative to: the parent of `manifests/`."""
    path = Path(manifest_path).resolve()
    for parent in path.parents:
        if parent.name == "manifests":
            return parent.parent
    return path.parent
