"""Batched extraction and the on-disk feature store."""

from alignkit.features.extract import embed_items
from alignkit.features.store import FeatureStore, StoreMismatchError

__all__ = ["FeatureStore", "StoreMismatchError", "embed_items"]
