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
