"""alignkit: align two frozen pretrained encoders (image, text) into a CLIP-like model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from alignkit.version import __version__


def create_model_and_transforms(
    name_or_path: str | Path, revision: str | None = None, device: str = "auto"
) -> tuple[Any, Callable[[Any], Any], Callable[[Any], Any]]:
    """(model, preprocess, tokenizer) for an aligned model folder or hub id, as open_clip's
    factory gives them; imported lazily so ``import alignkit`` stays light (see
    ``alignkit.align.model.open_clip.create_model_and_transforms``)."""
    from alignkit.align.model.open_clip import create_model_and_transforms as create

    return create(name_or_path, revision=revision, device=device)
