"""An open_clip-shaped view of an AlignedModel, for CLIP_benchmark and open_clip users.

    model, transform, tokenizer = alignkit.create_model_and_transforms("org/name")  # or a folder
    model, transform, tokenizer = as_open_clip(aligned)                         # from a loaded model
    images = torch.stack([transform(img) for img in pil_images])
    model.encode_image(images); model.encode_text(tokenizer(["a photo of a cat"]))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from alignkit.align.model.aligned_model import AlignedModel


class TokenBatch(dict):
    """A tokenised text batch (a dict of tensors) with ``.to(device)``, as open_clip tokens have."""

    def to(self, device: torch.device | str) -> "TokenBatch":
        return TokenBatch({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.items()})


class OpenCLIPAdapter(nn.Module):
    """``encode_image(pixel batch)``, ``encode_text(token batch)``, ``forward`` and ``logit_scale``.
    ``encode_image`` includes the caption memory (normalised or not), so CLIP_benchmark's loop
    scores the model `alignkit eval` scores."""

    def __init__(self, model: AlignedModel):
        super().__init__()
        self.aligned = model
        self.logit_scale = nn.Parameter(torch.tensor(float(model.info["logit_scale"])), requires_grad=False)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        head = self.aligned.image_head
        out = self.aligned.encoder("image").forward(images, tokens=head.uses_tokens)
        return self.aligned.encode_image_features(out.pooled, out.tokens, out.mask, normalize=normalize)

    @torch.no_grad()
    def encode_text(self, tokens: Any, normalize: bool = False) -> torch.Tensor:
        head = self.aligned.text_head
        out = self.aligned.encoder("text").forward(tokens, tokens=head.uses_tokens)
        return self.aligned.encode_text_features(out.pooled, out.tokens, out.mask, normalize=normalize)

    def forward(self, images: torch.Tensor, tokens: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.encode_image(images, True), self.encode_text(tokens, True), self.logit_scale.exp()


def as_open_clip(model: AlignedModel) -> tuple[OpenCLIPAdapter, Callable[[Any], torch.Tensor], Callable[[Any], Any]]:
    """(model, transform, tokenizer): transform maps one PIL image to a pixel tensor (decoding
    it to RGB first, as training did); tokenizer maps a string or strings to a token batch."""
    from alignkit.data.images import to_rgb

    image_encoder, text_encoder = model.encoder("image"), model.encoder("text")

    def transform(image: Any) -> torch.Tensor:
        return image_encoder.preprocess(to_rgb(image))

    def tokenizer(texts: str | Sequence[str]) -> Any:
        texts = [texts] if isinstance(texts, str) else list(texts)
        batch = text_encoder.collate([text_encoder.preprocess(t) for t in texts])
        return TokenBatch(batch) if isinstance(batch, dict) and not hasattr(batch, "to") else batch

    return OpenCLIPAdapter(model), transform, tokenizer


def create_model_and_transforms(
    name_or_path: str | Path, revision: str | None = None, device: str = "auto"
) -> tuple[OpenCLIPAdapter, Callable[[Any], torch.Tensor], Callable[[Any], Any]]:
    """open_clip's one call: (model, preprocess, tokenizer) for a model folder or hub id, with
    both frozen encoders built on ``device`` and checked against the fingerprints the heads
    were trained on. ``model`` is in eval mode; ``model.aligned`` is the AlignedModel."""
    model, preprocess, tokenizer = as_open_clip(AlignedModel.from_pretrained(name_or_path, revision=revision, device=device))
    return model.eval(), preprocess, tokenizer
