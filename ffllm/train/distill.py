"""Logit distillation, the optional half of the `distill` stage.

The distill stage trains on teacher answers stored as SFT rows (distill_v3); with a `distill:`
section in the run manifest the student also matches the teacher's whole next-token
distribution on those response tokens:

    loss = (1 - alpha) · CE(student, labels) + alpha · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

The T² keeps the soft term's gradient scale independent of the temperature (Hinton et al., 2015).
Prompt and padding positions count in neither term. The teacher runs in eval mode without
gradients and is kept out of the module tree, so DeepSpeed neither optimizes nor checkpoints
it: a resumed run loads it again from its folder.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ffdata.errors import FFDataError
from ffllm.train.loss import IGNORE, shift_targets


def response_logits(lm, input_ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """fp32 logits at the positions in `keep` only (N × vocab): the prompt never meets the head."""
    hidden = lm.transformer(input_ids=input_ids).last_hidden_state
    return (hidden[keep] @ lm.lm_head.weight.t()).float()


def distill_terms(
    student: torch.Tensor,
    teacher: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    denominator: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CE on the targets and T²-scaled KL(teacher ‖ student), summed over the N positions and
    divided by `denominator` (default N: the means; the trainer passes the step's count)."""
    n = max(targets.numel(), 1) if denominator is None else denominator
    ce = F.cross_entropy(student, targets, reduction="sum") / n
    kl = F.kl_div(
        F.log_softmax(student / temperature, dim=-1),
        F.log_softmax(teacher / temperature, dim=-1),
        log_target=True,
        reduction="sum",
    )
    return ce, kl * temperature**2 / n


class DistillLM(nn.Module):
    """forward(input_ids, labels) -> the mixed loss; the student (`lm`) is the only submodule."""

    def __init__(self, lm, teacher, alpha: float, temperature: float):
        super().__init__()
        if teacher.config.vocab_size != lm.config.vocab_size:
            raise FFDataError(
                f"distill.teacher: vocabulary {teacher.config.vocab_size} differs from the "
                f"student's {lm.config.vocab_size}"
            )
        self.lm = lm
        self.alpha = alpha
        self.temperature = temperature
        # In a tuple, not an attribute: nn.Module would register it as a trainable submodule.
        self._teacher = (teacher.eval().requires_grad_(False),)

    @property
    def teacher(self):
        return self._teacher[0]

    def terms(self, input_ids: torch.Tensor, labels: torch.Tensor, denominator=None):
        targets = shift_targets(labels)
        keep = targets != IGNORE
        student = response_logits(self.lm, input_ids, keep)
        with torch.no_grad():
            teacher = response_logits(self.teacher, input_ids, keep)
        return distill_terms(student, teacher, targets[keep], self.temperature, denominator)

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor, denominator: torch.Tensor | None = None
    ) -> torch.Tensor:
        ce, kl = self.terms(input_ids, labels, denominator)
        return (1 - self.alpha) * ce + self.alpha * kl
