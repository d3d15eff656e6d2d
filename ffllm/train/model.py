"""GPT-2 models: size presets, loading an HF checkpoint, the loss wrapper, FLOPs per token.

The model is transformers' GPT2LMHeadModel, so every checkpoint loads with
`AutoModelForCausalLM.from_pretrained` exactly as in the model card.
"""

from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from ffdata.errors import FFDataError
from ffdata.tokenizer import EOT_ID, VOCAB_SIZE
from ffllm.train.config import PRESETS
from ffllm.train.loss import chunked_lm_loss


def preset_config(name: str, dropout: float = 0.0) -> GPT2Config:
    if name not in PRESETS:
        raise FFDataError(f"unknown model preset {name!r} (presets: {sorted(PRESETS)})")
    return GPT2Config(
        vocab_size=VOCAB_SIZE,
        **PRESETS[name],
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=EOT_ID,
        eos_token_id=EOT_ID,
        pad_token_id=EOT_ID,
        use_cache=False,
    )


def build_model(
    preset: str | None, init: str | None, dropout: float = 0.0, device: str = "cpu"
) -> GPT2LMHeadModel:
    """A fresh preset (initialized from the device's RNG state) or an HF checkpoint.

    Presets are built on `device` directly: initializing 2B parameters on the CPU takes minutes.
    """
    if init is not None:
        path = Path(init)
        if not (path / "config.json").exists():
            raise FFDataError(f"{path}: not an HF checkpoint directory (no config.json)")
        model = AutoModelForCausalLM.from_pretrained(
            path, attn_implementation="sdpa", dtype=torch.float32
        )
        if model.config.model_type != "gpt2":
            raise FFDataError(f"{path}: model_type {model.config.model_type!r}, expected 'gpt2'")
        model.config.use_cache = False
        return model
    with torch.device(device):
        return GPT2LMHeadModel(preset_config(preset, dropout)).to(torch.float32)


def count_params(model: nn.Module) -> int:
    """Unique parameters (the tied embedding / LM head counts once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def flops_per_token(n_params: int, n_layer: int, n_embd: int, seq_len: int) -> float:
    """Training FLOPs per token: 6N for the matmuls plus 12·L·d·T for attention (PaLM, App. B)."""
    return 6 * n_params + 12 * n_layer * n_embd * seq_len


class LMWithLoss(nn.Module):
    """The GPT-2 body plus a loss head: forward(input_ids, labels[, denominator]) -> the
    next-token loss summed over labelled positions and divided by `denominator` (default: their
    number, the mean). The trainer passes the labelled-token count of the whole step.

    `chunked` runs the LM head and the loss in chunks (ffllm.train.loss); `hf` is the
    stock path (full logits), kept as the reference and the benchmark baseline.
    """

    def __init__(self, lm: GPT2LMHeadModel, loss: str = "chunked"):
        super().__init__()
        self.lm = lm
        self.loss = loss

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor, denominator: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.loss == "hf":  # HF sums and divides by num_items_in_batch when it is given
            return self.lm(input_ids=input_ids, labels=labels, num_items_in_batch=denominator).loss
        hidden = self.lm.transformer(input_ids=input_ids).last_hidden_state
        return chunked_lm_loss(hidden, self.lm.lm_head.weight, labels, denominator=denominator)
