"""Small array helpers shared by the evaluation modules."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_matrix(x: Any, name: str) -> np.ndarray:
    """A torch tensor or array-like -> a finite float32 (N, D) array, or a clear ValueError."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy()
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values; the model or features are broken")
    return arr


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)
