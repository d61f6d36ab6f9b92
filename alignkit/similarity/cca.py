"""Canonical correlation metrics: SVCCA (Raghu et al. 2017) and mean CCA correlation.

Each side's principal subspace comes from the thin SVD of its centred data in float64
(`alignkit.linalg.principal`, which the CCA baseline uses too), never from an eigendecomposition of its covariance: the covariance
squares the condition number, and ``eigh`` on a near-singular one (more features than
probe pairs) failed to converge on some CPUs. The left singular vectors are the whitened
principal components, so the canonical correlations are the singular values of
``Ux^T Uy``. Directions with singular value below ``RANK_RTOL`` x the largest are
numerical zeros and are dropped (the rank cut). The kept ranks are recorded, so a caller
can flag a score computed with nearly as many directions as rows (see `DEGENERATE_RANK`).
"""

from __future__ import annotations

from alignkit.linalg import note_rank, principal, torch_svdvals
from alignkit.similarity.inputs import (
    ArrayLike,
    Device,
    PairScorer,
    SimilarityInputError,
    TooFewRowsError,
    check_pair,
    shuffled_pairing,
)

# Kept components above this fraction of the rows put a metric in a degenerate regime: with
# k of n directions, independent data already has mean squared canonical correlation about
# k / n, so the score mostly measures k / n (for k / n = 0.25 the shuffled-pairing mean
# canonical correlation is already about 0.4).
DEGENERATE_RANK = 0.25


def _mean_cc_scorer(x: ArrayLike, y: ArrayLike, *, share: float, metric: str, device: Device) -> PairScorer:
    """Mean canonical correlation for any re-pairing: components are found once per side."""
    if not 0 < share <= 1:
        raise SimilarityInputError(f"{metric}: share must be in (0, 1], got {share}")
    X, Y = check_pair(x, y, metric=metric, min_rows=3, device=device)
    Ux = principal(X - X.mean(dim=0), share)[0]
    Uy = principal(Y - Y.mean(dim=0), share)[0]
    n, kx, ky = X.shape[0], Ux.shape[1], Uy.shape[1]
    if kx + ky >= n:
        raise TooFewRowsError(
            f"{metric}: {kx} + {ky} kept components need more than {kx + ky} rows, got {n}; with this few "
            "rows some canonical correlations are 1 by construction. Use more probe pairs or a lower share"
        )
    note_rank(max(kx, ky), n)
    return lambda perm=None: float(torch_svdvals(Ux.T @ shuffled_pairing(Uy, perm)).clamp(0.0, 1.0).mean())


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
