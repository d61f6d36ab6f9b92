"""A shared features cache, so every stage (rank, align, curate, eval) embeds a data set with
an encoder at most once: ``$ALIGNKIT_CACHE/features/<data set>/<encoder>-<fingerprint>/``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from alignkit.encoders.base import Encoder
from alignkit.features.extract import embed_items, embed_layers
from alignkit.features.store import FeatureStore
from alignkit.paths import cache_root


def slug(text: str, keep: int = 48) -> str:
    """A readable, filesystem-safe name for ``text`` with a short hash so distinct texts never collide."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:keep] or "x"
    return f"{readable}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def store_path(dataset_id: str, encoder: Encoder, root: Path | None = None) -> Path:
    """The cache folder for ``encoder`` over the data set named ``dataset_id``."""
    base = (root or cache_root()) / "features" / slug(dataset_id)
    return base / f"{slug(encoder.spec, 32)}-{encoder.fingerprint()[:12]}"


def cached_features(
    encoder: Encoder,
    items: Iterable[tuple[str, Any]],
    dataset_id: str,
    *,
    root: Path | None = None,
    **embed_kwargs: Any,
) -> FeatureStore:
    """The store for (data set, encoder): built, resumed, or reused shard by shard.

    The folder is named by the data set's id, but what it serves is keyed by content: every run
    reads the items again and re-extracts each shard whose keys or items changed (a replaced
    image, an edited caption, new pairs) or whose files no longer match their checksums.
    """
    path = store_path(dataset_id, encoder, root)
    return embed_items(encoder, items, path, source={"dataset": dataset_id}, changed_keys="recompute", **embed_kwargs)


def cached_layer_features(
    encoders: Sequence[Encoder],
    items: Iterable[tuple[str, Any]],
    dataset_id: str,
    *,
    root: Path | None = None,
    **embed_kwargs: Any,
) -> list[FeatureStore]:
    """Several layers of one model over a data set, one cache store each (the same folders
    ``cached_features`` uses for each encoder), filled from one pass over the data."""
    paths = [store_path(dataset_id, e, root) for e in encoders]
    return embed_layers(encoders, items, paths, source={"dataset": dataset_id}, changed_keys="recompute", **embed_kwargs)
