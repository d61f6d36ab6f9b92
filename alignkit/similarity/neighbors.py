"""Nearest-neighbour metrics (Huh et al. 2024, "The Platonic Representation Hypothesis").

All of them start from each row's k nearest rows by cosine similarity, self excluded.
`cosine_topk` finds those in query chunks, so memory is O(chunk * n + n * k) instead of
the n x n similarity matrix and masks of the reference code. Similarities for ranking are
computed in float32 (a ranking needs no more), sums are accumulated in float64.
"""

from __future__ import annotations

from typing import Callable

import torch

from alignkit.arrays import l2_normalize
from alignkit.similarity.inputs import (
    ArrayLike,
    ConstantFeaturesError,
    Device,
    PairScorer,
    SimilarityInputError,
    TooFewRowsError,
    check_pair,
)

KNN_DTYPE = torch.float32


def unit_rows(m: torch.Tensor, *, metric: str, name: str) -> torch.Tensor:
    """Rows scaled to unit L2 norm; a zero row has no direction, so it is an error, not a guess."""
    norms = m.norm(dim=1, keepdim=True)
    zero = int((norms == 0).sum())
    if zero:
        raise ConstantFeaturesError(
            f"{metric}: {zero} rows of {name} are all zeros, so their cosine similarity is undefined; "
            "drop those rows or check the encoder"
        )
    return l2_normalize(m)


