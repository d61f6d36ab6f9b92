"""A caption memory beside the image head: the training images' neighbours vote in the joint space.

Trained heads map a new rendering of a known concept imperfectly, while the frozen image
encoder usually still finds that concept's training images among the query's nearest
neighbours. The memory keeps, for up to ``size`` training images, the frozen feature (centred,
unit length) as a key and the mean joint-space embedding of that image's captions (through the
trained text head) as a value. An image's final embedding is

    normalize((1 - w) * head(x) + w * sum_j softmax_k(cos(x, key_j) / t) * value_j)

over its ``k`` nearest keys. The text side is unchanged, so captions and class prompts are
embedded exactly as by the heads. ``w = 0`` (the default of a model without a memory) is the
heads alone. It is a retrieval-augmented head, not a training-free baseline: the values live in
the space the heads learned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CaptionMemory(nn.Module):
    """Keys (N, D_image) and values (N, shared) as float16 buffers, saved with the heads."""

    def __init__(self, size: int, image_dim: int, shared_dim: int, k: int, temperature: float, weight: float):
        super().__init__()
        self.k, self.temperature, self.weight = int(k), float(temperature), float(weight)
        self.register_buffer("mean", torch.zeros(image_dim))
        self.register_buffer("keys", torch.zeros(size, image_dim, dtype=torch.float16))
        self.register_buffer("values", torch.zeros(size, shared_dim, dtype=torch.float16))

    def fill(self, image_features: torch.Tensor, values: torch.Tensor) -> None:
        """Keys from raw frozen image features of the memory's images, values already in the joint space."""
        with torch.no_grad():
            x = image_features.float()
            self.mean.copy_(x.mean(0))
            self.keys.copy_(F.normalize(x - self.mean, dim=-1).half())
            self.values.copy_(F.normalize(values.float(), dim=-1).half())

    def forward(self, pooled: torch.Tensor, joint: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Mix unit joint-space image vectors ``joint`` with their neighbours' caption values."""
        keys, values = self.keys.float(), self.values.float()
        k = min(self.k, len(keys))
        out = []
        for s in range(0, len(pooled), chunk):
            q = F.normalize(pooled[s : s + chunk].float() - self.mean, dim=-1)
            top, idx = (q @ keys.T).topk(k, dim=1)
            w = torch.softmax(top / self.temperature, dim=1)
            pull = F.normalize((w.unsqueeze(-1) * values[idx]).sum(1), dim=-1)
            out.append(F.normalize((1 - self.weight) * joint[s : s + chunk] + self.weight * pull, dim=-1))
        return torch.cat(out) if out else joint
