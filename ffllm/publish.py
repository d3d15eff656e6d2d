"""`ffllm publish CKPT`: copy the champion to `champions/latest/` with a generated model card.

Works on both storage backends (a local folder or s3://bucket/prefix, `ffdata.storage`). The
old champion is removed first and `champion.json` is written last, so a reader that finds
`champion.json` finds a complete model; it names the source checkpoint and its weights sha256.
"""

import json
import shutil
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_bytes, sha256_file
from ffdata.storage import LocalStorage, open_storage
from ffllm.card import build_card, training_stages
from ffllm.eval.common import check_checkpoint, weights_sha256
from ffllm.sweep import SWEEP_JSON

CHAMPION_PREFIX = "champions/latest"
CHAMPION_RECORD = "champion.json"
CARD = "README.md"


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


def publish(
    ckpt: str | Path,
    root=None,
    sweep_path: str | Path | None = None,
    name: str | None = None,
    prefix: str = CHAMPION_PREFIX,
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
    storage.delete_prefix(prefix)
    for p in files:
        _put(storage, p, f"{prefix}/{p.relative_to(ckpt).as_posix()}")
    storage.write_bytes(f"{prefix}/{CARD}", card.encode("utf-8"))
    record["files"][CARD] = sha256_bytes(card.encode("utf-8"))
    storage.write_bytes(
        f"{prefix}/{CHAMPION_RECORD}",
        (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8"),
    )
    return {"uri": storage.describe(prefix), "record": record, "card": card}
