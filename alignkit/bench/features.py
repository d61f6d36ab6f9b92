"""Frozen features of the training pairs and of every task, all through the shared features cache,
so a rerun (or another stage that embedded the same data) costs no encoder work.

A task is embedded once per encoder, not once per model: the aligned model and every
training-free baseline are then scored on the same cached features by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alignkit.align.pairs import CachedPairs
from alignkit.data.base import Skip, pair_key_of
from alignkit.data.tasks import ClassificationTask, RetrievalTask
from alignkit.errors import AlignkitError
from alignkit.features.cache import cached_features, store_path
from alignkit.features.store import FeatureStore


@dataclass
class TaskFeatures:
    """One task's features under one (vision, text) encoder pair."""

    name: str
    kind: str  # "classification" | "retrieval"
    image: np.ndarray
    labels: np.ndarray | None = None  # classification
    classnames: list[str] | None = None
    templates: Any = None
    prompt_features: dict[str, np.ndarray] = field(default_factory=dict)  # prompt -> text feature
    text: np.ndarray | None = None  # retrieval: one row per caption
    text_to_image: np.ndarray | None = None
    skipped: list[Skip] = field(default_factory=list)


def is_cached(encoder: Any, dataset_id: str) -> bool:
    """Whether the cache already holds the finished store (for the compute table's 'reused')."""
    path = store_path(dataset_id, encoder)
    if not (path / "manifest.json").exists():
        return False
    store = FeatureStore(path)
    return store.complete and store.fingerprint == encoder.fingerprint()


def training_pairs(image_store: FeatureStore, text_store: FeatureStore, concept_of: Any = None) -> CachedPairs:
    """The training pairs exactly as the trainer joins them (images with their captions, grouped by
    the source's concepts when ``concept_of`` is given)."""
    return CachedPairs.from_stores(image_store, text_store, concept_of=concept_of)


def task_features(task: ClassificationTask | RetrievalTask, task_id: str, vision: Any, text: Any, progress: bool) -> TaskFeatures:
    """Embed (or reuse) a task's images with ``vision`` and its prompts or captions with ``text``."""
    image_store = cached_features(vision, task.image_items(), task_id, progress=progress)
    keys, image = image_store.load()
    skipped = list(task.skipped) + [Skip(s["key"], s["reason"]) for s in image_store.skipped]
    if not keys:
        first = skipped[0].reason if skipped else "the task has no images"
        raise AlignkitError(f"task {task.name}: no image could be embedded (first reason: {first})")
    if isinstance(task, ClassificationTask):
        text_store = cached_features(text, task.prompt_items(), f"{task_id}#prompts", progress=progress)
        prompt_keys, prompt_feats = text_store.load()
        prompt_of = dict(task.prompt_items())
        label_of = task.label_of()
        return TaskFeatures(
            task.name, "classification", image, labels=np.array([label_of[k] for k in keys], dtype=np.int64),
            classnames=list(task.classnames), templates=task.templates,
            prompt_features={prompt_of[k]: f for k, f in zip(prompt_keys, prompt_feats)}, skipped=skipped,
        )
    text_store = cached_features(text, task.caption_items(), f"{task_id}#captions", progress=progress)
    text_keys, text_feats = text_store.load()
    row_of = {k: i for i, k in enumerate(keys)}
    kept = [j for j, k in enumerate(text_keys) if pair_key_of(k) in row_of]
    owner = np.array([row_of[pair_key_of(text_keys[j])] for j in kept], dtype=np.int64)
    with_caption = np.unique(owner)
    if len(with_caption) < len(keys):  # images whose every caption was skipped cannot be queried
        remap = -np.ones(len(keys), dtype=np.int64)
        remap[with_caption] = np.arange(len(with_caption))
        image, owner = image[with_caption], remap[owner]
    return TaskFeatures(task.name, "retrieval", image, text=text_feats[kept], text_to_image=owner, skipped=skipped)
