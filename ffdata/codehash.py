"""The code that shapes a set's bytes, as a digest for its fingerprint.

A builder's rows are shaped by more than its own file: generators, cleaning, templates,
tokenization, the decontamination rules and the writer. Bumping a VERSION by hand for each of
them is a promise nobody keeps, so the fingerprint hashes the source of the builder, of the build
runner, and of every project module either one imports (directly or through another project
module, at top level or inside a function). The closure is found by reading the import
statements (ast), not by importing, so it does not depend on what a process happened to load.

Parsing ~26 files costs ~0.2 s, every build: a file's import list is kept in the local cache
($FFDATA_CACHE/codehash), keyed by the file's sha256 and its place in the package (what a
relative import resolves against), so a file is parsed again only when its bytes change.
"""

import ast
import json
import os
import tempfile
from functools import cache
from pathlib import Path

from ffdata.hashing import sha256_bytes, sha256_json
from ffdata.storage import default_cache_dir

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("builders", "ffdata")  # project code a build can reach; ffllm is the trainer's
# Data files a module reads that shape bytes as much as its code does (the eval-set bundle is
# hashed separately, as the decontamination input).
MODULE_DATA = {"ffdata/tokenizer.py": "ffdata/data/tokenizer"}


def _module_file(name: str, root: Path) -> Path | None:
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = root.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _package_inits(name: str, root: Path) -> list[Path]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = name.split(".")
    inits = (root.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts)))
    return [p for p in inits if p.is_file()]


SCANNER_VERSION = 1  # bump when _scan_imports changes what it returns


def _imports(path: Path, root: Path) -> set[str]:
    """Names of the project modules `path` imports: from the cache when its bytes were scanned
    before (in its place in the package), else scanned and stored."""
    package = path.relative_to(root).with_suffix("").parts[:-1]  # a/b/c.py and a/b/__init__.py: a.b
    key = sha256_json([SCANNER_VERSION, list(package), _digest(path)])
    cached = default_cache_dir() / "codehash" / f"{key}.json"
    try:
        return set(json.loads(cached.read_text()))
    except (OSError, ValueError):  # not cached yet, or a damaged entry: scan again
        pass
    names = _scan_imports(path.read_bytes(), package, path)
    try:  # atomically: builds running at once may store the same entry
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(sorted(names), f)
        os.replace(tmp, cached)
    except OSError:  # a read-only cache costs time, not correctness
        pass
    return names


def _scan_imports(data: bytes, package: tuple[str, ...], path: Path) -> set[str]:
    """Names of the project modules a source file imports (absolute and relative imports)."""
    names = set()
    for node in ast.walk(ast.parse(data, filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            # `from pkg import mod` may name a module as well as an attribute
            names.update(f"{base}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def module_closure(modules: list[str], root: Path = PROJECT_DIR) -> list[Path]:
    """Every project source file the given modules reach through imports, sorted."""
    seen: set[Path] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        path = _module_file(name, root)
        if path is None:
            continue
        for p in [*_package_inits(name, root), path]:
            if p not in seen:
                seen.add(p)
                todo.extend(_imports(p, root))
    return sorted(seen)


@cache
def _file_digest(path: Path, mtime_ns: int, size: int) -> str:
    return sha256_bytes(path.read_bytes())


def _digest(path: Path) -> str:
    st = path.stat()
    return _file_digest(path, st.st_mtime_ns, st.st_size)


def code_digest(builder: str, root: Path = PROJECT_DIR) -> dict:
    """{"digest": sha256, "files": {relative path: sha256}} of the builder and the runner."""
    files = {}
    paths = module_closure([f"builders.{builder}", "ffdata.build"], root)
    for path in list(paths):
        data = MODULE_DATA.get(path.relative_to(root).as_posix())
        if data:
            paths += sorted(p for p in (root / data).rglob("*") if p.is_file())
    for path in paths:
        files[path.relative_to(root).as_posix()] = _digest(path)
    return {"digest": sha256_json(files), "files": files}
