"""The folds recipe selection validates on, both cut from the training pairs only.

- **leave one domain out**: train on every domain but one, validate on the left-out domain's
  images of concepts that training saw (a new drawing style of known concepts). A pair's domain
  is the part of its key before the first ``/`` (``google/1f600``), as the built-in sources and
  folder layouts write it; data with one domain gets no such fold.
- **held-out concepts**: a seeded ``fraction`` of the concept groups (``image_groups``) never
  trained on, validated in every domain (new concepts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from alignkit.errors import AlignkitError
from alignkit.features.pairs import CachedPairs, PairsError

FOLD_KINDS = ("domain", "concepts")
MIN_FOLD_IMAGES = 10


@dataclass
class Fold:
    """Image rows to train on and image rows to validate on (with all their captions)."""

    name: str
    train: np.ndarray
    val: np.ndarray


def domain_of(key: str) -> str:
    """A pair key's domain: the part before the first ``/`` (empty when there is none)."""
    return key.split("/", 1)[0] if "/" in key else ""


def domain_folds(keys: Sequence[str], groups: np.ndarray) -> list[Fold]:
    """Leave-one-domain-out folds; validation keeps only images whose group training saw."""
    domains = np.array([domain_of(k) for k in keys])
    names = sorted(set(domains.tolist()))
    if len(names) < 2:
        return []
    folds = []
    for d in names:
        train = np.flatnonzero(domains != d)
        seen = np.isin(groups, groups[train])
        val = np.flatnonzero((domains == d) & seen)
        if len(train) >= MIN_FOLD_IMAGES and len(val) >= MIN_FOLD_IMAGES:
            folds.append(Fold(f"domain {d} held out", train, val))
    return folds


def concept_fold(groups: np.ndarray, fraction: float = 0.2, seed: int = 0) -> Fold | None:
    """Hold out whole groups, in a seeded hash order, until ``fraction`` of the images is reached."""
    if not 0 < fraction < 1:
        raise AlignkitError(f"the held-out concept fraction must lie in (0, 1), got {fraction}")
    order = sorted(set(groups.tolist()), key=lambda g: hashlib.sha256(f"select:{seed}:{g}".encode()).hexdigest())
    target, held, count = fraction * len(groups), set(), 0
    sizes = {g: int(n) for g, n in zip(*np.unique(groups, return_counts=True))}
    for g in order:
        if count >= target:
            break
        held.add(g)
        count += sizes[g]
    val = np.flatnonzero(np.isin(groups, list(held)))
    train = np.flatnonzero(~np.isin(groups, list(held)))
    if len(val) < MIN_FOLD_IMAGES or len(train) < MIN_FOLD_IMAGES:
        return None
    return Fold(f"{fraction:.0%} of concepts held out", train, val)


def make_folds(data: CachedPairs, kinds: Sequence[str] = FOLD_KINDS, fraction: float = 0.2, seed: int = 0) -> list[Fold]:
    """The folds of ``kinds`` that this data supports (a clear error when none does)."""
    bad = [k for k in kinds if k not in FOLD_KINDS]
    if bad:
        raise AlignkitError(f"unknown fold kind(s) {bad}; choose from {', '.join(FOLD_KINDS)}")
    groups = data.image_groups()
    folds: list[Fold] = []
    if "domain" in kinds:
        folds += domain_folds(data.image_keys, groups)
    if "concepts" in kinds:
        fold = concept_fold(groups, fraction, seed)
        folds += [fold] if fold else []
    if not folds:
        raise PairsError(f"the training pairs support none of the folds {list(kinds)} ({len(data.image_keys)} images, "
                         f"{len(set(groups.tolist()))} concept groups, domains from key prefixes: "
                         f"{sorted(set(domain_of(k) for k in data.image_keys))})")
    return folds
