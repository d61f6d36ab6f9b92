"""Centered kernel alignment (Kornblith et al. 2019): linear, unbiased linear, and RBF.

The linear forms never build an n x n Gram matrix: with centred features,
<Kc, Lc>_F = ||Yc^T Xc||_F^2, so every term is a d x d product, O(n d^2) time and
O(n d + d^2) memory. The RBF kernel has no such shortcut; it is computed in row chunks
so memory stays O(chunk * n) while time is O(n^2 d).
"""

from __future__ import annotations

import torch

from alignkit.similarity.inputs import (
    ArrayLike,
    ConstantFeaturesError,
    Device,
    PairScorer,
    SimilarityInputError,
    TooFewRowsError,
    check_pair,
    shuffled_pairing,
)


def _centered(m: torch.Tensor) -> torch.Tensor:
    return m - m.mean(dim=0, keepdim=True)


def _fro2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a^T b||_F^2 for row-paired a, b (a d_a x d_b product, never n x n)."""
    return (a.T @ b).square().sum()


def linear_cka_scorer(x: ArrayLike, y: ArrayLike, *, device: Device = None) -> PairScorer:
    """`linear_cka` for any re-pairing of the rows; the two self terms are computed once."""
    X, Y = check_pair(x, y, metric="linear_cka", min_rows=3, device=device)
    Xc, Yc = _centered(X), _centered(Y)
    norm = _fro2(Xc, Xc).sqrt() * _fro2(Yc, Yc).sqrt()
    return lambda perm=None: float(_fro2(Xc, shuffled_pairing(Yc, perm)) / norm)


def linear_cka(x: ArrayLike, y: ArrayLike, *, device: Device = None) -> float:
    """Linear CKA, ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), in float64 feature space."""
    return linear_cka_scorer(x, y, device=device)(None)


def _hsic_unbiased(a: torch.Tensor, b: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Song et al. (2012) unbiased HSIC of the linear kernels of centred a, b, in feature space.

    With K = a a^T, L = b b^T, zero diagonals K~, L~ and row norms a_sq, b_sq:
      tr(K~ L~)        = ||a^T b||_F^2 - a_sq . b_sq
      1^T K~ 1         = ||a^T 1||^2 - sum(a_sq)      = -sum(a_sq)   (a centred)
      1^T K~ L~ 1      = (a a^T 1 - a_sq).(b b^T 1 - b_sq) = a_sq . b_sq (a, b centred)
    HSIC_1 = [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2 1'K~L~1 / (n-2)] / (n(n-3)).
    The estimator is unchanged by centring, which is why centring first is allowed.
    """
    n = a.shape[0]
    dot = a_sq @ b_sq
    trace = _fro2(a, b) - dot
    sums = a_sq.sum() * b_sq.sum() / ((n - 1) * (n - 2))
    return (trace + sums - 2.0 * dot / (n - 2)) / (n * (n - 3))


def unbiased_cka_scorer(x: ArrayLike, y: ArrayLike, *, device: Device = None) -> PairScorer:
    """`unbiased_cka` for any re-pairing of the rows; the two self terms are computed once."""
    X, Y = check_pair(x, y, metric="unbiased_cka", min_rows=4, device=device)
    Xc, Yc = _centered(X), _centered(Y)
    xs, ys = Xc.square().sum(dim=1), Yc.square().sum(dim=1)
    hxx = _hsic_unbiased(Xc, Xc, xs, xs)
    hyy = _hsic_unbiased(Yc, Yc, ys, ys)
    if hxx <= 0 or hyy <= 0:
        raise TooFewRowsError(
            f"unbiased_cka: the unbiased self-similarity estimate is not positive with {X.shape[0]} rows; "
            "use more probe pairs"
        )
    norm = (hxx * hyy).sqrt()
    return lambda perm=None: float(_hsic_unbiased(Xc, shuffled_pairing(Yc, perm), xs, shuffled_pairing(ys, perm)) / norm)


def unbiased_cka(x: ArrayLike, y: ArrayLike, *, device: Device = None) -> float:
    """Linear CKA from the unbiased (debiased) HSIC estimator, O(n d^2) like `linear_cka`.

    Removes the finite-sample bias that pushes plain CKA up when d is large relative to n;
    it can be slightly negative for unrelated features.
    """
    return unbiased_cka_scorer(x, y, device=device)(None)