def cosine_topk(
    queries: torch.Tensor,
    candidates: torch.Tensor,
    k: int,
    *,
    exclude_diagonal: bool,
    chunk_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest dot products of each query row with the candidate rows, in query chunks.

    Rows are expected unit-normed (so the dot product is the cosine). With
    ``exclude_diagonal`` query i never matches candidate i (queries and candidates are the
    same rows). Returns (values, indices), each (n_queries, k), best first.
    """
    n = queries.shape[0]
    values = torch.empty(n, k, dtype=queries.dtype, device=queries.device)
    indices = torch.empty(n, k, dtype=torch.long, device=queries.device)
    for s in range(0, n, chunk_size):
        e = min(s + chunk_size, n)
        sims = queries[s:e] @ candidates.T
        if exclude_diagonal:
            rows = torch.arange(e - s, device=sims.device)
            sims[rows, rows + s] = float("-inf")
        values[s:e], indices[s:e] = sims.topk(k, dim=1)
    return values, indices


Neighbors = tuple[torch.Tensor, torch.Tensor]  # (values, indices), each (n, k)


def _shuffled_neighbors(side: Neighbors, perm: torch.Tensor | None) -> Neighbors:
    """Neighbour lists of y[perm] from those of y: a re-pairing needs no new search.

    Row i of y[perm] is row perm[i] of y; its neighbours are that row's, renamed to their
    positions in y[perm] (inv[perm[j]] = j).
    """
    if perm is None:
        return side
    values, indices = side
    perm = perm.to(indices.device)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel(), device=perm.device)
    return values[perm], inv[indices[perm]]


def _neighbor_scorer(
    metric: str, combine: Callable[[Neighbors, Neighbors], float], *, min_k: int = 1, min_rows: int = 0
) -> Callable[..., PairScorer]:
    """A scorer factory for a metric that ``combine``s the two sides' neighbour lists."""

    def factory(
        x: ArrayLike, y: ArrayLike, *, k: int = 10, chunk_size: int = 1024, device: Device = None
    ) -> PairScorer:
        if not isinstance(k, int) or k < min_k:
            raise SimilarityInputError(f"{metric}: k must be an integer >= {min_k}, got {k!r}")
        X, Y = check_pair(x, y, metric=metric, min_rows=max(k + 2, min_rows), device=device, dtype=KNN_DTYPE)
        sides = []
        for name, m in (("X", X), ("Y", Y)):
            u = unit_rows(m, metric=metric, name=name)
            sides.append(cosine_topk(u, u, k, exclude_diagonal=True, chunk_size=chunk_size))
            del u  # one side's unit copy alive at a time
        return lambda perm=None: combine(sides[0], _shuffled_neighbors(sides[1], perm))

    factory.__name__ = f"{metric}_scorer"
    factory.__doc__ = f"`{metric}` for any re-pairing of the rows; neighbours are searched once per side."
    return factory


def _shared(ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
    """(n, k, k) bool: neighbour p of row i on side A is neighbour q of row i on side B."""
    return ia[:, :, None] == ib[:, None, :]


def _mutual(a: Neighbors, b: Neighbors) -> float:
    return float(_shared(a[1], b[1]).any(dim=2).sum(dim=1).double().mean() / a[1].shape[1])


def _cycle(a: Neighbors, b: Neighbors) -> float:
    ia, ib = a[1], b[1]
    back = ia[ib]  # (n, k, k): X-neighbours of each Y-neighbour of i
    home = torch.arange(ia.shape[0], device=ia.device)[:, None, None]
    return float((back == home).flatten(1).any(dim=1).double().mean())


def _sparse_hsic_unbiased(
    n: int, rows: torch.Tensor, cols: torch.Tensor, a: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """Unbiased HSIC (Song et al. 2012) of two n x n matrices with zero diagonal, given sparsely.

    A and B share the support (rows, cols) with values a, b. The three terms of the
    estimator only need sum(A o B^T), the totals, and colsum(A).rowsum(B) = 1^T A B 1, all
    O(nnz) with the support sorted once.
    """
    keys = rows * n + cols
    order = keys.argsort()
    sorted_keys, b_sorted = keys[order], b[order]
    transposed = cols * n + rows
    pos = torch.searchsorted(sorted_keys, transposed).clamp_max_(keys.numel() - 1)
    hit = sorted_keys[pos] == transposed
    trace = (a[hit] * b_sorted[pos[hit]]).sum()
    col_a = torch.zeros(n, dtype=a.dtype, device=a.device).index_add_(0, cols, a)
    row_b = torch.zeros(n, dtype=b.dtype, device=b.device).index_add_(0, rows, b)
    total = a.sum() * b.sum() / ((n - 1) * (n - 2))
    return (trace + total - 2.0 * (col_a @ row_b) / (n - 2)) / (n * (n - 3))


def _masked_hsic(va: torch.Tensor, ia: torch.Tensor, vb: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC of K and L kept only where j is a k-NN of i on both sides (the CKNNA mask)."""
    n, k = ia.shape
    match = _shared(ia, ib)
    keep = match.any(dim=2)
    rows = torch.arange(n, device=ia.device)[:, None].expand(n, k)[keep]
    l_at_a = (match * vb[:, None, :]).sum(dim=2)  # L value at each of i's X-neighbours that are shared
    return _sparse_hsic_unbiased(n, rows, ia[keep], va[keep].double(), l_at_a[keep].double())


def _cknna(a: Neighbors, b: Neighbors) -> float:
    kl, kk, ll = _masked_hsic(*a, *b), _masked_hsic(*a, *a), _masked_hsic(*b, *b)
    if kk <= 0 or ll <= 0:
        n, k = a[1].shape
        raise TooFewRowsError(
            f"cknna: the masked self-similarity is not positive with {n} rows and k={k}; "
            "use more probe pairs or a larger k"
        )
    return float(kl / (kk * ll).sqrt())


mutual_knn_scorer = _neighbor_scorer("mutual_knn", _mutual)
cycle_knn_scorer = _neighbor_scorer("cycle_knn", _cycle)
cknna_scorer = _neighbor_scorer("cknna", _cknna, min_k=2, min_rows=4)


def mutual_knn(x: ArrayLike, y: ArrayLike, *, k: int = 10, chunk_size: int = 1024, device: Device = None) -> float:
    """Mean over rows of |kNN_X(i) & kNN_Y(i)| / k: how many neighbours the two spaces agree on."""
    return mutual_knn_scorer(x, y, k=k, chunk_size=chunk_size, device=device)(None)


def cycle_knn(x: ArrayLike, y: ArrayLike, *, k: int = 10, chunk_size: int = 1024, device: Device = None) -> float:
    """Share of rows i that come back to themselves: i is among the X-neighbours of some Y-neighbour of i."""
    return cycle_knn_scorer(x, y, k=k, chunk_size=chunk_size, device=device)(None)


def cknna(x: ArrayLike, y: ArrayLike, *, k: int = 10, chunk_size: int = 1024, device: Device = None) -> float:
    """Centered kernel nearest-neighbour alignment (Huh et al. 2024).

    Unbiased-HSIC CKA of the cosine kernels restricted to pairs (i, j) where j is a k-NN of
    i in both spaces, normalised by the same quantity of each space with itself. Unlike the
    reference code it adds no 1e-6 to the denominator, which would bias small values.
    """
    return cknna_scorer(x, y, k=k, chunk_size=chunk_size, device=device)(None)
