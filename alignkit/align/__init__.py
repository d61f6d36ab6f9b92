"""Alignment: train small heads on frozen features so images and captions meet in one space.

    from alignkit.align import AlignConfig, train, AlignedModel
    model = train(AlignConfig(vision="efficientnet-lite0", text="minilm-l6"), image_store, text_store, "runs/a")
    model = AlignedModel.from_pretrained("runs/a")
    model.encode_image(["cat.png"]) @ model.encode_text(["a cat"]).T

The names are resolved on first use, so importing the recipe (``alignkit.align.recipe``, which
the CLI reads its choices from) does not import torch.
"""

from __future__ import annotations

from typing import Any

from alignkit.lazy import load

_EXPORTS = {
    "AlignConfig": "alignkit.align.recipe:AlignConfig",
    "ConfigError": "alignkit.align.recipe:ConfigError",
    "HeadConfig": "alignkit.align.recipe:HeadConfig",
    "AlignedModel": "alignkit.align.model.aligned_model:AlignedModel",
    "ModelLoadError": "alignkit.align.model.hub:ModelLoadError",
    "as_open_clip": "alignkit.align.model.open_clip:as_open_clip",
    "train": "alignkit.align.training.loop:train",
    "train_from_specs": "alignkit.align.workflow.from_specs:train_from_specs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'alignkit.align' has no attribute {name!r}")
    return load(_EXPORTS[name])
