"""Input checks shared by every similarity metric.

One place turns numpy arrays or torch tensors into tensors on the requested device
(`alignkit.arrays.as_tensor_matrix`) and names bad input (wrong shape, too few rows, NaN, no variation at all), so no metric ever
returns a number computed from garbage.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from alignkit.arrays import as_tensor_matrix
from alignkit.devices import resolve_device
from alignkit.errors import AlignkitError

ArrayLike = np.ndarray | torch.Tensor
Device = str | torch.device | None


class SimilarityInputError(AlignkitError, ValueError):
    """Two feature matrices cannot be compared by a metric; the message says why and what to do."""


class TooFewRowsError(SimilarityInputError):
    """Fewer paired rows than the metric needs to be defined (or to mean anything)."""


class NonFiniteFeaturesError(SimilarityInputError):
    """A feature matrix holds NaN or infinity."""


class ConstantFeaturesError(SimilarityInputError):
    """A feature matrix has no variation (every row identical) or a row with zero norm where cosine is needed."""


def compute_device(*arrays: ArrayLike, device: Device = None) -> torch.device:
    """The device a metric computes on: the one named (resolved by `alignkit.devices.resolve_device`,
    so ``auto`` works as everywhere), else the first tensor argument's, else the CPU: a pure
    function over arrays computes where its data already is unless told otherwise."""
    if device is not None:
        return resolve_device(device)
    for a in arrays:
        if isinstance(a, torch.Tensor):
            return a.device
    return torch.device("cpu")


def check_pair(
    x: ArrayLike,
    y: ArrayLike,
    *,
    metric: str,
    min_rows: int,
    device: Device = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two paired feature matrices for ``metric`` and return them as tensors.

    Rows are paired (row i of ``x`` and row i of ``y`` describe the same item); the
    feature counts may differ.
    """
    dev = compute_device(x, y, device=device)
    X = as_tensor_matrix(x, name="X", device=dev, dtype=dtype, error=SimilarityInputError)
    Y = as_tensor_matrix(y, name="Y", device=dev, dtype=dtype, error=SimilarityInputError)
    if X.shape[0] != Y.shape[0]:
        raise SimilarityInputError(
            f"{metric}: X has {X.shape[0]} rows but Y has {Y.shape[0]}; rows must be paired one to one"
        )
    n = X.shape[0]
    if n < min_rows:
        raise TooFewRowsError(f"{metric} needs at least {min_rows} paired rows, got {n}; use more probe pairs")
    for name, m in (("X", X), ("Y", Y)):
        if m.shape[1] == 0:
            raise SimilarityInputError(f"{metric}: {name} has no feature columns")
        if not bool(torch.isfinite(m).all()):
            bad = int((~torch.isfinite(m)).any(dim=1).sum())
            raise NonFiniteFeaturesError(
                f"{metric}: {name} has NaN or infinite values in {bad} of {n} rows; "
                "drop or re-extract those rows before measuring similarity"
            )
        if not bool((m != m[0]).any()):
            raise ConstantFeaturesError(
                f"{metric}: every row of {name} is identical (all features constant), so it carries no "
                "structure to compare; check the encoder and its inputs"
            )
    return X, Y


PairScorer = Callable[[torch.Tensor | None], float]
"""Scores one pairing of rows: ``score(perm)`` compares x[i] with y[perm[i]]; None keeps x[i] with y[i].

Metrics whose per-side work does not depend on the pairing (Gram norms, principal
components, neighbour lists) build one of these, so a permutation null redoes only the
cross term instead of the whole metric.
"""


def shuffled_pairing(m: torch.Tensor, perm: torch.Tensor | None) -> torch.Tensor:
    """Rows of ``m`` re-paired by ``perm``: row i becomes ``m[perm[i]]`` (unchanged for None), the
    pairing a permutation null scores (formerly named ``repaired``)."""
    return m if perm is None else m[perm.to(m.device)]
