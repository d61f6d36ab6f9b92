"""Training runs of a benchmark: reused when finished, resumed when interrupted, else started.

The align module refuses to overwrite a run folder, so a finished run is recognised by a
marker written after training returned (``bench-run.json``: the recipe and the data it was
trained on). A marker for another recipe is refused rather than silently reused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from alignkit.align import AlignedModel
from alignkit.features.pairs import CachedPairs
from alignkit.align.training.checkpoint import has_checkpoint
from alignkit.align.model.run_state import LAST
from alignkit.errors import AlignkitError
from alignkit.atomic import atomic_write_json

MARKER = "bench-run.json"


def reuse_or_train(out: Path, identity: dict[str, Any], train: Callable[[bool], AlignedModel]) -> tuple[AlignedModel, bool]:
    """The run in ``out``: (model, reused). ``train(resume)`` trains it when it is not finished."""
    marker = out / MARKER
    if marker.exists():
        if json.loads(marker.read_text(encoding="utf-8")) != identity:
            raise AlignkitError(f"{out} holds a finished run with another recipe or data; use another --out or delete {out}")
        return AlignedModel.from_pretrained(out), True
    model = train(has_checkpoint(out / LAST))
    atomic_write_json(marker, identity)
    return model, False


def subset(data: CachedPairs, n_images: int, seed: int) -> CachedPairs:
    """The first ``n_images`` training images of a seeded shuffle, with all their captions.

    Subsets are nested (a smaller one is a prefix of a larger one), so a data-efficiency curve
    compares more data against less, not one random draw against another.
    """
    return data.subset(np.random.default_rng(seed).permutation(len(data.image_keys))[:n_images])
