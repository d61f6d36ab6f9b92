"""Zero-shot classification: class embeddings from prompt templates, and the metrics.

Conventions follow CLIP and CLIP_benchmark: each class is embedded by every template (``{c}``
replaced by the class name), the normalised prompt embeddings are averaged, and the average
is normalised again. Accuracy is top-1, top-5 (only with more than 5 classes, where it means
something) and mean per-class recall (balanced accuracy, robust to class imbalance).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from alignkit.errors import AlignkitError
from alignkit.arrays import as_finite_array, l2_normalize

Templates = Sequence[str] | Mapping[str, Sequence[str]]


def class_prompts(classnames: Sequence[str], templates: Templates) -> list[list[str]]:
    """The prompts of each class: templates with ``{c}`` filled in, or a per-class dict as given."""
    if not classnames:
        raise AlignkitError("a classification task needs at least one class name")
    if isinstance(templates, Mapping):
        missing = [c for c in classnames if not templates.get(c)]
        if missing:
            raise AlignkitError(f"per-class prompts are missing for {missing[:5]}; give every class at least one prompt")
        return [list(templates[c]) for c in classnames]
    if not templates:
        raise AlignkitError("no prompt templates; give at least one, e.g. 'a photo of a {c}.'")
    bad = [t for t in templates if "{c}" not in t]
    if bad:
        raise AlignkitError(f"template(s) {bad[:3]} lack the '{{c}}' placeholder for the class name")
    return [[t.replace("{c}", c) for t in templates] for c in classnames]


def zero_shot_classifier(
    text_encode_fn: Callable[[list[str]], Any], classnames: Sequence[str], templates: Templates
) -> np.ndarray:
    """(C, D) unit class embeddings: per class, the normalised mean of its normalised prompt
    embeddings. ``text_encode_fn`` maps a list of strings to (N, D) vectors; it is called once."""
    prompts = class_prompts(classnames, templates)
    flat = [p for ps in prompts for p in ps]
    emb = l2_normalize(as_finite_array(text_encode_fn(flat), "text embeddings"))
    if len(emb) != len(flat):
        raise ValueError(f"the text encoder returned {len(emb)} vectors for {len(flat)} prompts")
    bounds = np.cumsum([0] + [len(ps) for ps in prompts])
    means = np.stack([emb[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
    return l2_normalize(means)


def classification_metrics(logits: Any, labels: Sequence[int]) -> dict[str, Any]:
    """Top-1, top-5 (when C > 5), mean per-class recall and the (C, C) confusion counts
    (rows: true class, columns: predicted). Ties go to the lower class index."""
    scores = as_finite_array(logits, "logits")
    y = np.asarray(labels, dtype=np.int64)
    n, c = scores.shape
    if y.shape != (n,):
        raise ValueError(f"{n} rows of logits but {y.size} labels")
    if n == 0:
        raise AlignkitError("no items to classify")
    if y.min() < 0 or y.max() >= c:
        raise ValueError(f"labels must lie in [0, {c}); got {y.min()}..{y.max()}")
    pred = scores.argmax(axis=1)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    support = confusion.sum(axis=1)
    present = support > 0
    recall = np.diag(confusion)[present] / support[present]
    out: dict[str, Any] = {
        "top1": float((pred == y).mean()),
        "top1_hits": (pred == y).astype(np.int8),
        "mean_per_class_recall": float(recall.mean()),
        "confusion": confusion,
        "n": n,
        "num_classes": c,
    }
    if c > 5:
        out["top5"] = float(_topk_hits(scores, y, 5).mean())
    return out


def _topk_hits(scores: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Whether the true class is among the k best (its score beaten by fewer than k classes)."""
    true = scores[np.arange(len(y)), y][:, None]
    ahead = (scores > true).sum(axis=1) + ((scores == true) & (np.arange(scores.shape[1]) < y[:, None])).sum(axis=1)
    return ahead < k


def classification_chance(num_classes: int) -> dict[str, float]:
    """Expected value of each metric for a classifier that guesses uniformly at random."""
    c = num_classes
    out = {"top1": 1.0 / c, "mean_per_class_recall": 1.0 / c}
    if c > 5:
        out["top5"] = 5.0 / c
    return out
