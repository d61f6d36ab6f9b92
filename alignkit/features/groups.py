"""Groups of image rows: images of one concept, else images that share an identical caption.

A group is the unit of the validation split, positives for each other in the loss, and a hit
in grouped retrieval."""

from __future__ import annotations

from typing import Sequence

import numpy as np


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
