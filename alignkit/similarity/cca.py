"""Canonical correlation metrics: SVCCA (Raghu et al. 2017) and mean CCA correlation.

Both work on d x d covariance matrices, O(n d^2), never n x n. In the principal-component
basis the covariance is diagonal, so whitening is a division by the component standard
deviations and the canonical correlations are the singular values of the whitened
cross-covariance.
"""

from __future__ import annotations

import torch

from alignkit.similarity.inputs import (
    ArrayLike,
    Device,
    PairScorer,
    SimilarityInputError,
    TooFewRowsError,
    check_pair,
    repaired,
)

# Eigenvalues below this fraction of the largest are numerical zeros (directions with no variance).
RANK_TOLERANCE = 1e-10


def whitened_components(cov: torch.Tensor, share: float) -> torch.Tensor:
    """d x k matrix mapping centred features to their top-k whitened principal components.

    k is the smallest count whose eigenvalues explain at least ``share`` of the total
    variance (share=1 keeps every direction with non-zero variance).
    """
    evals, evecs = torch.linalg.eigh(cov)
    evals, evecs = evals.flip(0), evecs.flip(1)
    nonzero = int((evals > RANK_TOLERANCE * evals[0]).sum())
    evals, evecs = evals[:nonzero], evecs[:, :nonzero]
    explained = evals.cumsum(0) / evals.sum()
    keep = nonzero if share >= 1 else int((explained < share).sum()) + 1
    return evecs[:, :keep] / evals[:keep].sqrt()


def _mean_cc_scorer(x: ArrayLike, y: ArrayLike, *, share: float, metric: str, device: Device) -> PairScorer:
    """Mean canonical correlation for any re-pairing: components are found once per side."""
    if not 0 < share <= 1:
        raise SimilarityInputError(f"{metric}: share must be in (0, 1], got {share}")
    X, Y = check_pair(x, y, metric=metric, min_rows=3, device=device)
    Xc, Yc = X - X.mean(dim=0), Y - Y.mean(dim=0)
    Xw = Xc @ whitened_components(Xc.T @ Xc, share)
    Yw = Yc @ whitened_components(Yc.T @ Yc, share)
    n, kx, ky = X.shape[0], Xw.shape[1], Yw.shape[1]
    if kx + ky >= n:
        raise TooFewRowsError(
            f"{metric}: {kx} + {ky} kept components need more than {kx + ky} rows, got {n}; with this few "
            "rows some canonical correlations are 1 by construction. Use more probe pairs or a lower share"
        )
    return lambda perm=None: float(torch.linalg.svdvals(Xw.T @ repaired(Yw, perm)).clamp(0.0, 1.0).mean())


def svcca_scorer(x: ArrayLike, y: ArrayLike, *, share: float = 0.99, device: Device = None) -> PairScorer:
    """`svcca` for any re-pairing of the rows."""
    return _mean_cc_scorer(x, y, share=share, metric="svcca", device=device)


def cca_scorer(x: ArrayLike, y: ArrayLike, *, device: Device = None) -> PairScorer:
    """`cca` for any re-pairing of the rows."""
    return _mean_cc_scorer(x, y, share=1.0, metric="cca", device=device)


def svcca(x: ArrayLike, y: ArrayLike, *, share: float = 0.99, device: Device = None) -> float:
    """Mean canonical correlation after keeping the components that explain ``share`` of each side's variance."""
    return svcca_scorer(x, y, share=share, device=device)(None)


def cca(x: ArrayLike, y: ArrayLike, *, device: Device = None) -> float:
    """Mean canonical correlation over every direction with non-zero variance (plain CCA)."""
    return cca_scorer(x, y, device=device)(None)
