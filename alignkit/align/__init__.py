"""Alignment: train small heads on frozen features so images and captions meet in one space.

    from alignkit.align import AlignConfig, train, AlignedModel
    model = train(AlignConfig(vision="efficientnet-lite0", text="minilm-l6"), image_store, text_store, "runs/a")
    model = AlignedModel.from_pretrained("runs/a")
    model.encode_image(["cat.png"]) @ model.encode_text(["a cat"]).T

The names are resolved on first use, so importing the recipe (``alignkit.align.config``, which
the CLI reads its choices from) does not import torch.
"""

from __future__ import annotations

from typing import Any

from alignkit.lazy import load

_EXPORTS = {
    "AlignConfig": "alignkit.align.config:AlignConfig",
    "ConfigError": "alignkit.align.config:ConfigError",
    "HeadConfig": "alignkit.align.config:HeadConfig",
    "AlignedModel": "alignkit.align.model:AlignedModel",
    "ModelLoadError": "alignkit.align.model:ModelLoadError",
    "as_open_clip": "alignkit.align.open_clip:as_open_clip",
    "train": "alignkit.align.trainer:train",
    "train_pairs": "alignkit.align.trainer:train_pairs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'alignkit.align' has no attribute {name!r}")
    return load(_EXPORTS[name])
