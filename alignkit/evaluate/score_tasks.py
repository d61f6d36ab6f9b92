"""Evaluate any image-text model on a classification or retrieval task, as tidy result rows.

A model is anything with ``encode_image(images)`` and ``encode_text(strings)`` returning unit
vectors in one space: an ``AlignedModel``, or a training-free baseline wrapped with its frozen
encoders (``BaselineModel``). Callers that already hold embeddings (cached features, the
benchmark) use ``classification_result`` and ``retrieval_result`` directly, so every number in
alignkit comes from the same code. Each row is ``{task, metric, value, chance, n, model}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from alignkit.data.base import Skip
from alignkit.data.images import decode_image
from alignkit.data.tasks import ClassificationTask, RetrievalTask
from alignkit.errors import AlignkitError, BadItemError
from alignkit.arrays import as_finite_array
from alignkit.evaluate.baselines import Baseline
from alignkit.evaluate.retrieval import DEFAULT_KS, image_to_text_hits, retrieval_chance, retrieval_metrics
from alignkit.evaluate.zeroshot import classification_chance, classification_metrics, zero_shot_classifier
from alignkit.options import ENCODE_BATCH_SIZE

CLASSIFICATION_METRICS = ("top1", "top5", "mean_per_class_recall")


@dataclass
class TaskResult:
    """Rows for the results table, plus what a report shows beside them."""

    task: str
    kind: str  # "classification" | "retrieval"
    rows: list[dict[str, Any]]
    confusion: np.ndarray | None = None
    classnames: list[str] | None = None
    skipped: list[Skip] = field(default_factory=list)
    # per-query 1/0 hits of the headline metric (top-1, or image-to-text R@1), for paired comparisons
    hits: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)  # why the result may be degenerate (DegenerateResultWarning)


def classification_result(
    image_emb: Any, labels: Sequence[int], class_emb: Any, task: str, model: str, classnames: list[str] | None = None
) -> TaskResult:
    """Zero-shot classification rows from image embeddings and (C, D) class embeddings."""
    img, cls = as_finite_array(image_emb, "image embeddings"), as_finite_array(class_emb, "class embeddings")
    if img.shape[1] != cls.shape[1]:
        raise AlignkitError(f"image ({img.shape[1]}-d) and class ({cls.shape[1]}-d) embeddings are not in one space")
    m = classification_metrics(img @ cls.T, labels)
    chance = classification_chance(cls.shape[0])
    rows = [_row(task, k, m[k], chance[k], m["n"], model) for k in CLASSIFICATION_METRICS if k in m]
    return TaskResult(task, "classification", rows, m["confusion"], classnames, hits=m["top1_hits"])


def retrieval_result(
    image_emb: Any, text_emb: Any, text_to_image: Sequence[int], task: str, model: str, ks: Sequence[int] = DEFAULT_KS,
    captions: Sequence[str] | None = None,
) -> TaskResult:
    """Retrieval rows (i2t and t2i recall@k); ``n`` counts the queries of each direction. With
    ``captions`` (each caption row's string), identical strings are positives of every image that has them."""
    m = retrieval_metrics(image_emb, text_emb, text_to_image, ks, captions=captions)
    chance = retrieval_chance(text_to_image, ks, captions=captions)
    n_img, n_txt = len(set(int(i) for i in text_to_image)), len(text_to_image)
    rows = [_row(task, k, v, chance[k], n_img if k.startswith("i2t") else n_txt, model) for k, v in m.items()]
    return TaskResult(task, "retrieval", rows, hits=image_to_text_hits(image_emb, text_emb, text_to_image, captions=captions))


def _row(task: str, metric: str, value: float, chance: float, n: int, model: str) -> dict[str, Any]:
    return {"task": task, "metric": metric, "value": float(value), "chance": float(chance), "n": int(n), "model": model}


# ---- raw tasks through a model --------------------------------------------------------------


def evaluate_task(model: Any, task: ClassificationTask | RetrievalTask, model_name: str = "model", batch_size: int = ENCODE_BATCH_SIZE) -> TaskResult:
    """Run ``model`` over every image and caption (or prompt) of ``task`` and score it.

    Images that fail to decode are skipped and listed in ``TaskResult.skipped`` (with the
    task's own skips); the metrics cover the rest and their ``n`` says how many that was.
    """
    if isinstance(task, ClassificationTask):
        keys, img, skipped = _encode_image_items(model, [(it.key, it.image) for it in task.items], batch_size)
        label_of = task.label_of()
        class_emb = zero_shot_classifier(lambda texts: _batched(model.encode_text, texts, batch_size, "text"), task.classnames, task.templates)
        result = classification_result(img, [label_of[k] for k in keys], class_emb, task.name, model_name, list(task.classnames))
    elif isinstance(task, RetrievalTask):
        keys, img, skipped = _encode_image_items(model, [(p.key, p.image) for p in task.pairs], batch_size)
        captions_of = {p.key: p.captions for p in task.pairs}
        texts = [c for k in keys for c in captions_of[k]]
        owner = [i for i, k in enumerate(keys) for _ in captions_of[k]]
        txt = _batched(model.encode_text, texts, batch_size, "text")
        result = retrieval_result(img, txt, owner, task.name, model_name, captions=texts)
    else:
        raise AlignkitError(f"cannot evaluate a {type(task).__name__}; open tasks with alignkit.data.tasks.open_task")
    result.skipped = list(task.skipped) + skipped
    result.notes = list(getattr(getattr(model, "baseline", model), "notes", []))
    return result


def _encode_image_items(model: Any, items: list[tuple[str, Any]], batch_size: int) -> tuple[list[str], np.ndarray, list[Skip]]:
    """Decode and encode images a batch at a time (bounded memory); undecodable ones are skipped."""
    keys: list[str] = []
    parts: list[np.ndarray] = []
    skipped: list[Skip] = []
    for start in range(0, len(items), batch_size):
        batch_keys, images = [], []
        for key, ref in items[start : start + batch_size]:
            try:
                images.append(decode_image(ref))
                batch_keys.append(key)
            except BadItemError as e:
                skipped.append(Skip(key, str(e)))
        if images:
            parts.append(_batched(model.encode_image, images, len(images), "image"))
            keys.extend(batch_keys)
    if not keys:
        first = skipped[0].reason if skipped else "the task has no images"
        raise AlignkitError(f"none of the {len(items)} images could be used (first reason: {first})")
    return keys, np.concatenate(parts), skipped


def _batched(fn: Callable[[list[Any]], Any], items: list[Any], batch_size: int, side: str) -> np.ndarray:
    if not items:
        raise AlignkitError(f"no {side} inputs to encode")
    parts = [as_finite_array(fn(items[i : i + batch_size]), f"{side} embeddings") for i in range(0, len(items), batch_size)]
    out = np.concatenate(parts)
    if len(out) != len(items):
        raise AlignkitError(f"the model returned {len(out)} {side} vectors for {len(items)} inputs")
    return out


# ---- training-free baselines as models ------------------------------------------------------


def paired_rows(image_features: Any, text_features: Any, text_to_image: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """One (image, caption) row per caption: the image row repeated for each of its captions."""
    x = as_finite_array(image_features, "image features")
    y = as_finite_array(text_features, "text features")
    owner = np.asarray(text_to_image, dtype=np.int64)
    if owner.shape != (len(y),):
        raise AlignkitError(f"text_to_image has {owner.size} entries for {len(y)} captions")
    return x[owner], y


class BaselineModel:
    """A fitted training-free baseline behind its frozen encoders, so ``evaluate`` treats it
    exactly like an aligned model."""

    def __init__(self, baseline: Baseline, image_encoder: Any, text_encoder: Any):
        self.baseline, self.image_encoder, self.text_encoder = baseline, image_encoder, text_encoder

    def encode_image(self, images: Sequence[Any]) -> np.ndarray:
        return self.baseline.encode_image_features(self.image_encoder.encode(list(images)).pooled)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.baseline.encode_text_features(self.text_encoder.encode(list(texts)).pooled)
