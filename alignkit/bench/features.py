"""Frozen features of the training pairs through the shared features cache, so a rerun (or
another stage that embedded the same data) costs no encoder work. Task features and their
scoring live in ``alignkit.evaluate.cached`` (shared with ``alignkit eval``)."""

from __future__ import annotations

from typing import Any

from alignkit.features.pairs import CachedPairs
from alignkit.evaluate.cached import TaskFeatures, is_cached, task_features
from alignkit.features.store import FeatureStore

__all__ = ["TaskFeatures", "is_cached", "task_features", "training_pairs"]


def training_pairs(image_store: FeatureStore, text_store: FeatureStore, concept_of: Any = None) -> CachedPairs:
    """The training pairs exactly as the trainer joins them (images with their captions, grouped by
    the source's concepts when ``concept_of`` is given)."""
    return CachedPairs.from_stores(image_store, text_store, concept_of=concept_of)
