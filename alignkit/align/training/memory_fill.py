"""The caption memory a finished run adds to its saved model (``model/caption_memory.py`` holds
the memory itself): training images' features as keys, their captions' joint-space embeddings
as values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from alignkit.align.model.aligned_model import AlignedModel
from alignkit.align.recipe import AlignConfig
from alignkit.features.pairs import PairedData


@torch.no_grad()
def build_memory(out: Path, config: AlignConfig, data: PairedData, train_rows: np.ndarray, captions_of: list[np.ndarray],
                  device: torch.device, chunk: int = 2048) -> None:
    """Add the caption memory to the saved model: up to ``memory_size`` training images (a seeded
    sample), each with the mean of its captions' joint-space embeddings."""
    model = AlignedModel.from_pretrained(out, device=str(device), allow_unfinished=True)  # the run's own model, mid-run
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
