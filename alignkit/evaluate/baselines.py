"""Training-free alignment baselines, fitted in closed form on the same pairs the heads see.

Each baseline maps frozen image features X (N, Dx) and text features Y (N, Dy) into one joint
space and exposes the interface of an aligned model on cached features:
``encode_image_features(X)`` and ``encode_text_features(Y)``, both returning unit vectors.
Row i of the training X and Y is one pair (repeat an image once per caption).

- ``ASIF`` (Norelli et al. 2023): no map at all; a sample is described by its similarities
  to the anchor images (or anchor captions), keeping the top k and raising them to a power
  (as published: raw cosines, k = 800, p = 8). ``CentredASIF`` (``asif-centred``) is alignkit's
  variant, named apart: centred features, k = 64, p = 4.
- ``Procrustes``: centre both sides, reduce both to the same width with PCA (fitted on the
  training pairs), then the best rotation image -> text.
- ``RidgeMap``: a ridge regression from centred image features to centred text features;
  the penalty is chosen by generalised cross-validation unless given (`alignkit.linalg.ridge_fit`,
  the same fit the alignment-probe metric uses).
- ``CCA``: regularised canonical correlation analysis (`alignkit.linalg.cca_fit`, on the same
  rank-cut principal subspaces as the CCA metrics); both sides are projected onto the leading
  canonical directions, each scaled by its correlation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from alignkit.errors import AlignkitError, warn_degenerate
from alignkit.arrays import as_finite_array, l2_normalize
from alignkit.linalg import cca_fit, ridge_fit, svd


class Baseline(ABC):
    """Fit on paired features, then encode either side into the joint space."""

    name: str = "baseline"
    fits_a_map = True  # a linear map fitted on the pairs (underdetermined with fewer pairs than dimensions)
    # the fits solve eigen- and least-squares problems in float64; ASIF only compares cosines and keeps
    # every training pair as an anchor, so it works in the stores' float32 (half the memory)
    precision: type = np.float64

    def fit(self, image_features: Any, text_features: Any) -> "Baseline":
        x = as_finite_array(image_features, "image features").astype(self.precision, copy=False)
        y = as_finite_array(text_features, "text features").astype(self.precision, copy=False)
        if len(x) != len(y):
            raise AlignkitError(f"{len(x)} image rows but {len(y)} text rows: baselines need one row per pair")
        if len(x) < 2:
            raise AlignkitError(f"{self.name} needs at least 2 training pairs, got {len(x)}")
        width = min(x.shape[1], y.shape[1])
        self.notes: list[str] = []
        if self.fits_a_map and len(x) < width:  # the map is underdetermined: it fits any pairing exactly
            self.notes.append(warn_degenerate(
                f"{self.name} was fitted on {len(x)} pairs, fewer than the {width} dimensions of its features: the map "
                "is underdetermined and its scores say little; fit it on more pairs"))
        self._fit(x, y)
        self.image_dim, self.text_dim = x.shape[1], y.shape[1]
        return self

    def encode_image_features(self, features: Any) -> np.ndarray:
        return l2_normalize(self._image(self._input(features, "image")).astype(np.float32))

    def encode_text_features(self, features: Any) -> np.ndarray:
        return l2_normalize(self._text(self._input(features, "text")).astype(np.float32))

    def describe(self) -> dict[str, Any]:
        """Name and settings (including the ones chosen while fitting), JSON-able for reports."""
        scalars = (int, float, bool, str, type(None))
        return {"name": self.name, **{k: v for k, v in vars(self).items() if not k.startswith("_") and isinstance(v, scalars)}}

    def _input(self, features: Any, side: str) -> np.ndarray:
        if not hasattr(self, "image_dim"):
            raise AlignkitError(f"{self.name} is not fitted; call fit(image_features, text_features) first")
        x = as_finite_array(features, f"{side} features").astype(self.precision, copy=False)
        want = self.image_dim if side == "image" else self.text_dim
        if x.shape[1] != want:
            raise AlignkitError(f"{self.name} was fitted on {want}-d {side} features, got {x.shape[1]}-d")
        return x

    @abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray) -> None: ...

    @abstractmethod
    def _image(self, x: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _text(self, y: np.ndarray) -> np.ndarray: ...


# ---- ASIF ---------------------------------------------------------------------------------


class ASIF(Baseline):
    """Relative representations over anchor pairs, as published (Norelli et al., "ASIF", NeurIPS 2023).

    An image's vector is its cosine similarity to each anchor image, a caption's to each anchor
    caption; both index the same anchor pairs, so they are comparable. Only the ``k`` largest
    similarities are kept (the rest set to 0), negatives are clipped to 0, and the kept values
    are raised to ``power`` to sharpen them. The paper's settings: raw cosines of the unit
    features (no centring), k = 800, p = 8.
    """

    name = "asif"
    fits_a_map = False  # anchors, not a fitted map

    def __init__(self, k: int = 800, power: float = 8.0, center: bool = False):
        if k < 1 or power <= 0:
            raise ValueError("ASIF needs k >= 1 and power > 0")
        self.k, self.power, self.center = k, power, center

    precision = np.float32

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self._mx = x.mean(0) if self.center else np.zeros(x.shape[1], x.dtype)
        self._my = y.mean(0) if self.center else np.zeros(y.shape[1], y.dtype)
        self._ax = l2_normalize(x - self._mx)
        self._ay = l2_normalize(y - self._my)

    def _relative(self, q: np.ndarray, anchors: np.ndarray, mean: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Queries in chunks: a (queries, anchors) similarity block is the largest array here."""
        out = np.empty((len(q), len(anchors)), dtype=np.float32)
        k = min(self.k, len(anchors))
        for s in range(0, len(q), chunk):
            sims = l2_normalize(q[s : s + chunk] - mean) @ anchors.T
            if k < sims.shape[1]:
                cut = np.partition(sims, -k, axis=1)[:, -k][:, None]
                sims = np.where(sims >= cut, sims, 0.0)
            out[s : s + chunk] = np.clip(sims, 0.0, None) ** self.power
        return out

    def _image(self, x: np.ndarray) -> np.ndarray:
        return self._relative(x, self._ax, self._mx)

    def _text(self, y: np.ndarray) -> np.ndarray:
        return self._relative(y, self._ay, self._my)


