"""Tiny deterministic encoders for tests of the stages around the encoders (no weights)."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from alignkit.encoders.base import Encoder, EncoderOptions, EncoderOutput


class FakeImageEncoder(Encoder):
    """Pooled feature = per-channel mean and std of an 8x8 thumbnail (6-d); tokens = its 4 quadrants."""

    modality = "image"

    def __init__(self, spec: str = "fake-image", delay: float = 0.0, nan_if_red: bool = False):
        self.spec = spec
        self.options = EncoderOptions()
        self.delay = delay
        self.nan_if_red = nan_if_red

    dim = 6
    num_layers = 1

    def num_params(self) -> int:
        return 0

    def weights_digest(self) -> str:
        return "none"

    def preprocessing(self) -> dict[str, Any]:
        return {"size": 8}

    def preprocess(self, item: Image.Image) -> torch.Tensor:
        arr = np.asarray(item.convert("RGB").resize((8, 8)), dtype=np.float32) / 255.0
        return torch.from_numpy(arr).permute(2, 0, 1)

    def collate(self, items: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(items))

    def forward(self, batch: torch.Tensor, tokens: bool = False) -> EncoderOutput:
        if self.delay:
            time.sleep(self.delay)
        pooled = torch.cat([batch.mean(dim=(2, 3)), batch.std(dim=(2, 3))], dim=1)
        if self.nan_if_red:
            red = (batch[:, 0].mean(dim=(1, 2)) > 0.9) & (batch[:, 1].mean(dim=(1, 2)) < 0.1)
            pooled[red] = float("nan")
        if not tokens:
            return EncoderOutput(pooled)
        quads = batch.unfold(2, 4, 4).unfold(3, 4, 4).mean(dim=(-1, -2)).flatten(2).transpose(1, 2)  # (B, 4, 3)
        return EncoderOutput(pooled, quads, torch.ones(quads.shape[:2], dtype=torch.bool))


class FakeTextEncoder(Encoder):
    """Pooled feature = letter-frequency histogram of a-z (26-d); tokens = one-hot-ish per word."""

    modality = "text"
    dim = 26
    num_layers = 1

    def __init__(self, spec: str = "fake-text"):
        self.spec = spec
        self.options = EncoderOptions()

    def num_params(self) -> int:
        return 0

    def weights_digest(self) -> str:
        return "none"

    def preprocessing(self) -> dict[str, Any]:
        return {"lower": True}

    def preprocess(self, item: str) -> str:
        return item

    def collate(self, items: Sequence[str]) -> list[str]:
        return list(items)

    def forward(self, batch: list[str], tokens: bool = False) -> EncoderOutput:
        out = torch.zeros(len(batch), 26)
        for i, text in enumerate(batch):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        if not tokens:
            return EncoderOutput(out)
        words = [t.split() for t in batch]
        t_max = max(len(w) for w in words)
        tok = torch.zeros(len(batch), t_max, 26)
        mask = torch.zeros(len(batch), t_max, dtype=torch.bool)
        for i, ws in enumerate(words):
            for j, w in enumerate(ws):
                tok[i, j] = FakeTextEncoder.forward(self, [w]).pooled[0]
                mask[i, j] = True
        return EncoderOutput(out, tok, mask)


def solid_png(path, rgb: tuple[int, int, int], size: int = 16) -> None:
    Image.new("RGB", (size, size), rgb).save(path)
