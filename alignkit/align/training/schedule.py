"""The optimiser's parameter groups and the learning-rate schedule of a training run."""

from __future__ import annotations

import math
from typing import Any

from torch import nn


def param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only: not on biases, norms or the temperature."""
    decay, no_decay = [], []
    for p in module.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(step: int, total: int, warmup_fraction: float) -> float:
    """Linear warmup, then cosine decay to zero."""
    warmup = int(total * warmup_fraction)
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
