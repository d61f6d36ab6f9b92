"""``timm:<model name or local folder>``: timm image models as frozen encoders.

A name loads its pretrained weights from the hub (``timm.create_model(name, pretrained=True)``);
a local folder in timm's hub format (``config.json`` with ``architecture`` + ``pretrained_cfg``,
and ``model.safetensors``) loads through timm's own ``local-dir:`` source, the same code path
as a hub model. Preprocessing is the model's own data config (``resolve_model_data_config`` +
``create_transform``). The pooled feature is the model's own pooled output (``pool=`` picks
timm's ``global_pool``: avg, token, max, ...); ``layer=k`` takes ``forward_intermediates``
output k (a block for ViTs, a stage for CNNs) averaged over its spatial positions / patch tokens.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Sequence

import torch

from alignkit.encoders.backends.common import TorchEncoder, check_extra, cpu_float, resolve_layer
from alignkit.encoders.base import EncoderOptions, EncoderOutput
from alignkit.errors import AlignkitError, UnknownEncoderError


class TimmEncoder(TorchEncoder):
    """A timm model built with ``num_classes=0`` so its output is the pooled pre-logits feature."""

    modality = "image"

    def __init__(self, model: torch.nn.Module, options: EncoderOptions, spec: str):
        super().__init__(model, options, spec)
        import timm.data

        self.data_config = timm.data.resolve_model_data_config(model)
        self.transform = timm.data.create_transform(**self.data_config, is_training=False)
        self.layer = resolve_layer(options.layer, self.num_layers, spec)
        if self.layer is not None and not hasattr(model, "forward_intermediates"):
            raise AlignkitError(f"{spec}: this timm model has no forward_intermediates, so layer= is not available")

    @property
    def num_layers(self) -> int:
        info = getattr(self.model, "feature_info", None)
        return len(info) if info else 1

    def preprocessing(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.data_config.items()}

    def preprocess(self, item: Any) -> torch.Tensor:
        return self.transform(item)

    def collate(self, items: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(items))

    def forward(self, batch: torch.Tensor, tokens: bool = False) -> EncoderOutput:
        x = self.to_device(batch)
        with self.autocast():
            if self.layer is None:
                feats = self.model.forward_features(x)
                pooled = self.model.forward_head(feats, pre_logits=True)
            else:
                feats = self.model.forward_intermediates(x, indices=[self.layer], intermediates_only=True)[0]
                pooled = _spatial_mean(feats)
        if not tokens:
            return EncoderOutput(cpu_float(pooled))
        seq = feats.flatten(2).transpose(1, 2) if feats.dim() == 4 else feats
        return EncoderOutput(cpu_float(pooled), cpu_float(seq), torch.ones(seq.shape[:2], dtype=torch.bool))


def _spatial_mean(feats: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) or (B, T, C) -> (B, C)."""
    return feats.float().mean(dim=(2, 3)) if feats.dim() == 4 else feats.float().mean(dim=1)


def build_timm(name: str, options: EncoderOptions) -> TimmEncoder:
    """The ``timm:`` backend factory."""
    import timm

    spec = f"timm:{name}"
    check_extra(options, (), spec)
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise AlignkitError(f"{spec}: a local timm model folder needs config.json (timm's hub format) beside its weights")
    elif not name.startswith("hf-hub:"):
        base = name.split(".")[0]
        if not timm.is_model(base):
            close = difflib.get_close_matches(base, timm.list_models(), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownEncoderError(f"timm has no model {name!r}.{hint} See timm.list_models().")
    model_name = f"local-dir:{local}" if local.is_dir() else name
    kwargs: dict[str, Any] = {"pretrained": True, "num_classes": 0}
    if options.pooling is not None:
        kwargs["global_pool"] = options.pooling
    try:
        model = timm.create_model(model_name, **kwargs)
    except (OSError, RuntimeError, ValueError, AssertionError) as e:
        raise AlignkitError(
            f"could not load {spec}: {e}. Without network, save the model in timm's hub format "
            "(config.json + model.safetensors) and pass the folder path."
        ) from None
    return TimmEncoder(model, options, spec)
