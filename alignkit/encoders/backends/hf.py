"""``hf:<hub id or local folder>``: transformers models as frozen image or text encoders.

Vision (DINOv2, ViT, DeiT, CLIP/SigLIP vision towers, ...): preprocessing is rebuilt with
torchvision from the model's own image-processor config (resize, crop, rescale, mean/std,
resample), never guessed; pooling ``cls`` (default where the model has a CLS token),
``mean`` over patch tokens (CLS and register tokens skipped) or ``cls+mean``.
Text (BERT-like encoders, T5 encoders, CLIP/SigLIP text towers): attention-masked ``mean``
over real tokens (default), ``cls`` or ``cls+mean``.

Options: ``?modality=image|text`` (default: read from the config; a CLIP-like model gives its
vision tower unless ``text`` is asked for), ``layer=k`` (index into ``hidden_states``:
0 = embeddings, negative from the end; default = the model's final output),
``pool=...``, ``dtype=...``, ``max_length=N`` (text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from alignkit.encoders.backends.common import (
    TorchEncoder,
    check_extra,
    check_pooling,
    cpu_float,
    image_transform,
    resolve_layer,
)
from alignkit.encoders.backends import hf_config
from alignkit.encoders.base import EncoderOptions, EncoderOutput, pool_tokens
from alignkit.errors import AlignkitError

POOLINGS = ("cls", "mean", "cls+mean")


class _HFEncoder(TorchEncoder):
    """What transformers image and text encoders share: the config, its layer count, the pooled width."""

    def __init__(self, model: torch.nn.Module, config: Any, options: EncoderOptions, spec: str):
        super().__init__(model, options, spec)
        self.config = config
        self._num_layers = hf_config.count_layers(config)

    @property
    def num_layers(self) -> int:
        return self._num_layers

    def known_dim(self) -> int | None:
        return hf_config.pooled_width(self.config, self.options.pooling)


class HFVisionEncoder(_HFEncoder):
    """A transformers vision model; features from ``last_hidden_state`` or ``hidden_states[layer]``."""

    modality = "image"

    def __init__(self, model: torch.nn.Module, config: Any, transform: Any, transform_desc: dict[str, Any],
                 options: EncoderOptions, spec: str):
        super().__init__(model, config, options, spec)
        self.transform = transform
        self._transform_desc = transform_desc
        self.prefix_tokens = hf_config.prefix_tokens(config)
        if options.pooling is None:
            options.pooling = "cls" if self.prefix_tokens else "mean"
        check_pooling(options, POOLINGS, spec)
        if options.pooling != "mean" and not self.prefix_tokens:
            raise AlignkitError(f"{spec}: this model has no CLS token; use pool=mean")
        self.layer = resolve_layer(options.layer, self.num_layers, spec)

    def preprocessing(self) -> dict[str, Any]:
        return {"image": self._transform_desc, "prefix_tokens": self.prefix_tokens}

    def preprocess(self, item: Any) -> torch.Tensor:
        return self.transform(item)

    def collate(self, items: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(items))

    def forward(self, batch: torch.Tensor, tokens: bool = False) -> EncoderOutput:
        with self.autocast():
            out = self.model(pixel_values=self.to_device(batch), output_hidden_states=self.layer is not None)
        hidden = out.last_hidden_state if self.layer is None else out.hidden_states[self.layer]
        if hidden.dim() == 4:  # convolutional models: (B, C, H, W) -> (B, HW, C)
            hidden = hidden.flatten(2).transpose(1, 2)
        pooled = self._pool(hidden.float())
        if not tokens:
            return EncoderOutput(cpu_float(pooled))
        mask = torch.ones(hidden.shape[:2], dtype=torch.bool)
        return EncoderOutput(cpu_float(pooled), cpu_float(hidden), mask)

    def _pool(self, hidden: torch.Tensor) -> torch.Tensor:
        if not self.prefix_tokens:
            return pool_tokens(hidden, None, "mean", has_cls=False)
        # keep CLS, drop register/distillation tokens, so "mean" covers patch tokens only
        patches_and_cls = torch.cat([hidden[:, :1], hidden[:, self.prefix_tokens:]], dim=1)
        return pool_tokens(patches_and_cls, None, self.options.pooling, has_cls=True)


class HFTextEncoder(_HFEncoder):
    """A transformers text encoder with its tokenizer; masked mean pooling by default."""

    modality = "text"

    def __init__(self, model: torch.nn.Module, tokenizer: Any, config: Any, options: EncoderOptions, spec: str,
                 max_length: int | None = None):
        super().__init__(model, config, options, spec)
        self.tokenizer = tokenizer
        self.max_length = max_length or hf_config.max_length(tokenizer, config)
        if options.pooling is None:
            options.pooling = "mean"
        check_pooling(options, POOLINGS, spec)
        self.layer = resolve_layer(options.layer, self.num_layers, spec)

    def preprocessing(self) -> dict[str, Any]:
        return {
            "tokenizer": type(self.tokenizer).__name__,
            "vocab_size": len(self.tokenizer),
            "max_length": self.max_length,
            "lowercase": bool(getattr(self.tokenizer, "do_lower_case", False)),
        }

    def preprocess(self, item: str) -> str:
        return item

    def collate(self, items: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(list(items), padding=True, truncation=True, max_length=self.max_length,
                                   return_tensors="pt"))

    def forward(self, batch: dict[str, torch.Tensor], tokens: bool = False) -> EncoderOutput:
        with self.autocast():
            out = self.model(**self.to_device(batch), output_hidden_states=self.layer is not None)
        hidden = (out.last_hidden_state if self.layer is None else out.hidden_states[self.layer]).float()
        mask = batch["attention_mask"].to(hidden.device).bool()
        pooled = pool_text(hidden, mask, self.options.pooling)
        if not tokens:
            return EncoderOutput(cpu_float(pooled))
        return EncoderOutput(cpu_float(pooled), cpu_float(hidden), mask.cpu())


def pool_text(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Text pooling: ``mean`` over every real token (the sentence-transformers convention),
    ``cls`` the first token, ``cls+mean`` both concatenated."""
    mean = pool_tokens(hidden, mask, "mean", has_cls=False)
    if how == "mean":
        return mean
    if how == "cls":
        return hidden[:, 0]
    return torch.cat([hidden[:, 0], mean], dim=-1)


