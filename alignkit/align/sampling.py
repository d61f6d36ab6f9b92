"""Splitting and sampling of training rows: the train/validation split by group, the groups
themselves (by concept, else by identical caption), and each epoch's shuffled pairs."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch


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


def groups_from_captions(text_owner: np.ndarray, text_ids: np.ndarray, n_images: int) -> np.ndarray:
    """Images that share an identical caption form one group (the same concept drawn in two
    styles, a photo crawled twice); each group is labelled by its smallest image row."""
    parent = np.arange(n_images)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[int, int] = {}
    for owner, tid in zip(text_owner.tolist(), text_ids.tolist()):
        if tid in first:
            a, b = find(owner), find(first[tid])
            if a != b:
                parent[max(a, b)] = min(a, b)
        else:
            first[tid] = owner
    return np.array([find(i) for i in range(n_images)], dtype=np.int64)


def groups_from_concepts(concepts: Sequence[str | None], text_owner: np.ndarray, text_ids: np.ndarray) -> np.ndarray:
    """Images of one concept form one group; images without a concept are grouped by identical
    captions among themselves. Each group is labelled by its smallest image row."""
    n = len(concepts)
    unknown = np.array([c is None for c in concepts], dtype=bool)
    mine = unknown[text_owner] if len(text_owner) else np.zeros(0, dtype=bool)
    out = groups_from_captions(text_owner[mine], text_ids[mine], n)  # concept rows stay singletons here
    first: dict[str, int] = {}
    for i, c in enumerate(concepts):
        if c is not None:
            out[i] = first.setdefault(c, i)
    return out


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
