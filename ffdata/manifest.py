"""Declarative set manifests: pydantic v2 models loaded from YAML with a strict safe loader.

Unknown keys are errors, and every validation error names the manifest file, the field path
and what was expected. The loader also refuses duplicate keys (YAML would keep the last one
silently) and aliases (`*name`: an alias bomb expands to billions of nodes), naming the line.
A builder may declare its `targets` and `options` as pydantic models (module attributes
TARGETS / OPTIONS, built from `Count` and `Strict`): `check_builder_keys` validates them before
the build reads anything, so a misspelt key (`row:`), a count of -5, 10.5, "100" or 1e12 stops
the build instead of shaping it; `check_shortfall` refuses a set with fewer rows than its
targets ask (TARGETS.rows_asked).
"""

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from ffdata.errors import FFDataError

# Counts in a manifest are plain integers (not 10.5, "100" or true) with a sane upper bound,
# checked before anything is allocated: a typo of 1e12 must not grow a list until the box dies.
MAX_COUNT = 100_000_000
Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
PositiveCount = Annotated[StrictInt, Field(gt=0, le=MAX_COUNT)]

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
    count: Count | None = None
    fraction: float | None = Field(default=None, ge=0, le=1)
    weight: float | None = Field(default=None, ge=0)
    adapter: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    # A row whose fields have the wrong type (ffdata.layouts): quarantined as `malformed:<field>`
    # (unset or "drop"), or the build stops at `file:line: field ... is null` ("error"; the
    # layout is `adapter`, or the source name).
    on_malformed: Literal["drop", "error"] | None = None
    # Rows over these limits are quarantined (too_large, too_deep); unset: ffdata.sources defaults
    max_row_bytes: Annotated[StrictInt, Field(gt=0, le=1 << 30)] | None = None
    max_depth: Annotated[StrictInt, Field(gt=0, le=200)] | None = None

    @model_validator(mode="after")
    def _check_loader_fields(self):
        if self.on_malformed == "error":
            from ffdata.layouts import LAYOUTS

            if (self.adapter or self.name) not in LAYOUTS:
                raise ValueError(
                    "on_malformed 'error' checks the row layout named by 'adapter' (or the "
                    f"source name), one of {sorted(LAYOUTS)}; got {self.adapter or self.name!r}"
                )
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
    rows_per_shard: PositiveCount = 50_000
    root: str | None = None  # default storage root; the CLI's --root wins

    @field_validator("path")
    @classmethod
    def _inside_the_root(cls, path: str) -> str:
        parts = path.split("/")
        if not all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", p) for p in parts):
            raise ValueError("must be folder names under the storage root (no '..', '/', '*')")
        return path


class DecontamSpec(Strict):
    targets: list[str] = Field(
        default_factory=lambda: ["mmlu", "arc", "gsm8k", "hellaswag", "truthfulqa"]
    )
    action: Literal["drop", "report"] = "drop"
    fields: list[str] = Field(default_factory=lambda: ["instruction", "response"])


class ErrataSpec(Strict):
    path: str  # CSV of known source errors and their corrections (ffdata.errata)
    sha256: str


class ShortcutSpec(Strict):
    """The build fails when an answer-blind baseline (ffdata.shortcuts) beats chance by more
    than max_gain on a pool of at least min_items items."""

    max_gain: float = Field(default=0.05, ge=0, le=1)
    min_items: int = Field(default=50, ge=1)


