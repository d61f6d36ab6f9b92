"""One feature store from several embedded sets, without encoder work.

A pool made of sets that are already embedded (the training set, then a larger set beside it)
should not be encoded again under a new name: `union_stores` writes the rows of several stores
of one encoder into a new store, each part's keys prefixed the way a concatenated source
(``a + b``, `alignkit.data.concat`) prefixes them, so the union's keys are the keys
``open_source("a + b")`` yields. The result records its parents with their content digests and
is reused only while every parent is unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from alignkit.errors import AlignkitError
from alignkit.features.store import FeatureStore, finished_from, store_digest, write_one_shard
from alignkit.locks import folder_lock


def union_stores(parts: Sequence[tuple[FeatureStore, str]], out: str | Path) -> FeatureStore:
    """The rows of every ``(store, key prefix)`` part in one store at ``out``; a text row's key
    ``k#i`` becomes ``<prefix>k#i``. The parts must come from one encoder (one fingerprint)."""
    if not parts:
        raise AlignkitError("a union of feature stores needs at least one store")
    fingerprints = {store.fingerprint for store, _ in parts}
    if len(fingerprints) != 1:
        raise AlignkitError(f"the stores {[str(s.path) for s, _ in parts]} come from different encoders; "
                            "a union holds one encoder's features")
    for store, _ in parts:
        if not store.complete:
            raise AlignkitError(f"feature store {store.path} is unfinished; complete it before joining it to a pool")
    with folder_lock(out, "feature store"):
        return _union(parts, Path(out))


def _union(parts: Sequence[tuple[FeatureStore, str]], out: Path) -> FeatureStore:
    parents = [{"path": str(s.path), "prefix": p, "rows": len(s), "digest": store_digest(s.manifest)} for s, p in parts]
    done = finished_from(out, "parents", parents)
    if done is not None:
        return done
    out.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    chunks: list[np.ndarray] = []
    for store, prefix in parts:
        store_keys, feats = store.load(dtype=np.float16)
        keys.extend(prefix + k for k in store_keys)
        chunks.append(feats)
    if len(set(keys)) != len(keys):
        raise AlignkitError("the joined stores share keys; give each part its own prefix")
    first = parts[0][0].manifest
    base = {k: v for k, v in first.items() if k not in ("shards", "last_run", "tokens", "source_skipped", "source", "parent")}
    return write_one_shard(out, keys, np.concatenate(chunks), {**base, "source": {"union": [p["path"] for p in parents]},
                                                               "parents": parents})
