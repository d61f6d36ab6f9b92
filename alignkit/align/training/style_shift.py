"""Style-shift augmentation of frozen image features.

With few drawing styles in the training data, the heads learn the styles they see and map a
new rendering of a known concept poorly. When the data holds the same concept in several
renderings (a group: images that share a caption), the difference of two of its images'
features is a direction a change of style moves features along. Adding a random fraction of
such a difference, taken from a random group, to each training image asks the image head
to ignore those directions: a feature-space analogue of colour and style augmentation that
costs no encoder work.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from alignkit.align.recipe import AlignConfig
from alignkit.align.training.console import note
from alignkit.features.pairs import CachedPairs, PairedData


def group_pairs(rows: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(P, 2) ordered pairs of distinct ``rows`` that share a group; empty when no group has two."""
    members: dict[int, list[int]] = {}
    for r in np.asarray(rows).tolist():
        members.setdefault(int(groups[r]), []).append(int(r))
    pairs = [(a, b) for m in members.values() if len(m) > 1 for a in m for b in m if a != b]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def style_shifts(
    pairs: np.ndarray, fetch: Callable[[np.ndarray], torch.Tensor], strength: float, count: int, generator: torch.Generator
) -> torch.Tensor:
    """``count`` shift vectors u * (x_a - x_b): (a, b) drawn from ``pairs``, u ~ U(0, strength).

    ``fetch(rows)`` returns the pooled features of image rows. Draws come from ``generator``
    only, so a run (and each rank's slice of a global batch) is reproducible.
    """
    pick = torch.randint(len(pairs), (count,), generator=generator).numpy()
    u = torch.rand(count, 1, generator=generator) * strength
    a, b = pairs[pick, 0], pairs[pick, 1]
    diff = fetch(a) - fetch(b)  # on the device when the features live there
    return u.to(diff.device) * diff


def shift_pairs(config: AlignConfig, data: PairedData, train_rows: np.ndarray, groups: np.ndarray, say: bool) -> np.ndarray:
    """The rendering pairs style shift draws from; none (with a note) where it cannot act: on
    --online data (each shift would run the image encoder twice more per image) or data where no
    concept has two renderings."""
    none = np.zeros((0, 2), dtype=np.int64)
    if config.style_shift <= 0:
        return none
    if not isinstance(data, CachedPairs):
        if say:
            note("style_shift is off for --online training: it works on cached features")
        return none
    pairs = group_pairs(train_rows, groups)
    if not len(pairs) and say:
        note("style_shift has no effect: no training group holds two images (no concept in two renderings)")
    return pairs