class Manifest(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    version: str
    # a module of builders/ (defaults to the set name): a plain name, never a dotted path
    builder: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str = ""
    seed: StrictInt = 0
    sources: list[SourceSpec] = Field(default_factory=list)
    targets: dict[str, Any] = Field(default_factory=dict)  # builder-specific quotas
    options: dict[str, Any] = Field(default_factory=dict)  # builder-specific switches
    output: OutputSpec
    decontamination: DecontamSpec = Field(default_factory=DecontamSpec)
    errata: ErrataSpec | None = None
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


def _describe(err: dict, prefix: str = "") -> str:
    loc = prefix + ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    if err["type"] == "missing":
        return f"{loc}: required field is missing"
    got = repr(err.get("input"))
    got = got if len(got) <= 80 else got[:77] + "..."
    return f"{loc}: {err['msg']} (got {got})"


def validate(model: type[BaseModel], data: Any, origin: str, what: str = "manifest", prefix=""):
    """Validate YAML data into `model`; errors name the file and every bad field path
    (`prefix`: where `data` sits in the file, e.g. "targets.")."""
    if not isinstance(data, dict):
        raise FFDataError(f"{origin}: a {what} must be a YAML mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(_describe(err, prefix) for err in e.errors())
        raise FFDataError(f"{origin}: invalid {what}: {problems}") from None


class _Refused(Exception):
    def __init__(self, mark, message: str):
        super().__init__(f"line {mark.line + 1}: {message}")


class StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader without aliases and duplicate keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(event.start_mark, f"alias *{event.anchor} (aliases are not allowed)")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # unhashable: SafeLoader reports it
            if key in seen:
                raise _Refused(key_node.start_mark, f"duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, what: str = "manifest") -> Any:
    path = Path(path)
    if not path.exists():
        raise FFDataError(f"{path}: {what} not found")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=StrictLoader)  # noqa: S506
    except UnicodeDecodeError as e:
        raise FFDataError(f"{path}: not valid UTF-8 at byte {e.start}") from None
    except _Refused as e:
        raise FFDataError(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        raise FFDataError(f"{path}: YAML error: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise FFDataError(f"{path}: YAML nested too deeply") from None


def parse_manifest(data: Any, origin: str) -> Manifest:
    return validate(Manifest, data, origin)


def load_manifest(path: str | Path) -> Manifest:
    return parse_manifest(read_yaml(path), str(path))


class SourceOptions(Strict):
    """A source's `options` every builder accepts; builders extend it (SOURCE_OPTIONS)."""

    load_kwargs: dict[str, Any] = {}  # extra datasets.load_dataset arguments (ffdata.sources)


def check_builder_keys(manifest: Manifest, builder, origin: str) -> None:
    """Validate `targets`, `options` and each source's `options` against the builder's TARGETS /
    OPTIONS / SOURCE_OPTIONS models (when it declares them): unknown keys and bad counts are
    errors naming the file and the key."""
    for section, attr in (("targets", "TARGETS"), ("options", "OPTIONS")):
        model = getattr(builder, attr, None)
        if model is not None:
            validate(model, getattr(manifest, section), origin, section, prefix=f"{section}.")
    model = getattr(builder, "SOURCE_OPTIONS", None)
    for i, source in enumerate(manifest.sources if model is not None else ()):
        validate(model, source.options, origin, "source options", prefix=f"sources.{i}.options.")


def check_shortfall(
    manifest: Manifest, builder, rows: int, origin: str, dropped: dict | None = None
) -> None:
    """A set must hold rows, and at least as many as its targets ask (TARGETS.rows_asked);
    `dropped` (reason -> rows) says where the missing rows went."""
    model = getattr(builder, "TARGETS", None)
    want = None
    if model is not None and hasattr(model, "rows_asked"):
        want = model.model_validate(manifest.targets).rows_asked()
    if rows > 0 and (want is None or rows >= want):
        return
    asked = f"its targets ask for {want:,} ({want - rows:,} short)" if want else "no row at all"
    top = sorted((dropped or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    why = "; dropped: " + ", ".join(f"{r} {n:,}" for r, n in top) if top else ""
    raise FFDataError(
        f"{origin}: set {manifest.name!r} built {rows:,} rows, {asked}{why}; nothing published"
    )


def project_dir(manifest_path: str | Path) -> Path:
    """The folder local source paths are relative to: the parent of `manifests/`."""
    path = Path(manifest_path).resolve()
    for parent in path.parents:
        if parent.name == "manifests":
            return parent.parent
    return path.parent
