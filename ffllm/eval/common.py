"""What every evaluation shares: finding a checkpoint's weights, loading it, saving results.

A checkpoint is a Hugging Face export folder (config.json, *.safetensors, tokenizer files), the
layout the trainer writes under `<root>/runs/<run>/hf/ckpt-<step>/`. Results are saved next to
the weights, in `<ckpt>/eval/<name>.json`, keyed by the weights' sha256 so a re-run of a sweep
reuses them and a changed checkpoint is evaluated again.
"""

import json
import os
from pathlib import Path

from ffdata.errors import FFDataError
from ffdata.hashing import sha256_file, sha256_json

EVAL_DIR = "eval"


def check_checkpoint(ckpt: str | Path) -> Path:
    ckpt = Path(ckpt)
    if not (ckpt / "config.json").exists():
        raise FFDataError(f"{ckpt}: not a checkpoint (no config.json)")
    if not weight_files(ckpt):
        raise FFDataError(f"{ckpt}: checkpoint has no *.safetensors weights")
    return ckpt


def weight_files(ckpt: Path) -> list[Path]:
    return sorted(Path(ckpt).glob("*.safetensors"))


def weights_sha256(ckpt: str | Path) -> str:
    """One digest for the weights, however many shards they are split into."""
    ckpt = check_checkpoint(ckpt)
    return sha256_json({p.name: sha256_file(p) for p in weight_files(ckpt)})


def set_offline_env() -> None:
    """No hub: everything an evaluation reads is on disk (set only if the user has not)."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM"):
        os.environ.setdefault(var, "1" if var != "TOKENIZERS_PARALLELISM" else "false")


def load_model(ckpt: str | Path, device: str = "cpu", dtype: str = "float32"):
    """(model, tokenizer) ready for inference; the tokenizer falls back to the bundled GPT-2."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ffdata.tokenizer import hf_tokenizer

    ckpt = check_checkpoint(ckpt)
    set_offline_env()
    model = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=getattr(torch, dtype))
    model.to(device).eval()
    if (ckpt / "tokenizer.json").exists() or (ckpt / "vocab.json").exists():
        tok = AutoTokenizer.from_pretrained(str(ckpt))
    else:
        tok = hf_tokenizer()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def result_path(ckpt: str | Path, name: str) -> Path:
    return Path(ckpt) / EVAL_DIR / f"{name}.json"


def load_result(ckpt: str | Path, name: str, expect: dict) -> dict | None:
    """A saved result whose weights and settings match `expect`, else None."""
    path = result_path(ckpt, name)
    if not path.exists():
        return None
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FFDataError(f"{path}: malformed result JSON: {e.msg}") from None
    if any(res.get(k) != v for k, v in expect.items()):
        return None
    return res


def write_json_atomic(path: Path, obj: dict) -> None:
    """Write, then rename: a reader (or a rerun after a kill) sees the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def save_result(ckpt: str | Path, name: str, result: dict) -> Path:
    path = result_path(ckpt, name)
    write_json_atomic(path, result)
    return path


def pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"