# ---- loading ------------------------------------------------------------------------------


def build_hf(name: str, options: EncoderOptions) -> TorchEncoder:
    """The ``hf:`` backend factory."""
    spec = f"hf:{name}"
    check_extra(options, ("modality", "max_length"), spec)
    from transformers import AutoConfig, AutoModel

    kw = _load_kwargs(name)
    config = _load(AutoConfig.from_pretrained, name, kw)
    modality = detect_modality(config, options.extra.get("modality"), spec)
    model = _load(AutoModel.from_pretrained, name, kw)
    model, config = _tower(model, config, modality, spec)
    if modality == "image":
        transform, desc = processor_transform(name, kw, spec)
        return HFVisionEncoder(model, config, transform, desc, options, spec)
    from transformers import AutoTokenizer

    tokenizer = _load(AutoTokenizer.from_pretrained, name, kw)
    max_length = int(options.extra["max_length"]) if "max_length" in options.extra else None
    return HFTextEncoder(model, tokenizer, config, options, spec, max_length)


def _load_kwargs(name: str) -> dict[str, Any]:
    # A local folder must not wait on the network; remote code is never run.
    return {"trust_remote_code": False, "local_files_only": Path(name).expanduser().is_dir()}


def _load(fn: Any, name: str, kw: dict[str, Any]) -> Any:
    try:
        return fn(str(Path(name).expanduser()) if kw["local_files_only"] else name, **kw)
    except (OSError, ValueError, KeyError) as e:
        raise AlignkitError(
            f"could not load hf:{name}: {e}. Check the hub id or local folder; without network, "
            "use a downloaded folder path or an offline short name from `alignkit zoo`."
        ) from None


