"""One optimizer step in which every labelled token weighs the same.

A step is `accumulation` micro batches on each of `world` ranks. The loss of a micro batch is
its summed token loss divided by the labelled-token count of the whole step (counted on the
host, where the labels are, and all-reduced once per step). The micro losses of all ranks then
add up to the step's mean loss per labelled token, and their gradients to its gradient, however
the step is cut into micro batches, accumulation steps, ranks and padding.

DeepSpeed would rescale that sum twice: `engine.backward` divides the loss by the accumulation
steps (unless `scale_wrt_gas=False`), and ZeRO divides the reduced gradients by the number of
data-parallel ranks (unless `gradient_allreduce_op` is "sum", which ffllm.train.config sets).
With both off DeepSpeed adds the gradients of micro batches and ranks, which is what the sum
needs, with no compensating factor to round.
"""

import torch

from ffllm.train.loss import labelled_count


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A copy from pinned memory does not wait for the GPU; one from pageable memory can."""
    if device.type != "cuda":
        return t
    return t.pin_memory().to(device, non_blocking=True)


def step_token_count(batches, device: torch.device, world: int) -> torch.Tensor:
    """Labelled tokens of the whole step over all ranks: one all-reduce of one integer."""
    local = sum(int(labelled_count(b.labels)) for b in batches)  # host tensors: no device sync
    count = to_device(torch.tensor(local, dtype=torch.int64), device)
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(count)
    return count.clamp(min=1)  # a step without labelled tokens has loss 0, not 0/0


def optimizer_step(engine, batches, device: torch.device, world: int) -> torch.Tensor:
    """Forward and backward over this rank's micro batches of one step; DeepSpeed steps the
    optimizer after the last. Returns this rank's share of the step's mean loss (the shares of
    all ranks add up to it)."""
    count = step_token_count(batches, device, world)
    step_loss = torch.zeros((), device=device)
    for batch in batches:
        loss = engine(to_device(batch.input_ids, device), to_device(batch.labels, device), count)
        engine.backward(loss, scale_wrt_gas=False)
        engine.step()  # DeepSpeed steps the optimizer at the accumulation boundary only
        step_loss += loss.detach()
    return step_loss
