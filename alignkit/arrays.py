"""Array coercion and row normalisation, shared by every stage.

Two coercions with two contracts, side by side so neither is re-invented:

* `as_tensor_matrix` (the similarity metrics): a numpy array or torch tensor -> a 2-D real
  tensor of a given dtype on a given device, copying only when conversion needs it; anything
  else (lists, object or complex arrays, 1-D or 3-D input) is refused with ``error``. Finiteness
  is the caller's check, so its message can name the metric.
* `as_finite_array` (evaluation and baselines): any array-like or tensor -> a finite float32
  (N, D) numpy array, or ``error`` (a ValueError by default) saying what is wrong.

`l2_normalize` scales rows to unit length, for numpy arrays and torch tensors alike.
torch is imported only when a tensor is asked for, so numpy-only callers stay light.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_tensor_matrix(a: Any, *, name: str, device: Any, dtype: Any, error: type[Exception] = ValueError) -> "torch.Tensor":  # noqa: F821
    """``a`` (numpy array or torch tensor) as a 2-D tensor of ``dtype`` on ``device``."""
    import torch

    if isinstance(a, torch.Tensor):
        t = a.detach()
    elif isinstance(a, np.ndarray):
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise error(f"{name} has dtype {a.dtype}; pass a numeric (float) feature matrix")
        t = torch.from_numpy(np.ascontiguousarray(a))
    else:
        raise error(f"{name} is a {type(a).__name__}; pass a numpy array or a torch tensor")
    if t.ndim != 2:
        raise error(f"{name} has shape {tuple(t.shape)}; pass a 2-D (rows, features) matrix")
    if t.is_complex() or t.dtype == torch.bool:
        raise error(f"{name} has dtype {t.dtype}; pass a real-valued feature matrix")
    return t.to(device=device, dtype=dtype)


def as_finite_array(x: Any, name: str, error: type[Exception] = ValueError) -> np.ndarray:
    """A torch tensor or array-like -> a finite float32 (N, D) array, or a clear ``error``."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy()
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2:
        raise error(f"{name} must be a 2-D (N, D) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise error(f"{name} holds NaN or infinite values; the model or features are broken")
    return arr


def l2_normalize(x: Any, eps: float = 1e-12, dtype: Any = None) -> Any:
    """Rows scaled to unit length; rows with norm below ``eps`` are divided by ``eps`` (zero rows
    stay zero). A tensor stays a tensor on its device; anything else becomes a numpy array of
    ``dtype`` (its own dtype when None)."""
    if hasattr(x, "detach"):
        return x / x.norm(dim=1, keepdim=True).clamp_min(eps)
    x = np.asarray(x, dtype=dtype)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)
