"""Synthetic data for the alignment tests: paired features where a linear map exists.

Each pair has a latent vector z; image features are z mapped by one random matrix plus
noise, caption features are z mapped by another plus noise. The fake encoders below carry
those features through real images and strings, so stores, the trainer and AlignedModel
can be tested end to end without a pretrained model.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from alignkit.encoders.base import Encoder, EncoderOptions, EncoderOutput

# The plain heads (mlp on both sides, no caption memory), not the default recipe: the tests that
# train a small shared space (embed_dim 16) or compare training budgets use them.
PLAIN_HEADS = {"image_head": {"kind": "mlp"}, "text_head": {"kind": "mlp"}, "memory": 0.0}

SIDE = 4  # fake images are SIDE x SIDE RGB: 48 pooled dims
IMAGE_DIM = SIDE * SIDE * 3
TEXT_DIM = 24


def latent_pairs(n: int, captions: int = 2, latent: int = 8, noise: float = 0.3, seed: int = 0) -> dict[str, Any]:
    """Keys, image features (n, 48), text keys and features (n*captions, 24), latents."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent))
    a = rng.standard_normal((latent, IMAGE_DIM)) / np.sqrt(latent)
    b = rng.standard_normal((latent, TEXT_DIM)) / np.sqrt(latent)
    image = z @ a + noise * rng.standard_normal((n, IMAGE_DIM))
    keys = [f"p{i:05d}" for i in range(n)]
    text_keys = [f"{k}#{c}" for k in keys for c in range(captions)]
    text = np.repeat(z, captions, axis=0) @ b + noise * rng.standard_normal((n * captions, TEXT_DIM))
    return {"keys": keys, "image": image.astype(np.float32), "text_keys": text_keys, "text": text.astype(np.float32)}


def image_of(vector: np.ndarray) -> Image.Image:
    """A 4x4 RGB image whose pixels encode a 48-d vector (squashed into 0..255)."""
    pixels = np.clip(np.round(127.5 + 40 * vector), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels.reshape(SIDE, SIDE, 3), mode="RGB")


def caption_of(vector: np.ndarray) -> str:
    return " ".join(f"{v:.4f}" for v in vector)


class FakeEncoder(Encoder):
    """Image side: pixels -> the vector image_of() encoded. Text side: the numbers in the string.
    Token features: the vector cut into 4 tokens (so token heads can be tested)."""

    def __init__(self, modality: str, salt: str = ""):
        self.modality = modality  # type: ignore[assignment]
        self.spec = f"fake-{modality}"
        self.options = EncoderOptions()
        self.salt = salt
        self.calls = 0

    @property
    def dim(self) -> int:
        return IMAGE_DIM if self.modality == "image" else TEXT_DIM

    @property
    def num_layers(self) -> int:
        return 1

    def num_params(self) -> int:
        return 0

    def weights_digest(self) -> str:
        return hashlib.sha256(f"fake{self.salt}".encode()).hexdigest()[:16]

    def preprocessing(self) -> dict[str, Any]:
        return {"kind": "fake"}

    def preprocess(self, item: Any) -> torch.Tensor:
        if self.modality == "image":
            return (torch.from_numpy(np.asarray(item, dtype=np.float32).reshape(-1)) - 127.5) / 40
        return torch.tensor([float(x) for x in item.split()], dtype=torch.float32)

    def collate(self, items: Sequence[Any]) -> torch.Tensor:
        return torch.stack(list(items))

    def forward(self, batch: torch.Tensor, tokens: bool = False) -> EncoderOutput:
        self.calls += 1
        if not tokens:
            return EncoderOutput(batch.clone())
        toks = batch.reshape(batch.shape[0], 4, -1)
        return EncoderOutput(batch.clone(), toks, torch.ones(toks.shape[:2], dtype=torch.bool))
