"""SLERP merge of two checkpoints of the same architecture, tensor by tensor, in fp32.

For each floating tensor pair (a, b): normalize both by their norms and take the dot product
of the unit vectors. When the directions are nearly parallel (|dot| > 0.9995) spherical
interpolation is numerically unstable and plain linear interpolation is used; otherwise
    theta = arccos(dot),  out = sin((1-t)·theta)/sin(theta) · a + sin(t·theta)/sin(theta) · b
applied to the unnormalized tensors, so norms interpolate along with the direction.
t = 0 returns A and t = 1 returns B bit for bit. The result keeps A's dtype, config and
tokenizer, and loads with `AutoModelForCausalLM.from_pretrained`.
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ffdata.errors import FFDataError
from ffdata.hashing import canonical_json
from ffllm.eval.common import check_checkpoint, weight_files, weights_sha256

DOT_THRESHOLD = 0.9995
MERGE_RECORD = "merge.json"


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of two same-shape tensors, computed in fp32."""
    return slerp_with_method(a, b, t)[0]


def slerp_with_method(a: torch.Tensor, b: torch.Tensor, t: float) -> tuple[torch.Tensor, str]:
    """`slerp`, and which formula it took: endpoint, linear or spherical."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    if t == 0:
        return a.clone(), "endpoint"
    if t == 1:
        return b.clone(), "endpoint"
    a32, b32 = a.to(torch.float32), b.to(torch.float32)
    na, nb = a32.norm(), b32.norm()
    if na == 0 or nb == 0:  # no direction to follow: a zero tensor (e.g. an unused bias)
        return torch.lerp(a32, b32, t).to(a.dtype), "linear"
    dot = torch.dot((a32 / na).flatten(), (b32 / nb).flatten()).clamp(-1.0, 1.0)
    if dot.abs() > DOT_THRESHOLD:
        return torch.lerp(a32, b32, t).to(a.dtype), "linear"
    theta = torch.arccos(dot)
    sin_theta = torch.sin(theta)
    out = (torch.sin((1 - t) * theta) / sin_theta) * a32 + (torch.sin(t * theta) / sin_theta) * b32
    return out.to(a.dtype), "spherical"


def read_state(ckpt: Path) -> dict[str, torch.Tensor]:
    """Every tensor stored in the checkpoint's safetensors files (tied weights appear once)."""
    state: dict[str, torch.Tensor] = {}
    for path in weight_files(ckpt):
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                state[key] = f.get_tensor(key)
    return state


def merge_states(
    a: dict, b: dict, t: float, where: tuple[str, str] = ("A", "B"), methods: dict | None = None
) -> dict:
    """Merge two state dicts; `methods` (if given) counts tensors by the formula used."""
    methods = {} if methods is None else methods
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))
        raise FFDataError(f"{where[0]} and {where[1]}: different tensors, e.g. {only[:3]}")
    out = {}
    for key in sorted(a):
        ta, tb = a[key], b[key]
        if ta.shape != tb.shape:
            raise FFDataError(
                f"{where[1]}: tensor {key} has shape {tuple(tb.shape)}, "
                f"{where[0]} has {tuple(ta.shape)}"
            )
        if ta.is_floating_point():
            merged, method = slerp_with_method(ta, tb, t)
            out[key] = merged.contiguous()
        elif torch.equal(ta, tb):  # integer buffers (masks, ids) must agree, not blend
            out[key], method = ta.clone(), "copied"
        else:
            raise FFDataError(f"{where[1]}: non-float tensor {key} differs from {where[0]}")
        methods[method] = methods.get(method, 0) + 1
    return out


def check_out(out: Path, inputs: tuple[Path, Path], force: bool) -> None:
    """`out` is replaced whole, so it must not touch an input, even with --force (an --out
    above both inputs used to delete them), and an existing non-empty folder needs --force."""
    target = out.resolve()
    for ckpt in inputs:
        src = ckpt.resolve()
        if target == src:
            raise FFDataError(f"{out}: --out is the input {ckpt}; give a new folder")
        if target in src.parents:
            raise FFDataError(f"{out}: --out holds the input {ckpt}; give a new folder")
        if src in target.parents:
            raise FFDataError(f"{out}: --out lies inside the input {ckpt}; give a new folder")
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise FFDataError(f"{out}: exists and is not empty; pass --force to replace it")


def merge_checkpoints(
    a: str | Path, b: str | Path, t: float, out: str | Path, force: bool = False
) -> Path:
    """SLERP A→B at t; writes model.safetensors, A's config/tokenizer and merge.json to `out`
    (an existing non-empty `out` only with `force`; never one that is, holds or lies in an input).
    """
    if not 0 <= t <= 1:
        raise FFDataError(f"--t must be within [0, 1], got {t}")
    a, b, out = check_checkpoint(a), check_checkpoint(b), Path(out)
    check_out(out, (a, b), force)
    ca = json.loads((a / "config.json").read_text())
    cb = json.loads((b / "config.json").read_text())
    for k in ("model_type", "n_layer", "n_embd", "n_head", "vocab_size", "n_positions"):
        if ca.get(k) != cb.get(k):
            raise FFDataError(
                f"{b / 'config.json'}: field {k!r} is {cb.get(k)!r}, A has {ca.get(k)!r}"
            )
    methods: dict[str, int] = {}
    merged = merge_states(read_state(a), read_state(b), t, (str(a), str(b)), methods)
    if out.is_dir() and not out.is_symlink():
        shutil.rmtree(out)  # check_out: empty, or --force given
    elif out.exists() or out.is_symlink():
        out.unlink()
    out.mkdir(parents=True)
    for src in sorted(a.iterdir()):
        # config, generation config and tokenizer come from A; weights are the merge, and A's
        # eval/ folder (its scores, not the merge's) is a directory, so it stays behind.
        if (
            src.is_file()
            and not src.name.startswith("model.safetensors")
            and src.suffix != ".safetensors"
        ):
            shutil.copy2(src, out / src.name)
    save_file(merged, str(out / "model.safetensors"), metadata={"format": "pt"})
    record = {
        "method": "slerp",
        "t": t,
        "dot_threshold": DOT_THRESHOLD,
        "tensors": dict(sorted(methods.items())),  # how many took each formula
        "a": {"path": str(a), "weights_sha256": weights_sha256(a)},
        "b": {"path": str(b), "weights_sha256": weights_sha256(b)},
    }
    (out / MERGE_RECORD).write_text(json.dumps(json.loads(canonical_json(record)), indent=1) + "\n")
    return out