def _sq_dists(rows: torch.Tensor, rows_sq: torch.Tensor, all_: torch.Tensor, all_sq: torch.Tensor) -> torch.Tensor:
    return (rows_sq[:, None] + all_sq[None, :] - 2.0 * rows @ all_.T).clamp_min_(0.0)


def _median(values: torch.Tensor) -> torch.Tensor:
    """The usual median (mean of the two middle values for an even count)."""
    s = values.sort().values
    m = s.numel()
    return s[m // 2] if m % 2 else (s[m // 2 - 1] + s[m // 2]) / 2


def median_sq_distance(m: torch.Tensor, *, max_rows: int = 4096, seed: int = 0) -> float:
    """Median squared Euclidean distance over distinct row pairs (the median heuristic).

    Exact when n <= max_rows; above that it is taken over all pairs of a seeded random
    subset of max_rows rows, which keeps memory bounded (the bandwidth is a heuristic, and
    the subset estimate of a median over millions of pairs is tight).
    """
    n = m.shape[0]
    if n > max_rows:
        g = torch.Generator().manual_seed(seed)
        m = m[torch.randperm(n, generator=g)[:max_rows].to(m.device)]
    sq = m.square().sum(dim=1)
    d = _sq_dists(m, sq, m, sq)
    iu = torch.triu_indices(m.shape[0], m.shape[0], offset=1, device=m.device)
    return float(_median(d[iu[0], iu[1]]))


def rbf_cka(
    x: ArrayLike,
    y: ArrayLike,
    *,
    sigma_scale: float = 1.0,
    chunk_size: int = 1024,
    median_rows: int = 4096,
    seed: int = 0,
    device: Device = None,
) -> float:
    """CKA with Gaussian kernels exp(-||xi - xj||^2 / (2 s^2 median)), s = sigma_scale.

    The bandwidth follows the median heuristic per side (see `median_sq_distance`), so the
    score is invariant to isotropic scaling. Biased (V-statistic) HSIC, accumulated over row
    chunks: sum(K o L) - 2/n rowsum(K).rowsum(L) + sum(K) sum(L)/n^2 equals tr(KHLH).
    """
    X, Y = check_pair(x, y, metric="rbf_cka", min_rows=3, device=device)
    if sigma_scale <= 0:
        raise SimilarityInputError(f"rbf_cka: sigma_scale must be positive, got {sigma_scale}")
    Xc, Yc = _centered(X), _centered(Y)
    gammas = []
    for name, m in (("X", Xc), ("Y", Yc)):
        med = median_sq_distance(m, max_rows=median_rows, seed=seed)
        if med <= 0:
            raise ConstantFeaturesError(
                f"rbf_cka: most rows of {name} are identical, so the median-heuristic bandwidth is zero; "
                "deduplicate the probe pairs"
            )
        gammas.append(1.0 / (2.0 * sigma_scale**2 * med))
    n = X.shape[0]
    xs, ys = Xc.square().sum(dim=1), Yc.square().sum(dim=1)
    row_k = torch.empty(n, dtype=X.dtype, device=X.device)
    row_l = torch.empty_like(row_k)
    kl = kk = ll = torch.zeros((), dtype=X.dtype, device=X.device)
    for s in range(0, n, chunk_size):
        e = min(s + chunk_size, n)
        diag = torch.arange(e - s, device=X.device)
        dk = _sq_dists(Xc[s:e], xs[s:e], Xc, xs)
        dl = _sq_dists(Yc[s:e], ys[s:e], Yc, ys)
        dk[diag, diag + s] = 0.0
        dl[diag, diag + s] = 0.0
        k = dk.mul_(-gammas[0]).exp_()
        l_ = dl.mul_(-gammas[1]).exp_()
        row_k[s:e], row_l[s:e] = k.sum(dim=1), l_.sum(dim=1)
        kl = kl + (k * l_).sum()
        kk = kk + k.square().sum()
        ll = ll + l_.square().sum()

    def hsic(sum_prod: torch.Tensor, ra: torch.Tensor, rb: torch.Tensor) -> torch.Tensor:
        return sum_prod - 2.0 / n * (ra @ rb) + ra.sum() * rb.sum() / n**2

    return float(hsic(kl, row_k, row_l) / (hsic(kk, row_k, row_k) * hsic(ll, row_l, row_l)).sqrt())
