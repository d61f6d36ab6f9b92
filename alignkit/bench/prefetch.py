"""Layers as candidates, affordably: when the zoo holds several layers of one encoder
(``efficientnet-lite0`` and ``efficientnet-lite0?layer=12``), every data set the bench embeds
(training pairs, task images, prompts and captions) is run through that model once for all
of its layers, filling each layer's own cache store (same folders, same fingerprints as a
one-layer run), so the later per-pair steps find everything cached."""

from __future__ import annotations

from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode

from alignkit.data import open_source
from alignkit.data.base import caption_items, image_items
from alignkit.evaluate.cached import task_inputs
from alignkit.features.cache import cached_layer_features
from alignkit.options import ENCODE_BATCH_SIZE


def model_groups(specs: Iterable[str]) -> list[list[str]]:
    """Specs grouped by the model they run (the spec without its ``layer=`` option), in order."""
    groups: dict[str, list[str]] = {}
    for spec in dict.fromkeys(specs):
        body, _, query = spec.partition("?")
        rest = sorted((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "layer")
        groups.setdefault(f"{body}?{urlencode(rest)}", []).append(spec)
    return list(groups.values())


def prefetch_layers(bench: Any, vision_specs: Iterable[str], text_specs: Iterable[str]) -> None:
    """One pass per (model, data set) for every model that appears at two or more layers."""
    config = bench.config
    for modality, specs in (("image", vision_specs), ("text", text_specs)):
        for group in (g for g in model_groups(specs) if len(g) > 1):
            encoders = [bench.encoder(s) for s in group]
            bench.say(f"embedding {len(group)} layers of {group[0]} in one pass per data set: {', '.join(group)}")
            train_items = (image_items if modality == "image" else caption_items)(open_source(config.train))
            sets = [(config.train, train_items)] + [task_inputs(task, spec, modality) for spec, task in bench.tasks.items()]
            for dataset_id, items in sets:
                cached_layer_features(encoders, items, dataset_id, batch_size=ENCODE_BATCH_SIZE, progress=bench.progress)
