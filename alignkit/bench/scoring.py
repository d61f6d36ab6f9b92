"""Score any feature-level model on cached task features with the evaluation module's own code.

A feature-level model maps frozen features into a joint space: ``encode_image_features(X)``
and ``encode_text_features(Y)``. An ``AlignedModel`` and every training-free ``Baseline``
have both, so the aligned heads and the baselines meet the same numbers, the same way.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from alignkit.bench.features import TaskFeatures
from alignkit.evaluate import TaskResult, classification_result, retrieval_result, zero_shot_classifier

HEADLINE = {"classification": "top1", "retrieval": "i2t_R@1"}  # the one number a verdict is about


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
        result = retrieval_result(image, _joint(model.encode_text_features, tf.text), tf.text_to_image, tf.name, model_name)
    result.skipped = list(tf.skipped)
    return result

