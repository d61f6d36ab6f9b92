"""Paired comparison of two models on the same test items: is a difference beyond its noise?

Two models scored on the same items are correlated (easy items are easy for both), so their
difference is judged per item: the mean of ``hits_a - hits_b`` with a bootstrap interval that
resamples items (and, where several training seeds were run, seeds too). A difference whose
interval excludes zero is a win or a loss; otherwise it is a tie.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alignkit.errors import AlignkitError

LEVEL = 0.95
RESAMPLES = 2000


def _as_runs(hits: Any, name: str) -> np.ndarray:
    a = np.asarray(hits, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] == 0:
        raise AlignkitError(f"{name}: per-item scores must be (items,) or (seeds, items), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise AlignkitError(f"{name}: per-item scores hold non-finite values")
    return a


def paired_difference(hits_a: Any, hits_b: Any, *, resamples: int = RESAMPLES, level: float = LEVEL,
                      seed: int = 0) -> dict[str, float]:
    """Mean difference ``a - b`` over items (and seeds) with a paired bootstrap interval.

    ``hits_*`` are per-item scores (1/0 hits, or any per-item metric) of shape (items,) or
    (seeds, items); a model with one row (a deterministic baseline) is compared with every seed
    of the other. Each resample draws items with replacement and, when either side has several
    seeds, seeds with replacement too, so the interval covers both item and seed noise.
    """
    a, b = _as_runs(hits_a, "first model"), _as_runs(hits_b, "second model")
    if a.shape[1] != b.shape[1]:
        raise AlignkitError(f"paired comparison needs the same items: {a.shape[1]} vs {b.shape[1]}")
    if not 0 < level < 1 or resamples < 1:
        raise AlignkitError("level must be in (0, 1) and resamples at least 1")
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    diff = float(a.mean() - b.mean())
    stats = np.empty(resamples)
    for r in range(resamples):
        items = rng.integers(0, n, n)
        sa = a[rng.integers(0, len(a), len(a))] if len(a) > 1 else a
        sb = b[rng.integers(0, len(b), len(b))] if len(b) > 1 else b
        stats[r] = sa[:, items].mean() - sb[:, items].mean()
    tail = (1 - level) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return {"diff": diff, "low": float(low), "high": float(high), "level": level, "items": n,
            "seeds": max(len(a), len(b)), "resamples": resamples}


def call(interval: dict[str, float]) -> str:
    """``win`` when the interval lies above zero, ``loss`` below it, else ``tie``."""
    if interval["low"] > 0:
        return "win"
    if interval["high"] < 0:
        return "loss"
    return "tie"
