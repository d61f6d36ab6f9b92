"""The Encoder contract every backend implements.

An encoder is frozen: it turns a batch of images or captions into pooled features (and, on
request, token features with their mask). Preprocessing is split from the forward pass so a
data loader can decode and preprocess in worker processes while the model runs.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import torch

from alignkit.options import ENCODE_BATCH_SIZE

Modality = Literal["image", "text"]


@dataclass
class EncoderOutput:
    """Pooled features (B, D); token features (B, T, Dt) and mask (B, T) when asked for."""

    pooled: torch.Tensor
    tokens: torch.Tensor | None = None
    mask: torch.Tensor | None = None


@dataclass
class EncoderOptions:
    """Per-instance choices that change the features (and so the fingerprint)."""

    layer: int | None = None  # None = final layer; negative counts from the end
    pooling: str | None = None  # backend default when None
    device: str = "auto"  # resolved by alignkit.devices.resolve_device
    dtype: str = "float32"  # float32 | float16 | bfloat16
    extra: dict[str, Any] = field(default_factory=dict)


class Encoder(ABC):
    """A frozen image or text encoder built from a spec string by the registry."""

    spec: str
    modality: Modality
    options: EncoderOptions
    engine: str = "torch"  # what computes the features (alignkit.engines); part of describe()

    # ---- identity -------------------------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int:
        """Width of the pooled feature."""

    @property
    @abstractmethod
    def num_layers(self) -> int:
        """Number of selectable layers (for layer-wise analysis)."""

    @abstractmethod
    def num_params(self) -> int:
        """Parameter count of the frozen model."""

    @abstractmethod
    def weights_digest(self) -> str:
        """A digest of the weights (file hash or tensor hash): identity beyond the name."""

    @abstractmethod
    def preprocessing(self) -> dict[str, Any]:
        """A JSON-able description of preprocessing (image size, mean/std, tokenizer, max length)."""

    def encoder_fingerprint(self) -> str:
        """Model identity + weights digest + preprocessing + layer + pooling, hashed: what the
        features mean, whatever engine computes them (what trained heads depend on)."""
        ident = {
            "spec": self.spec,
            "modality": self.modality,
            "weights": self.weights_digest(),
            "preprocessing": self.preprocessing(),
            "layer": self.options.layer,
            "pooling": self.options.pooling,
            "dtype": self.options.dtype,
        }
        blob = json.dumps(ident, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def fingerprint(self) -> str:
        """What a feature store's rows are: the encoder fingerprint, plus the engine when it is not
        torch. Two encoders with the same fingerprint produce the same features, so a store made
        by one may be resumed or reused by the other; anything else must not be mixed."""
        base = self.encoder_fingerprint()
        if self.engine == "torch":
            return base
        return hashlib.sha256(f"{base}|engine={self.engine}".encode()).hexdigest()[:32]

    # ---- data path ------------------------------------------------------------------
    @abstractmethod
    def preprocess(self, item: Any) -> Any:
        """One item -> model input. Images: an RGB PIL image -> (C, H, W) float tensor.
        Texts: a string -> the string (tokenisation happens in ``collate``).
        Runs in data-loader workers, so it must not touch the model."""

    @abstractmethod
    def collate(self, items: Sequence[Any]) -> Any:
        """Preprocessed items -> one batch for ``forward`` (stacked tensor, or tokenised dict)."""

    @abstractmethod
    def forward(self, batch: Any, tokens: bool = False) -> EncoderOutput:
        """One collated batch -> features on CPU, float32."""

    def pooled_layers(self, batch: Any, layers: Sequence[int | None]) -> list[torch.Tensor] | None:
        """Pooled features (CPU, float32) at each of ``layers`` from one forward pass over a batch
        collated by this encoder, in the order given; each equals what an encoder built with that
        ``layer=`` returns from ``forward``. None: this backend gives one layer per pass."""
        return None

    @torch.inference_mode()
    def encode(self, items: Sequence[Any], batch_size: int = ENCODE_BATCH_SIZE, tokens: bool = False) -> EncoderOutput:
        """Convenience: preprocess, collate and forward a list in batches, in this process."""
        if len(items) == 0:
            raise ValueError("encode() needs at least one item")
        outs = [
            self.forward(self.collate([self.preprocess(x) for x in items[i : i + batch_size]]), tokens=tokens)
            for i in range(0, len(items), batch_size)
        ]
        pooled = torch.cat([o.pooled for o in outs])
        if not tokens:
            return EncoderOutput(pooled)
        return EncoderOutput(pooled, *_pad_tokens([o.tokens for o in outs], [o.mask for o in outs]))

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for manifests and reports."""
        return {
            "spec": self.spec,
            "modality": self.modality,
            "dim": self.dim,
            "params": self.num_params(),
            "layer": self.options.layer,
            "pooling": self.options.pooling,
            "dtype": self.options.dtype,
            "engine": self.engine,
            "preprocessing": self.preprocessing(),
            "fingerprint": self.fingerprint(),
            "encoder_fingerprint": self.encoder_fingerprint(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r}, {self.modality}, dim={self.dim})"


def _pad_tokens(tokens: list, masks: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token batches of different lengths so they concatenate."""
    t_max = max(t.shape[1] for t in tokens)
    padded_t, padded_m = [], []
    for t, m in zip(tokens, masks):
        pad = t_max - t.shape[1]
        padded_t.append(torch.nn.functional.pad(t, (0, 0, 0, pad)))
        padded_m.append(torch.nn.functional.pad(m, (0, pad), value=False))
    return torch.cat(padded_t), torch.cat(padded_m)


def resolve_dtype(name: str) -> torch.dtype:
    """'float32' | 'float16' | 'bfloat16' -> torch dtype, with a clear error otherwise."""
    from alignkit.options import dtype_option

    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    return table[dtype_option(name, "encoder")]


def pool_tokens(hidden: torch.Tensor, mask: torch.Tensor | None, how: str, has_cls: bool = True) -> torch.Tensor:
    """Pool (B, T, D) hidden states. ``cls``: first token; ``mean``: masked mean over the
    non-CLS tokens (vision: patch tokens; text: every real token); ``cls+mean``: both, concatenated."""
    if how == "cls":
        return hidden[:, 0]
    if how in ("mean", "cls+mean"):
        body = hidden[:, 1:] if has_cls else hidden
        if mask is None:
            mean = body.mean(dim=1)
        else:
            m = (mask[:, 1:] if has_cls else mask).to(hidden.dtype).unsqueeze(-1)
            mean = (body * m).sum(1) / m.sum(1).clamp(min=1.0)
        return mean if how == "mean" else torch.cat([hidden[:, 0], mean], dim=-1)
    raise ValueError(f"unknown pooling {how!r}; choose cls, mean or cls+mean")
