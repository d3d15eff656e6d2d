"""`ffllm publish CKPT`: copy the champion to `champions/` with a generated model card.

Works on both storage backends (a local folder or s3://bucket/prefix, `ffdata.storage`), and
switches champions the way sets switch generations (docs/architecture.md), so a reader never
sees half a champion:

1. the files go to a new generation folder `champions/g-<n>/`, `champion.json` last (it names
   the source checkpoint, its weights sha256 and every file's sha256);
2. `champions/_current.json` ({"generation", "record_sha256"}) is replaced in one atomic write
   (local: temp file and rename; S3: one PUT): readers switch here;
3. local roots: `champions/latest` is a symlink to that generation, replaced by one rename, so
   `from_pretrained("champions/latest")` loads the old champion or the new one, whole;
4. the other generations (the old champion, any a killed publish left) are removed.

A publish killed before step 2 leaves the old champion current and a folder the next publish
removes. On S3 read the champion through `_current.json` (`current_champion`).
"""

import json
import os
import re
import shutil
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_bytes, sha256_file
from ffdata.storage import LocalStorage, fault_point, open_storage
from ffllm.card import build_card, training_stages
from ffllm.eval.common import check_checkpoint, weights_sha256
from ffllm.sweep import SWEEP_JSON

CHAMPIONS = "champions"
CHAMPION_PREFIX = "champions/latest"  # local roots: a symlink to the current generation
CURRENT = "champions/_current.json"
CHAMPION_RECORD = "champion.json"
CARD = "README.md"
_GENERATION = re.compile(r"^champions/(g-(\d+))/")


def _put(storage, local: Path, key: str) -> None:
    """Copy one file onto storage without reading multi-GB weights into memory."""
    if isinstance(storage, LocalStorage):
        target = storage.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
    else:
        storage.upload_file(local, key)


def find_sweep(ckpt: Path, sweep_path: str | Path | None) -> dict | None:
    """The sweep that chose this checkpoint: --sweep, else sweep.json of its run."""
    if sweep_path:
        path = Path(sweep_path)
        if not path.exists():
            raise FFDataError(f"{path}: sweep file not found")
    else:
        path = ckpt.resolve().parent.parent / SWEEP_JSON
        if not path.exists():
            return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FFDataError(f"{path}: malformed sweep JSON: {e.msg}") from None


def generations(storage) -> dict[str, int]:
    """The champion generation folders present, finished or not: name -> number."""
    found = {}
    for key in storage.list(CHAMPIONS):
        if m := _GENERATION.match(key):
            found[m[1]] = int(m[2])
    return found


def current_champion(root=None) -> tuple[str, dict] | None:
    """(prefix, champion.json) of the published champion, through `_current.json`; None when
    nothing is published. A record that does not match the pointer's sha256 is an error."""
    storage = open_storage(root)
    if not storage.exists(CURRENT):
        return None
    pointer = json.loads(storage.read_bytes(CURRENT))
    prefix = f"{CHAMPIONS}/{pointer['generation']}"
    data = storage.read_bytes(f"{prefix}/{CHAMPION_RECORD}")
    if sha256_bytes(data) != pointer["record_sha256"]:
        raise FFDataError(f"{storage.describe(CURRENT)}: {prefix}/{CHAMPION_RECORD} does not match")
    return prefix, json.loads(data)


def _switch_link(link: Path, generation: str) -> None:
    """Point the `latest` symlink at `generation` in one rename (a plain `latest` folder from
    before generations is moved aside first, once)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(generation, tmp)
    if link.is_dir() and not link.is_symlink():
        old = link.with_name(f".{link.name}.{os.getpid()}.old")
        os.replace(link, old)
        shutil.rmtree(old)
    os.replace(tmp, link)


def publish(
    ckpt: str | Path,
    root=None,
    sweep_path: str | Path | None = None,
    name: str | None = None,
) -> dict:
    ckpt = check_checkpoint(ckpt)
    storage = open_storage(root)
    sweep = find_sweep(ckpt, sweep_path)
    if (
        sweep
        and sweep.get("champion_path")
        and Path(sweep["champion_path"]).resolve() != ckpt.resolve()
    ):
        # Publishing something the rule did not choose is allowed (a merge, say), but say so.
        print(f"note: the sweep's champion is {sweep['champion']}, publishing {ckpt} instead")
    card = build_card(ckpt, storage, sweep, name)
    files = sorted(
        p for p in ckpt.rglob("*") if p.is_file() and p.name not in (CARD, CHAMPION_RECORD)
    )
    record = {
        "source": str(ckpt),
        "weights_sha256": weights_sha256(ckpt),
        "sweep_champion": sweep.get("champion") if sweep else None,
        "stages": [
            {
                k: v
                for k, v in s.items()
                if k in ("kind", "name", "stage", "checkpoint", "t", "a", "b")
            }
            | ({"sets": {r: x["fingerprint"] for r, x in s["sets"].items()}} if "sets" in s else {})
            for s in training_stages(ckpt, storage)
        ],
        "files": {p.relative_to(ckpt).as_posix(): sha256_file(p) for p in files},
    }
    found = generations(storage)
    generation = f"g-{max(found.values(), default=0) + 1}"  # never a leftover's folder
    prefix = f"{CHAMPIONS}/{generation}"
    for p in files:
        _put(storage, p, f"{prefix}/{p.relative_to(ckpt).as_posix()}")
        fault_point("champion-put")  # test hook: killed half way through the copy
    storage.write_bytes(f"{prefix}/{CARD}", card.encode("utf-8"))
    record["files"][CARD] = sha256_bytes(card.encode("utf-8"))
    data = (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8")
    storage.write_bytes(f"{prefix}/{CHAMPION_RECORD}", data)
    fault_point("champion-switch")  # test hook: killed with the new generation whole, unswitched
    pointer = {"generation": generation, "record_sha256": sha256_bytes(data)}
    storage.write_bytes(CURRENT, (json.dumps(pointer, sort_keys=True) + "\n").encode("utf-8"))
    if isinstance(storage, LocalStorage):
        _switch_link(storage.path(CHAMPION_PREFIX), generation)
        prefix = CHAMPION_PREFIX
    for old in found:
        storage.delete_prefix(f"{CHAMPIONS}/{old}")
    return {"uri": storage.describe(prefix), "record": record, "card": card}
