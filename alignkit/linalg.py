"""Dense linear algebra that does not depend on one machine's LAPACK converging.

Why this exists: LAPACK's iterative eigen and SVD drivers can fail to converge on
near-singular input, and whether they do depends on the CPU family and the BLAS build.
The MKL inside torch failed ``linalg.eigh`` on the 768 x 768 covariance of 60 pixel
probes on an AMD EPYC while the same call passed on Intel. So the numeric code here:

* never eigendecomposes a covariance: subspaces come from the thin SVD of the centred
  data in float64, which does not square the condition number;
* cuts the rank at a relative singular-value threshold (`RANK_RTOL`), so directions that
  are numerically zero are dropped instead of being divided by;
* when a driver still fails, tries the next one (torch or numpy ``gesdd``, then scipy's
  slower but more robust ``gesvd``) and records the fallback with `note`, so the score
  that needed it says so (see `recording`).

It also holds the one implementation of each linear fit two stages share: `principal` (the
rank-cut principal subspace both CCA metrics and the CCA baseline start from), `cca_fit`
(regularised CCA) and `ridge_fit` (SVD ridge, penalty by GCV or given). `principal` and
`ridge_fit` take numpy arrays or torch tensors (the metrics compute on the data's device).
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from alignkit.errors import AlignkitError

# Singular values below this fraction of the largest are numerical zeros: the squared ratio is
# 1e-10, the eigenvalue cut the covariance-based code used, so scores on sane data do not move.
RANK_RTOL = 1e-5


class NumericalError(AlignkitError, ArithmeticError):
    """Every SVD driver failed on a matrix (only possible for pathological input)."""


@dataclass
class Record:
    """What the numeric code did while a `recording` was open."""

    notes: list[str] = field(default_factory=list)
    ranks: list[tuple[int, int]] = field(default_factory=list)  # (retained rank, rows) per call

    def note_text(self) -> str:
        return "; ".join(dict.fromkeys(self.notes))


_ACTIVE: contextvars.ContextVar[tuple[Record, ...]] = contextvars.ContextVar("alignkit_linalg_records", default=())


@contextmanager
def recording() -> Iterator[Record]:
    """Collect fallback notes and retained ranks of the numeric calls made inside the block."""
    rec = Record()
    token = _ACTIVE.set(_ACTIVE.get() + (rec,))
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)


def note(text: str) -> None:
    """Record that a computation took a fallback path (kept by every open `recording`)."""
    for rec in _ACTIVE.get():
        rec.notes.append(text)


def note_rank(rank: int, rows: int) -> None:
    """Record how many directions a metric kept out of ``rows`` data rows."""
    for rec in _ACTIVE.get():
        rec.ranks.append((int(rank), int(rows)))


def _numpy_svd(a: np.ndarray, compute_uv: bool):
    try:
        return np.linalg.svd(a, full_matrices=False, compute_uv=compute_uv)
    except np.linalg.LinAlgError as first:
        from scipy import linalg as sl

        try:
            out = sl.svd(a, full_matrices=False, compute_uv=compute_uv, lapack_driver="gesvd", check_finite=False)
        except (np.linalg.LinAlgError, ValueError) as second:
            raise NumericalError(
                f"SVD of a {a.shape[0]} x {a.shape[1]} matrix failed with every LAPACK driver ({first}; {second})"
            ) from second
        note(f"LAPACK gesdd did not converge on a {a.shape[0]} x {a.shape[1]} matrix; used gesvd")
        return out


def svd(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD (u, s, vt) of ``a`` in float64, falling back to ``gesvd`` if ``gesdd`` fails."""
    return _numpy_svd(np.asarray(a, dtype=np.float64), True)


