"""Concepts to curate for: names embedded through prompt templates, or image prototypes.

The paper curates for the concepts users will be evaluated on: every class name of the
downstream tasks (text prototypes, scored against captions), and a few example images per
concept (image prototypes, scored against pool images).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from alignkit.arrays import l2_normalize
from alignkit.encoders.base import Encoder
from alignkit.errors import AlignkitError
from alignkit.options import ENCODE_BATCH_SIZE

DEFAULT_TEMPLATES = ["a photo of a {c}.", "a drawing of a {c}.", "{c}"]


@dataclass
class Concepts:
    """Concept names with prototypes in the text space, the image space, or both."""

    names: list[str]
    text: np.ndarray | None = None  # (C, Dt) normalised, from the text encoder
    image: np.ndarray | None = None  # (C, Dv) normalised, from the image encoder
    sources: list[str] | None = None  # where each concept came from (task name, "list", ...)

    def __post_init__(self) -> None:
        if not self.names:
            raise AlignkitError("no concepts given: pass task class names, a names file or example images")
        for side in (self.text, self.image):
            if side is not None and len(side) != len(self.names):
                raise AlignkitError(f"{len(self.names)} concept names but {len(side)} prototypes")


def text_prototypes(encoder: Encoder, prompts: Sequence[Sequence[str]], batch_size: int = ENCODE_BATCH_SIZE) -> np.ndarray:
    """Per concept: the normalised mean of its normalised prompt embeddings."""
    flat = [p for group in prompts for p in group]
    if not flat:
        raise AlignkitError("concepts have no prompts")
    emb = l2_normalize(encoder.encode(flat, batch_size=batch_size).pooled.numpy(), dtype=np.float32)
    out, start = [], 0
    for group in prompts:
        out.append(emb[start : start + len(group)].mean(axis=0))
        start += len(group)
    return l2_normalize(np.stack(out), dtype=np.float32)


def from_names(names: Sequence[str], encoder: Encoder, templates: Sequence[str] = DEFAULT_TEMPLATES) -> Concepts:
    """Concepts from a plain list of names (a user's list)."""
    names = _unique([n.strip() for n in names if n.strip()])
    prompts = [[t.replace("{c}", n) for t in templates] for n in names]
    return Concepts(names, text=text_prototypes(encoder, prompts), sources=["list"] * len(names))


def from_tasks(tasks: Sequence, encoder: Encoder) -> Concepts:
    """Concepts from the class names of classification tasks, through each task's own templates."""
    names, prompts, sources = [], [], []
    for task in tasks:
        for name, group in zip(task.classnames, task.prompts()):
            if name in names:  # the same concept from two tasks: merge the prompts
                prompts[names.index(name)].extend(group)
                continue
            names.append(name)
            prompts.append(list(group))
            sources.append(task.name)
    return Concepts(names, text=text_prototypes(encoder, prompts), sources=sources)


def image_prototypes(image_features: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per class: the normalised mean of its normalised example-image features."""
    feats = l2_normalize(image_features, dtype=np.float32)
    missing = [c for c in range(n_classes) if not (labels == c).any()]
    if missing:
        raise AlignkitError(f"concept example images are missing for class indices {missing[:10]}")
    return l2_normalize(np.stack([feats[labels == c].mean(axis=0) for c in range(n_classes)]), dtype=np.float32)


def _unique(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))
