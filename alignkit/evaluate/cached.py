"""Task features through the shared features cache, and scoring on them.

A task is embedded once per encoder, not once per model, and never again on a later call:
the aligned models and every training-free baseline are then scored on the same cached
features by the same code (``score``). ``alignkit eval`` and ``alignkit bench`` both use it.

A feature-level model maps frozen features into a joint space: ``encode_image_features(X)``
and ``encode_text_features(Y)``; an ``AlignedModel`` with pooled heads and every ``Baseline``
have both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import torch

from alignkit.data.base import Skip, pair_key_of
from alignkit.data.tasks import ClassificationTask, RetrievalTask
from alignkit.errors import AlignkitError
from alignkit.evaluate.score_tasks import TaskResult, classification_result, retrieval_result
from alignkit.evaluate.zeroshot import zero_shot_classifier
from alignkit.features.cache import cached_features, store_path
from alignkit.features.store import FeatureStore
from alignkit.options import ENCODE_BATCH_SIZE


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
    captions: list[str] | None = None  # retrieval: each caption row's string (identical strings are one caption)
    skipped: list[Skip] = field(default_factory=list)


def is_cached(encoder: Any, dataset_id: str) -> bool:
    """Whether the cache already holds the finished store (for 'reused' in compute tables)."""
    path = store_path(dataset_id, encoder)
    if not (path / "manifest.json").exists():
        return False
    store = FeatureStore(path)
    return store.complete and store.fingerprint == encoder.fingerprint()


def task_inputs(task: ClassificationTask | RetrievalTask, task_id: str, modality: str) -> tuple[str, Iterable[tuple[str, Any]]]:
    """What a task embeds with one side, and the cache id it is stored under: its images, its
    class prompts (classification) or its captions (retrieval)."""
    if modality == "image":
        return task_id, task.image_items()
    if isinstance(task, ClassificationTask):
        return f"{task_id}#prompts", task.prompt_items()
    return f"{task_id}#captions", task.caption_items()


def embed_task_side(task: ClassificationTask | RetrievalTask, task_id: str, modality: str, encoder: Any, progress: bool,
                    batch_size: int = ENCODE_BATCH_SIZE) -> FeatureStore:
    """One side of a task through the features cache: its images, or its prompts or captions.
    Embedding every task's images with one encoder before any text lets a caller hold one
    encoder at a time (``alignkit.encoders.EncoderSlot``)."""
    dataset_id, items = task_inputs(task, task_id, modality)
    return cached_features(encoder, items, dataset_id, progress=progress, batch_size=batch_size)


def task_features(
    task: ClassificationTask | RetrievalTask, task_id: str, vision: Any, text: Any, progress: bool, batch_size: int = ENCODE_BATCH_SIZE
) -> TaskFeatures:
    """Embed (or reuse) a task's images with ``vision`` and its prompts or captions with ``text``."""
    image_store = embed_task_side(task, task_id, "image", vision, progress, batch_size)
    return features_from_stores(task, image_store, embed_task_side(task, task_id, "text", text, progress, batch_size))


def features_from_stores(task: ClassificationTask | RetrievalTask, image_store: FeatureStore, text_store: FeatureStore) -> TaskFeatures:
    """A task's features from its two finished stores (``embed_task_side``)."""
    keys, image = image_store.load()
    skipped = list(task.skipped) + [Skip(s["key"], s["reason"]) for s in image_store.skipped]
    if not keys:
        first = skipped[0].reason if skipped else "the task has no images"
        raise AlignkitError(f"task {task.name}: no image could be embedded (first reason: {first})")
    if isinstance(task, ClassificationTask):
        prompt_keys, prompt_feats = text_store.load()
        prompt_of = dict(task.prompt_items())
        label_of = task.label_of()
        return TaskFeatures(
            task.name, "classification", image, labels=np.array([label_of[k] for k in keys], dtype=np.int64),
            classnames=list(task.classnames), templates=task.templates,
            prompt_features={prompt_of[k]: f for k, f in zip(prompt_keys, prompt_feats)}, skipped=skipped,
        )
    text_keys, text_feats = text_store.load()
    row_of = {k: i for i, k in enumerate(keys)}
    kept = [j for j, k in enumerate(text_keys) if pair_key_of(k) in row_of]
    owner = np.array([row_of[pair_key_of(text_keys[j])] for j in kept], dtype=np.int64)
    with_caption = np.unique(owner)
    if len(with_caption) < len(keys):  # images whose every caption was skipped cannot be queried
        remap = -np.ones(len(keys), dtype=np.int64)
        remap[with_caption] = np.arange(len(with_caption))
        image, owner = image[with_caption], remap[owner]
    caption_of = dict(task.caption_items())
    return TaskFeatures(task.name, "retrieval", image, text=text_feats[kept], text_to_image=owner,
                        captions=[caption_of[text_keys[j]] for j in kept], skipped=skipped)


def _joint(fn: Callable[[Any], Any], features: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = fn(features)
    return out.detach().cpu().float().numpy() if isinstance(out, torch.Tensor) else np.asarray(out, dtype=np.float32)


def score(model: Any, tf: TaskFeatures, model_name: str) -> TaskResult:
    """Zero-shot classification or retrieval rows of ``model`` on one task's features."""
    image = _joint(model.encode_image_features, tf.image)
    if tf.kind == "classification":
        def encode_prompts(texts: list[str]) -> np.ndarray:
            return _joint(model.encode_text_features, np.stack([tf.prompt_features[t] for t in texts]))

        classes = zero_shot_classifier(encode_prompts, tf.classnames, tf.templates)
        result = classification_result(image, tf.labels, classes, tf.name, model_name, tf.classnames)
    else:
        result = retrieval_result(image, _joint(model.encode_text_features, tf.text), tf.text_to_image, tf.name, model_name,
                                  captions=tf.captions)
    result.skipped = list(tf.skipped)
    result.notes = list(getattr(model, "notes", []))  # a baseline fitted on too few pairs says so
    return result
