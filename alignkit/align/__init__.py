"""Alignment: train small heads on frozen features so images and captions meet in one space.

    from alignkit.align import AlignConfig, train, AlignedModel
    model = train(AlignConfig(vision="efficientnet-lite0", text="minilm-l6"), image_store, text_store, "runs/a")
    model = AlignedModel.from_pretrained("runs/a")
    model.encode_image(["cat.png"]) @ model.encode_text(["a cat"]).T
"""

from alignkit.align.config import AlignConfig, ConfigError, HeadConfig
from alignkit.align.model import AlignedModel, ModelLoadError
from alignkit.align.open_clip import as_open_clip, create_model_and_transforms
from alignkit.features.pairs import CachedPairs, OnlinePairs, PairsError
from alignkit.align.trainer import train, train_pairs

__all__ = [
    "AlignConfig", "AlignedModel", "CachedPairs", "ConfigError", "HeadConfig", "ModelLoadError",
    "OnlinePairs", "PairsError", "as_open_clip", "create_model_and_transforms", "train", "train_pairs",
]