def detect_modality(config: Any, asked: str | None, spec: str) -> str:
    """Image or text, from ``?modality=`` or else from what the config describes."""
    if asked is not None:
        if asked not in ("image", "text"):
            raise AlignkitError(f"{spec}: modality must be image or text, got {asked!r}")
        return asked
    if hasattr(config, "vision_config"):
        return "image"  # CLIP/SigLIP-like: the vision tower unless text is asked for
    if hasattr(config, "num_channels") or hasattr(config, "image_size"):
        return "image"
    if hasattr(config, "vocab_size"):
        return "text"
    raise AlignkitError(f"{spec}: cannot tell image from text from its config; add ?modality=image or ?modality=text")


def _tower(model: torch.nn.Module, config: Any, modality: str, spec: str) -> tuple[torch.nn.Module, Any]:
    """From a two-tower model keep the asked tower; from an encoder-decoder keep the encoder."""
    sub = "vision" if modality == "image" else "text"
    if hasattr(config, f"{sub}_config"):
        tower = getattr(model, f"{sub}_model", None)
        if tower is None:
            raise AlignkitError(f"{spec}: found no {sub}_model inside {type(model).__name__}")
        return tower, getattr(config, f"{sub}_config")
    if modality == "image" and not (hasattr(config, "num_channels") or hasattr(config, "image_size")):
        raise AlignkitError(f"{spec}: ?modality=image was asked for, but this is a text model")
    if modality == "text" and not hasattr(config, "vocab_size"):
        raise AlignkitError(f"{spec}: ?modality=text was asked for, but this is not a text model")
    if getattr(config, "is_encoder_decoder", False):
        return model.get_encoder(), config
    return model, config


def processor_transform(name: str, kw: dict[str, Any], spec: str) -> tuple[Any, dict[str, Any]]:
    """The model's image-processor config, rebuilt as a torchvision transform."""
    from transformers import AutoImageProcessor

    try:
        proc = AutoImageProcessor.from_pretrained(str(Path(name).expanduser()) if kw["local_files_only"] else name, **kw)
    except (OSError, ValueError) as e:
        raise AlignkitError(
            f"{spec}: found no image processor config (preprocessor_config.json): {e}. "
            "alignkit reads resize/crop/mean/std from it rather than guessing."
        ) from None
    size, crop = _size_dict(getattr(proc, "size", None)), _size_dict(getattr(proc, "crop_size", None))
    resize: int | tuple[int, int] | None = None
    if getattr(proc, "do_resize", True):
        if size.get("shortest_edge"):
            resize = int(size["shortest_edge"])
        elif size.get("height") and size.get("width"):
            resize = (int(size["height"]), int(size["width"]))
        else:
            raise AlignkitError(f"{spec}: unsupported image processor size {size}; expected shortest_edge or height/width")
    crop_hw = None
    if getattr(proc, "do_center_crop", False) and crop.get("height") and crop.get("width"):
        crop_hw = (int(crop["height"]), int(crop["width"]))
    normalise = getattr(proc, "do_normalize", True)
    return image_transform(
        resize,
        crop_hw,
        proc.image_mean if normalise else None,
        proc.image_std if normalise else None,
        interpolation=getattr(proc, "resample", 2),
        rescale=float(proc.rescale_factor) if getattr(proc, "do_rescale", True) else 1.0,
        crop_offset="floor",
    )


def _size_dict(size: Any) -> dict[str, Any]:
    if size is None:
        return {}
    if isinstance(size, dict):
        return size
    if isinstance(size, int):
        return {"shortest_edge": size}
    import dataclasses

    return {k: v for k, v in dataclasses.asdict(size).items() if v is not None}