class CentredASIF(ASIF):
    """alignkit's variant of ASIF, named apart: features are centred on the anchor mean first
    (which removes the shared offset that makes all raw cosines of CNN features look alike), and
    fewer, sharper neighbours are kept (k = 64, p = 4)."""

    name = "asif-centred"

    def __init__(self, k: int = 64, power: float = 4.0, center: bool = True):
        super().__init__(k, power, center)


# ---- linear maps ----------------------------------------------------------------------------


def orthogonal_procrustes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The orthogonal R minimising ||a R - b||_F (a, b: (N, D)): R = U V^T from svd(a^T b)."""
    u, _, vt = svd(a.T @ b)
    return u @ vt


def pca_basis(x: np.ndarray, dim: int) -> np.ndarray:
    """(D, dim) orthonormal top principal directions of centred ``x``."""
    _, _, vt = svd(x)
    return vt[:dim].T


class Procrustes(Baseline):
    """Rotation from image to text space after centring. Widths are matched by PCA: both sides
    are projected onto their top ``min(Dx, Dy, N - 1)`` principal directions (or ``dim``) fitted
    on the training pairs, then rotated; the text side lives in its PCA coordinates."""

    name = "procrustes"

    def __init__(self, dim: int | None = None):
        self.dim = dim

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self._mx, self._my = x.mean(0), y.mean(0)
        xc, yc = x - self._mx, y - self._my
        d = min(x.shape[1], y.shape[1], len(x) - 1, self.dim or np.inf)
        self.dim_used = int(d)
        self._px, self._py = pca_basis(xc, self.dim_used), pca_basis(yc, self.dim_used)
        self._r = orthogonal_procrustes(xc @ self._px, yc @ self._py)

    def _image(self, x: np.ndarray) -> np.ndarray:
        return (x - self._mx) @ self._px @ self._r

    def _text(self, y: np.ndarray) -> np.ndarray:
        return (y - self._my) @ self._py

    def image_to_text_space(self) -> np.ndarray:
        """(Dx, Dy) matrix taking centred image features to the centred text space itself (the
        rotation composed with the text side's PCA basis): a closed-form start for trained heads."""
        return self._px @ self._r @ self._py.T


class RidgeMap(Baseline):
    """Linear map image -> text space by ridge regression on centred features; the text side
    is only centred. ``alpha=None`` selects the penalty by generalised cross-validation."""

    name = "ridge"

    def __init__(self, alpha: float | None = None):
        self.alpha = alpha

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self._mx, self._my = x.mean(0), y.mean(0)
        self._w, self.alpha_used = ridge_fit(x - self._mx, y - self._my, self.alpha)

    def _image(self, x: np.ndarray) -> np.ndarray:
        return (x - self._mx) @ self._w

    def _text(self, y: np.ndarray) -> np.ndarray:
        return y - self._my


# ---- CCA ----------------------------------------------------------------------------------


class CCA(Baseline):
    """Canonical correlation analysis: both sides projected onto the ``dim`` leading canonical
    directions, each direction weighted by its correlation to the power ``weight`` (weakly
    correlated directions are mostly noise for retrieval)."""

    name = "cca"

    def __init__(self, dim: int | None = None, reg: float = 1e-3, weight: float = 1.0):
        if reg < 0:
            raise ValueError("CCA reg must be >= 0")
        self.dim, self.reg, self.weight = dim, reg, weight

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self._mx, self._my = x.mean(0), y.mean(0)
        d = int(min(x.shape[1], y.shape[1], len(x) - 1, self.dim or np.inf))
        self._wx, self._wy, self.correlations_ = cca_fit(x - self._mx, y - self._my, d, self.reg)
        self.dim_used = len(self.correlations_)  # fewer than asked when the data have lower rank
        self._scale = np.clip(self.correlations_, 0.0, None) ** self.weight

    def _image(self, x: np.ndarray) -> np.ndarray:
        return (x - self._mx) @ self._wx * self._scale

    def _text(self, y: np.ndarray) -> np.ndarray:
        return (y - self._my) @ self._wy * self._scale


BASELINES: dict[str, type[Baseline]] = {"asif": ASIF, "asif-centred": CentredASIF, "procrustes": Procrustes, "ridge": RidgeMap, "cca": CCA}


def make_baseline(name: str, **options: Any) -> Baseline:
    """A baseline by name (``asif``, ``asif-centred``, ``procrustes``, ``ridge``, ``cca``)."""
    if name not in BASELINES:
        raise AlignkitError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[name](**options)
