"""Next-token cross-entropy that never materializes the full logits tensor.

With a 50,257-token vocabulary the logits of one micro batch (16 × 1024 tokens) are 1.6 GB in
bf16 and 3.3 GB once upcast to fp32, and autograd would keep them for the backward pass. Here
the LM head and the loss run chunk by chunk, and the gradients of each chunk are computed right
away (the softmax minus the one-hot target), so only one chunk of logits exists at a time and
nothing of them survives the forward pass. This is the "fused linear cross-entropy" trick.
"""

import torch

IGNORE = -100  # labels with this value (prompt, padding) carry no loss


def shift_targets(labels: torch.Tensor) -> torch.Tensor:
    """Position t predicts token t+1; the last position has nothing to predict."""
    pad = torch.full_like(labels[:, :1], IGNORE)
    return torch.cat([labels[:, 1:], pad], dim=1)


class _LinearCrossEntropy(torch.autograd.Function):
    """Sum of the losses over the labelled positions; the gradients are computed in the forward
    pass, for the inputs that need one only (none under no_grad; not the head's when it is
    frozen, as in LoRA)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk, grad_hidden_on, grad_weight_on):
        loss_sum = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if grad_hidden_on else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if grad_weight_on else None
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk]
            t = targets[start : start + chunk]
            keep = (t != IGNORE).unsqueeze(1)
            safe_t = t.clamp(min=0).unsqueeze(1)
            logits = (h @ weight.t()).float()
            lse = torch.logsumexp(logits, dim=1, keepdim=True)
            loss_sum += ((lse - logits.gather(1, safe_t)) * keep).sum()
            if grad_hidden_on or grad_weight_on:
                # d(sum of losses)/d(logits) = softmax - one_hot(target), zero where ignored
                probs = logits.sub_(lse).exp_()
                probs.scatter_add_(1, safe_t, -torch.ones_like(safe_t, dtype=probs.dtype))
                g = probs.mul_(keep).to(h.dtype)
                if grad_hidden_on:
                    grad_hidden[start : start + chunk] = g @ weight
                if grad_weight_on:
                    grad_weight += (g.t() @ h).float()
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return loss_sum

    @staticmethod
    def backward(ctx, grad_out):
        grad_hidden, grad_weight = ctx.saved_tensors
        if grad_hidden is not None:
            grad_hidden = grad_hidden * grad_out.to(grad_hidden.dtype)
        if grad_weight is not None:
            grad_weight = (grad_weight * grad_out).to(ctx.weight_dtype)
        return grad_hidden, grad_weight, None, None, None, None


def labelled_count(labels: torch.Tensor) -> torch.Tensor:
    """Positions that carry a loss (their next token is labelled)."""
    return (shift_targets(labels) != IGNORE).sum()


def chunked_lm_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    chunk: int = 4096,
    denominator: torch.Tensor | None = None,
) -> torch.Tensor:
    """Next-token loss summed over labelled positions, divided by `denominator` (default: their
    number, the mean); hidden (B, T, d), labels (B, T).

    The trainer passes the labelled-token count of the whole optimizer step (all micro batches,
    all ranks), so that every token of a step weighs the same (ffllm.train.step).
    """
    targets = shift_targets(labels).reshape(-1)
    hidden = hidden.reshape(-1, hidden.shape[-1])
    if denominator is None:
        denominator = (targets != IGNORE).sum().clamp(min=1)  # a tensor: no host sync
    if not hidden.is_cuda:
        # SFT prompts carry no loss (repair items: ~90% of the tokens), so on CPU the LM head
        # runs on labelled positions only. Not on a GPU: the boolean index would sync the host.
        keep = targets != IGNORE
        hidden, targets = hidden[keep], targets[keep]
    # Inside an autograd.Function's forward grad mode is always off: decide here.
    grad_on = torch.is_grad_enabled()
    loss_sum = _LinearCrossEntropy.apply(
        hidden,
        weight,
        targets,
        chunk,
        grad_on and hidden.requires_grad,
        grad_on and weight.requires_grad,
    )
    return loss_sum / denominator


def reference_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The plain formulation (full fp32 logits), for tests and the baseline."""
    targets = shift_targets(labels).reshape(-1)
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets, ignore_index=IGNORE
    )
