"""Glue from specs to arrays for `alignkit curate`: concepts, the pool's feature stores
(through the shared features cache), evaluation images for the leakage check, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from alignkit.curation.concepts import Concepts, from_names, from_tasks, image_prototypes
from alignkit.curation.curate import CurateConfig, Selection, iter_selected_captions
from alignkit.curation.page import write_curation_report
from alignkit.data import ClassificationTask, caption_items, image_items, open_source, open_task
from alignkit.encoders.base import Encoder
from alignkit.errors import AlignkitError
from alignkit.features.cache import cached_features
from alignkit.features.store import FeatureStore


def build_concepts(
    task_specs: Sequence[str],
    names_file: Path | None,
    images_task_spec: str | None,
    image_encoder: Encoder,
    text_encoder: Encoder,
) -> tuple[Concepts, list[ClassificationTask]]:
    """Concepts from task class names and/or a names file; image prototypes from an example-image task."""
    tasks = [_classification(spec) for spec in task_specs]
    parts: list[Concepts] = []
    if tasks:
        parts.append(from_tasks(tasks, text_encoder))
    if names_file is not None:
        names = names_file.read_text(encoding="utf-8").splitlines()
        parts.append(from_names(names, text_encoder))
    if parts:
        names = [n for p in parts for n in p.names]
        sources = [s for p in parts for s in (p.sources or [])]
        text = np.concatenate([p.text for p in parts])
        first = {}
        for i, n in enumerate(names):
            first.setdefault(n, i)
        keep = sorted(first.values())
        concepts = Concepts([names[i] for i in keep], text=text[keep], sources=[sources[i] for i in keep])
    else:
        concepts = None
    if images_task_spec:
        examples = _classification(images_task_spec)
        store = cached_features(image_encoder, examples.image_items(), f"task:{images_task_spec}")
        keys, feats = store.load()
        labels = np.array([examples.label_of()[k] for k in keys])
        protos = image_prototypes(feats, labels, len(examples.classnames))
        if concepts is None:
            concepts = Concepts(list(examples.classnames), image=protos, sources=[examples.name] * len(protos))
        else:
            concepts = _attach_images(concepts, examples.classnames, protos)
    if concepts is None:
        raise AlignkitError("no concepts given")
    return concepts, tasks


def _attach_images(concepts: Concepts, classnames: Sequence[str], protos: np.ndarray) -> Concepts:
    """Image prototypes for concepts that also have names; every named concept needs examples."""
    where = {c: i for i, c in enumerate(classnames)}
    missing = [n for n in concepts.names if n not in where]
    if missing:
        raise AlignkitError(f"--concept-images has no examples for concepts {missing[:10]}; give examples for every concept")
    concepts.image = protos[[where[n] for n in concepts.names]]
    return concepts


def _classification(spec: str) -> ClassificationTask:
    task = open_task(spec)
    if not isinstance(task, ClassificationTask):
        raise AlignkitError(f"{spec} is a retrieval task; concepts come from classification tasks")
    return task


def embed_pool(pool_spec: str, image_encoder: Encoder, text_encoder: Encoder) -> tuple[FeatureStore, FeatureStore]:
    """Both sides of the pool through the features cache (resumed or reused when already there)."""
    images = cached_features(image_encoder, image_items(open_source(pool_spec)), pool_spec)
    texts = cached_features(text_encoder, caption_items(open_source(pool_spec)), pool_spec)
    return images, texts


def evaluation_image_features(task_specs: Sequence[str], image_encoder: Encoder) -> np.ndarray | None:
    """Image features of every evaluation task (through the features cache), for the leakage check."""
    feats = [
        cached_features(image_encoder, open_task(spec).image_items(), f"task:{spec}").load()[1]
        for spec in dict.fromkeys(task_specs)
    ]
    return np.concatenate(feats) if feats else None


def report_and_examples(out: Path, selection: Selection, concepts: Concepts, config: CurateConfig, pool_spec: str,
                        command: str, n_examples: int = 24) -> Path:
    """Read the chosen pairs' captions (and a few images) back from the pool, then write the report."""
    from alignkit.data.images import decode_image

    chosen = set(selection.keys)
    captions = dict(iter_selected_captions(open_source(pool_spec), chosen))
    concept_of = dict(zip(selection.keys, selection.concepts))
    shown, examples = set(), []
    for pair in open_source(pool_spec):
        if len(examples) >= n_examples:
            break
        c = concept_of.get(pair.key)
        if c is None or c in shown:
            continue
        try:
            img = decode_image(pair.image)
        except AlignkitError:
            continue
        shown.add(c)
        examples.append((img, f"{concepts.names[c]} | {pair.captions[0]}"))
    return write_curation_report(out, selection, concepts, config, captions, pool_spec, command, examples)