def torch_svd(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD (U, S, Vh) of a tensor in float64 on its device; numpy/scipy on CPU if torch's driver fails."""
    a = a.to(torch.float64)
    try:
        return torch.linalg.svd(a, full_matrices=False)
    except torch.linalg.LinAlgError as e:
        note(f"torch.linalg.svd failed on a {a.shape[0]} x {a.shape[1]} matrix ({str(e)[:80]}); used numpy/scipy")
        u, s, vt = _numpy_svd(a.cpu().numpy(), True)
        return tuple(torch.from_numpy(np.ascontiguousarray(m)).to(a.device) for m in (u, s, vt))  # type: ignore[return-value]


def torch_svdvals(a: torch.Tensor) -> torch.Tensor:
    """Singular values of a tensor in float64, with the same fallbacks as `torch_svd`."""
    a = a.to(torch.float64)
    try:
        return torch.linalg.svdvals(a)
    except torch.linalg.LinAlgError as e:
        note(f"torch.linalg.svdvals failed on a {a.shape[0]} x {a.shape[1]} matrix ({str(e)[:80]}); used numpy/scipy")
        return torch.from_numpy(np.ascontiguousarray(_numpy_svd(a.cpu().numpy(), False))).to(a.device)


def numerical_rank(s: np.ndarray | torch.Tensor, rtol: float = RANK_RTOL) -> int:
    """How many singular values (sorted, largest first) exceed ``rtol`` times the largest."""
    if len(s) == 0:
        return 0
    top = float(s[0])
    return int((s > rtol * top).sum()) if top > 0 else 0


def _thin_svd(a):
    """`torch_svd` for a tensor, `svd` for anything else: float64 either way."""
    return torch_svd(a) if isinstance(a, torch.Tensor) else svd(a)


def principal(centred, share: float = 1.0):
    """(U, s, V) of the thin SVD of centred rows, cut at the rank threshold: the directions with
    variance (U's columns are the whitened principal components). With ``share < 1`` only the
    fewest leading directions that explain at least ``share`` of the variance are kept."""
    u, s, vt = _thin_svd(centred)
    keep = numerical_rank(s, RANK_RTOL)
    if share < 1:
        var = s[:keep] ** 2
        explained = var.cumsum(0) / var.sum()
        keep = min(int((explained < share).sum()) + 1, keep)
    return u[:, :keep], s[:keep], vt[:keep].T


def cca_fit(x: np.ndarray, y: np.ndarray, dim: int, reg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regularised CCA of centred x, y: (Wx, Wy, correlations), at most ``dim`` directions each.

    Covariances get ``reg`` times their mean eigenvalue added on the diagonal (ridge CCA);
    with reg=0 the correlations are the classical canonical correlations. Computed from the
    SVD of each side's data (x = Ux Sx Vx^T), never by inverting or eigendecomposing a
    covariance: (Cxx + lam I)^(-1/2) acts on the data's span as Vx diag(1/sqrt(s^2/(n-1) + lam)),
    and the rest of the space meets no data, so the whitened cross-covariance is the small
    rx x ry matrix Dx Sx Ux^T Uy Sy Dy / (n-1). Directions below the rank cut are dropped, so
    with reg=0 no division by a numerically zero variance happens (fewer than ``dim``
    directions come back when the data have lower rank).
    """
    n = len(x)
    ux, sx, vx = principal(x)
    uy, sy, vy = principal(y)
    var_x, var_y = sx**2 / (n - 1), sy**2 / (n - 1)
    lam_x = reg * var_x.sum() / x.shape[1]  # reg x mean eigenvalue of Cxx (its trace / width)
    lam_y = reg * var_y.sum() / y.shape[1]
    dx, dy = 1.0 / np.sqrt(var_x + lam_x), 1.0 / np.sqrt(var_y + lam_y)
    inner = (dx * sx)[:, None] * (ux.T @ uy) * (sy * dy)[None, :] / (n - 1)
    p, s, qt = svd(inner)
    k = min(dim, len(s))
    return vx @ (dx[:, None] * p[:, :k]), vy @ (dy[:, None] * qt[:k].T), s[:k]


ALPHA_GRID = np.logspace(-4, 3, 15)


def ridge_fit(x, y, alpha: float | None = None, *, per_feature: bool = False):
    """W minimising ||x W - y||^2 + lam ||W||^2 for centred x, y, via the SVD of x; (W, alpha).

    ``alpha`` is relative, so one default fits any feature scale: lam = alpha * the mean squared
    singular value of x, or with ``per_feature`` alpha * ||x||_F^2 / width (the mean eigenvalue
    of x^T x over every feature). With ``alpha=None`` it is picked from ``ALPHA_GRID`` by
    generalised cross-validation (a closed-form estimate of leave-one-out error). Works on
    numpy arrays and on torch tensors (on their device).
    """
    u, s, vt = _thin_svd(x)
    uty = u.T @ y
    total = float((s**2).sum())
    scale = (total / x.shape[1] if per_feature else total / len(s)) if len(s) else 1.0
    if alpha is None:
        alpha = min(ALPHA_GRID, key=lambda a: _gcv(s, uty, y, a * scale))
    lam = alpha * scale
    w = vt.T @ ((s / (s**2 + lam))[:, None] * uty)
    return w, float(alpha)


def _gcv(s, uty, y, lam: float) -> float:
    """||(I - H) y||^2 / (N - tr H)^2 with H the ridge hat matrix, from the SVD alone."""
    f = s**2 / (s**2 + lam)
    resid = float((y**2).sum() - (uty**2).sum() + (((1 - f) ** 2)[:, None] * uty**2).sum())
    dof = len(y) - float(f.sum())
    return resid / max(dof, 1e-9) ** 2
