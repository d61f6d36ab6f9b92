"""What a training run builds around its loop: the model it starts from (heads sized to the
features, input standardisation fitted on the training split, the closed-form Procrustes start),
the style-shift pairs, and the caption memory added to the finished model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignkit.align.augment import group_pairs
from alignkit.align.bars import note
from alignkit.align.config import AlignConfig
from alignkit.align.heads import shared_width
from alignkit.align.model import AlignedModel
from alignkit.features.pairs import CachedPairs, PairedData, PairsError
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
    return AlignedModel.create(sides["image"], sides["text"], config.image_head, config.text_head, width,
                               training=config.to_dict(), members=config.ensemble)


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


def shift_pairs(config: AlignConfig, data: PairedData, train_rows: np.ndarray, groups: np.ndarray, say: bool) -> np.ndarray:
    """The rendering pairs style shift draws from; none (with a note) where it cannot act: on
    --online data (each shift would run the image encoder twice more per image) or data where no
    concept has two renderings."""
    none = np.zeros((0, 2), dtype=np.int64)
    if config.style_shift <= 0:
        return none
    if not isinstance(data, CachedPairs):
        if say:
            note("style_shift is off for --online training: it works on cached features")
        return none
    pairs = group_pairs(train_rows, groups)
    if not len(pairs) and say:
        note("style_shift has no effect: no training group holds two images (no concept in two renderings)")
    return pairs


@torch.no_grad()
def build_memory(out: Path, config: AlignConfig, data: PairedData, train_rows: np.ndarray, captions_of: list[np.ndarray],
                  device: torch.device, chunk: int = 2048) -> None:
    """Add the caption memory to the saved model: up to ``memory_size`` training images (a seeded
    sample), each with the mean of its captions' joint-space embeddings."""
    model = AlignedModel.from_pretrained(out, device=str(device))
    rows = np.asarray(train_rows)
    if len(rows) > config.memory_size:
        rows = np.sort(np.random.default_rng(config.seed).choice(rows, config.memory_size, replace=False))
    keys, values = [], []
    for s in range(0, len(rows), chunk):
        part = rows[s : s + chunk]
        keys.append(data.image_batch(part).pooled)
        for i in part:
            z = model.encode_text_features(**vars(data.text_batch(captions_of[i]).to(device)))
            values.append(z.mean(0).cpu())
    model.attach_memory(torch.cat(keys), torch.stack(values), config.memory_k, config.memory_temperature, config.memory)
    model.save_pretrained(out)
