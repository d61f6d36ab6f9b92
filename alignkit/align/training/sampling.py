"""Splitting and sampling of training rows: the train/validation split by group and each
epoch's shuffled pairs (the groups themselves are ``alignkit.features.groups``)."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch

from alignkit.errors import warn_degenerate


def split_rows(keys: Sequence[str], val_fraction: float, seed: int, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/validation split of image rows by a hash of (seed, group): a group
    lands on the same side whatever the order of the data or how much was added. A group
    (see ``PairedData.image_groups``) is named by its smallest key; without groups each key
    is its own group."""
    if val_fraction <= 0:
        return np.arange(len(keys)), np.zeros(0, dtype=np.int64)
    groups = np.arange(len(keys)) if groups is None else np.asarray(groups)
    name: dict[int, str] = {}
    for k, g in zip(keys, groups.tolist()):
        name[g] = min(name.get(g, k), k)
    u = np.array([int(hashlib.sha256(f"{seed}:{name[g]}".encode()).hexdigest()[:12], 16) / 16**12 for g in groups.tolist()])
    val = u < val_fraction
    return np.flatnonzero(~val), np.flatnonzero(val)


def epoch_pairs(train_rows: np.ndarray, captions_of: list[np.ndarray], mode: str, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image rows, text rows) for one epoch, shuffled. ``sample``: one random caption per
    image; ``all``: every caption once (its image repeats)."""
    if mode == "sample":
        picks = torch.rand(len(train_rows), generator=generator).numpy()
        img = train_rows
        txt = np.array([captions_of[i][int(p * len(captions_of[i]))] for i, p in zip(train_rows, picks)], dtype=np.int64)
    else:
        img = np.concatenate([np.full(len(captions_of[i]), i) for i in train_rows]).astype(np.int64)
        txt = np.concatenate([captions_of[i] for i in train_rows]).astype(np.int64)
    order = torch.randperm(len(img), generator=generator).numpy()
    return img[order], txt[order]


def contrast_warning(train_rows: np.ndarray, groups: np.ndarray) -> str | None:
    """Why the training pairs give a contrastive loss nothing to contrast (every pair in one group:
    one caption string, or one concept), as a ``DegenerateResultWarning``; None when they do not."""
    if len(np.unique(groups[train_rows])) < 2:
        return warn_degenerate(f"all {len(train_rows)} training pairs share one caption (or one concept): the contrastive "
                               "loss has no negatives and the model learns nothing; train on pairs that differ")
    return None
