"""Alignment probe: how well a linear map from one space retrieves the paired item in the other.

Fit ridge regression X -> Y on a seeded half of the pairs; on the other half, map each x,
rank every held-out y by cosine similarity to the prediction, and count top-1 hits. It
asks the question alignment training will ask (can a linear head bridge the two spaces?)
and unlike CKA it is not fooled by shared global structure that retrieval cannot use.
"""

from __future__ import annotations

import torch

from alignkit.linalg import ridge_fit
from alignkit.similarity.inputs import ArrayLike, Device, SimilarityInputError, check_pair, compute_device
from alignkit.similarity.neighbors import cosine_topk, unit_rows


def ridge_retrieval_accuracy(
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    y_test: ArrayLike,
    *,
    ridge: float = 1e-3,
    chunk_size: int = 1024,
    device: Device = None,
) -> float:
    """Top-1 retrieval accuracy of test y from ridge-mapped test x (map fitted on the train pairs).

    The penalty is ``ridge`` times the mean eigenvalue of the train covariance (over every
    feature: `alignkit.linalg.ridge_fit` with ``per_feature``), so the result does not change
    when x is rescaled or rotated.
    """
    if ridge <= 0:
        raise SimilarityInputError(f"alignment_probe: ridge must be positive, got {ridge}")
    dev = compute_device(x_train, y_train, x_test, y_test, device=device)
    Xtr, Ytr = check_pair(x_train, y_train, metric="alignment_probe (train half)", min_rows=2, device=dev)
    Xte, Yte = check_pair(x_test, y_test, metric="alignment_probe (test half)", min_rows=2, device=dev)
    if Xtr.shape[1] != Xte.shape[1] or Ytr.shape[1] != Yte.shape[1]:
        raise SimilarityInputError("alignment_probe: train and test features must have the same widths")
    mx, my = Xtr.mean(dim=0), Ytr.mean(dim=0)
    weights, _ = ridge_fit(Xtr - mx, Ytr - my, ridge, per_feature=True)
    predicted = unit_rows((Xte - mx) @ weights + my, metric="alignment_probe", name="the mapped X")
    candidates = unit_rows(Yte, metric="alignment_probe", name="Y")
    _, best = cosine_topk(predicted, candidates, 1, exclude_diagonal=False, chunk_size=chunk_size)
    return float((best[:, 0] == torch.arange(Yte.shape[0], device=dev)).double().mean())


def alignment_probe(
    x: ArrayLike,
    y: ArrayLike,
    *,
    ridge: float = 1e-3,
    train_fraction: float = 0.5,
    seed: int = 0,
    chunk_size: int = 1024,
    device: Device = None,
) -> float:
    """Ridge-probe retrieval accuracy on a seeded train/test split of the pairs (see module doc).

    Chance level is 1 / (number of test pairs), so compare it against the permutation null.
    """
    if not 0 < train_fraction < 1:
        raise SimilarityInputError(f"alignment_probe: train_fraction must be in (0, 1), got {train_fraction}")
    X, Y = check_pair(x, y, metric="alignment_probe", min_rows=4, device=device)
    n = X.shape[0]
    n_train = min(max(round(n * train_fraction), 2), n - 2)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(X.device)
    tr, te = order[:n_train], order[n_train:]
    return ridge_retrieval_accuracy(X[tr], Y[tr], X[te], Y[te], ridge=ridge, chunk_size=chunk_size)
