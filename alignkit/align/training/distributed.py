"""Process-group helpers: rank, world size, and an all_gather that keeps gradients.

Under torchrun each rank holds a slice of the global batch. The contrastive loss must see
every rank's features as negatives, and the gradient that lands on another rank's slice
must travel back to it; ``gather_with_grad`` does both, so the data-parallel run computes
the same update as one process holding the whole batch.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Callable

import torch
import torch.distributed as dist

# how long ranks wait for rank 0 to finish one-off work (embedding a data set) before giving up
WAIT_TIMEOUT = timedelta(hours=48)
_wait_group: Any = None


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def init_from_env(timeout: timedelta | None = None) -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1); return whether we did.
    ``timeout`` bounds the training collectives (torch's default when None)."""
    if is_distributed() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return is_distributed()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, **({"timeout": timeout} if timeout else {}))
    join_wait_group()
    return True


def join_wait_group() -> None:
    """Create (on every rank, while all are together) the CPU group ``rank0_first`` waits on.
    Its long timeout is its own: the training group keeps NCCL's short one, which still
    catches a rank that hangs inside a step."""
    global _wait_group
    if world_size() > 1 and _wait_group is None:
        _wait_group = dist.new_group(backend="gloo", timeout=WAIT_TIMEOUT)


def rank0_first(work: Callable[[], Any]) -> None:
    """Run ``work`` on rank 0 while the other ranks wait for it, however long it takes (up to
    ``WAIT_TIMEOUT``): rank 0 embedding a large data set must not trip the training group's
    timeout (NCCL's default is 10 minutes) on ranks idling at a barrier."""
    if rank() == 0:
        work()
    if world_size() > 1:
        join_wait_group()
        dist.barrier(group=_wait_group)


class _GatherWithGrad(torch.autograd.Function):
    """Forward: concatenate every rank's (B, D) slice. Backward: sum the gradient of the
    full tensor over ranks and hand each rank its own slice (every rank's loss may depend on
    every slice)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.size = dist.get_rank(), x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.size : (ctx.rank + 1) * ctx.size]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All ranks' slices in rank order (equal slice sizes); identity in one process."""
    if world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """All ranks' slices of a tensor that needs no gradient (e.g. pair ids)."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def mean_over_ranks(value: float, device: torch.device | str = "cpu") -> float:
    """Average a Python number over ranks (for logging the global loss)."""
    if world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / world_size()
