"""Mixed precision for the trainer: bf16 or fp16 autocast (fp16 with a gradient scaler), or fp32.

``auto`` is bf16 on GPUs that support it, fp32 elsewhere (pre-Ampere GPUs have no fast bf16,
and on CPUs autocast is slower than float32). The heads run under autocast; the loss is
always computed in float32 outside it (see ``loop._Trainable``), so no reduction (the
SigLIP sum over a large batch) accumulates in 16 bits.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ContextManager

import torch

from alignkit.align.recipe import PRECISIONS
from alignkit.errors import AlignkitError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """One step's precision policy: the autocast context, and backward/step through a grad
    scaler when training in fp16 (small fp16 gradients would otherwise flush to zero)."""

    def __init__(self, name: str, device: torch.device):
        self.name, self.device = name, device
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" and _has_device(device) else None

    def autocast(self) -> ContextManager[Any]:
        if self.name == "fp32":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.name])

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring gradients back to their true scale (before clipping them)."""
        if self.scaler:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(optimizer)  # skips the step when the scaled gradients overflowed
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready scaler state (checkpointed, so an fp16 run resumes exactly)."""
        if not self.scaler:
            return {}
        return {k: float(v) if isinstance(v, torch.Tensor) else v for k, v in self.scaler.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)


def resolve_precision(name: str, device: torch.device) -> Precision:
    """The policy for ``--precision name`` on ``device``; refuses bf16 where the GPU lacks it."""
    if name not in PRECISIONS:
        raise AlignkitError(f"precision must be one of {', '.join(PRECISIONS)}; got {name!r}")
    if name == "auto":
        name = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise AlignkitError(
            f"{torch.cuda.get_device_name(device)} has no bf16 support; use --precision fp16 (with a gradient scaler) or fp32"
        )
    return Precision(name, device)


def _has_device(device: torch.device) -> bool:
    return device.type != "cuda" or torch.cuda.is_available()
