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
    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk):
        need_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        loss_sum = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if need_grad else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if need_grad else None
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk]
            t = targets[start : start + chunk]
            keep = (t != IGNORE).unsqueeze(1)
            safe_t = t.clamp(min=0).unsqueeze(1)
            logits = (h @ weight.t()).float()
            lse = torch.logsumexp(logits, dim=1, keepdim=True)
            loss_sum += ((lse - logits.gather(1, safe_t)) * keep).sum()
            if need_grad:
                # d(sum of losses)/d(logits) = softmax - one_hot(target), zero where ignored
                probs = logits.sub_(lse).exp_()
                probs.scatter_add_(1, safe_t, -torch.ones_like(safe_t, dtype=probs.dtype))
                g = probs.mul_(keep).to(h.dtype)
                grad_hidden[start : start + chunk] = g @ weight
                grad_weight += (g.t() @ h).float()
        count = (targets != IGNORE).sum().clamp(min=1)  # a tensor: no host sync
        if need_grad:
            ctx.save_for_backward(grad_hidden, grad_weight, count)
            ctx.weight_dtype = weight.dtype
        return loss_sum / count

    @staticmethod
    def backward(ctx, grad_out):
        grad_hidden, grad_weight, count = ctx.saved_tensors
        scale = grad_out / count
        return (
            grad_hidden * scale.to(grad_hidden.dtype),
            (grad_weight * scale).to(ctx.weight_dtype),
            None,
            None,
        )


def chunked_lm_loss(
    hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk: int = 4096
) -> torch.Tensor:
    """Mean next-token loss over labelled positions; hidden (B, T, d), labels (B, T)."""
    targets = shift_targets(labels).reshape(-1)
    hidden = hidden.reshape(-1, hidden.shape[-1])
    if not hidden.is_cuda:
        # SFT prompts carry no loss (repair items: ~90% of the tokens), so on CPU the LM head
        # runs on labelled positions only. Not on a GPU: the boolean index would sync the host.
        keep = targets != IGNORE
        hidden, targets = hidden[keep], targets[keep]
    return _LinearCrossEntropy.apply(hidden, weight, targets, chunk)


def reference_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The plain formulation (full fp32 logits), for tests and the baseline."""
    targets = shift_targets(labels).reshape(-1)
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets, ignore_index=IGNORE
    )
