"""The model a training run starts from: heads sized to the features, input standardisation
fitted on the training split, and the closed-form Procrustes start of a residual image head."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from alignkit.align.recipe import AlignConfig
from alignkit.align.model.heads import shared_width
from alignkit.align.model.aligned_model import AlignedModel
from alignkit.features.pairs import PairedData, PairsError
from alignkit.features.placement import fit_standardize


def build_model(config: AlignConfig, data: PairedData, encoders: dict[str, dict[str, Any]]) -> AlignedModel:
    sides = {}
    for side, dim, token_dim in (("image", data.image_dim, data.image_token_dim), ("text", data.text_dim, data.text_token_dim)):
        if config.uses_tokens(side) and token_dim is None:
            raise PairsError(f"the {side} head is a token head but the {side} features carry no tokens; embed with --tokens or use --online")
        info = encoders.get(side, {})
        sides[side] = {
            "spec": info.get("spec") or (config.vision if side == "image" else config.text),
            "fingerprint": info.get("fingerprint"),
            "dim": int(dim),
            "token_dim": int(token_dim) if config.uses_tokens(side) else None,
        }
    width = shared_width(config.image_head, config.text_head, data.image_dim, data.text_dim, config.embed_dim)
    model = AlignedModel.create(sides["image"], sides["text"], config.image_head, config.text_head, width,
                                training=config.to_dict(), members=config.ensemble)
    model.info["training_data"] = data.data_digest()  # provenance: what the heads were trained on
    return model


def fit_standardizers(model: AlignedModel, data: PairedData, train_rows: np.ndarray, captions_of: list[np.ndarray]) -> None:
    """Fit input standardisation on the training split only (never on validation rows)."""
    for outer, fetch, rows, dim in (
        (model.image_head, data.image_batch, train_rows, data.image_dim),
        (model.text_head, data.text_batch, np.concatenate([captions_of[i] for i in train_rows]), data.text_dim),
    ):
        for head in getattr(outer, "members", [outer]):
            if head.standardize is not None:
                with torch.no_grad():  # in chunks: the features may be a memory-mapped store larger than RAM
                    fit_standardize(head.standardize, lambda r: fetch(r).pooled, rows, dim, scale=head.scale_inputs)


def procrustes_init(model: AlignedModel, data: PairedData, train_rows: np.ndarray, captions_of: list[np.ndarray]) -> None:
    """Start the residual image head at the orthogonal Procrustes map (fitted on the training
    split's pairs, one row per caption) into the identity text head's centred space."""
    from alignkit.evaluate.baselines import Procrustes

    img = np.concatenate([np.repeat(i, len(captions_of[i])) for i in train_rows])
    txt = np.concatenate([captions_of[i] for i in train_rows])
    fitted = Procrustes().fit(data.image_batch(img).pooled.numpy(), data.text_batch(txt).pooled.numpy())
    weight = torch.as_tensor(fitted.image_to_text_space(), dtype=torch.float32)
    for head in getattr(model.image_head, "members", [model.image_head]):
        head.set_linear(weight)
