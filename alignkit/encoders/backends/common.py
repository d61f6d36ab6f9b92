"""Pieces every torch-backed encoder shares: device/dtype handling, weight digests, option
checks, and image transforms described as data (so preprocessing is part of the fingerprint)."""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from typing import Any, Iterable

import torch
from torchvision import transforms as T

from alignkit.devices import resolve_device
from alignkit.encoders.base import Encoder, EncoderOptions, resolve_dtype
from alignkit.errors import AlignkitError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_extra(options: EncoderOptions, allowed: Iterable[str], spec: str) -> None:
    """Refuse option keys a backend does not understand, so a typo never passes silently."""
    unknown = sorted(set(options.extra) - set(allowed))
    if unknown:
        known = ", ".join(sorted({"layer", "pool", "dtype", *allowed}))
        raise AlignkitError(f"{spec}: unknown option(s) {', '.join(unknown)}; this encoder accepts {known}")


def check_pooling(options: EncoderOptions, choices: Iterable[str], spec: str) -> None:
    choices = list(choices)
    if options.pooling is not None and options.pooling not in choices:
        offer = f"choose one of {', '.join(choices)}" if choices else "leave pool= out"
        raise AlignkitError(f"{spec}: pooling {options.pooling!r} is not available; {offer}")


def has_modules(*names: str) -> bool:
    """Cheap installed-check: the modules can be found (nothing is imported or loaded)."""
    import importlib.util

    return all(importlib.util.find_spec(n) is not None for n in names)


def resolve_layer(layer: int | None, num_layers: int, spec: str) -> int | None:
    """Map a possibly negative layer index onto 0..num_layers-1 (None stays None = final output)."""
    if layer is None:
        return None
    if not -num_layers <= layer < num_layers:
        raise AlignkitError(
            f"{spec}: layer {layer} is out of range; this model has {num_layers} selectable layers "
            f"(0..{num_layers - 1}, or -1..-{num_layers} from the end)"
        )
    return layer % num_layers


def module_digest(module: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes): the weights' identity."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    return "sha256:" + h.hexdigest()


class TorchEncoder(Encoder):
    """An encoder around one frozen ``torch.nn.Module``: moves it to the chosen device and dtype,
    counts its parameters, digests its weights once, and returns float32 CPU outputs. Its width
    comes from the config where that is exact, else from encoding one probe item."""

    _dim: int | None = None

    def __init__(self, model: torch.nn.Module, options: EncoderOptions, spec: str):
        self.spec = spec
        self.options = options
        self.device = resolve_device(options.device)
        self.torch_dtype = resolve_dtype(options.dtype)
        self.model = model.eval().requires_grad_(False).to(self.device, self.torch_dtype)
        self._digest: str | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = self.known_dim() or int(self.encode([self.probe_item()]).pooled.shape[1])
        return self._dim

    def known_dim(self) -> int | None:
        """The width when the config states it (saves a forward pass); None means probe."""
        return None

    def probe_item(self) -> Any:
        """One valid raw item: a grey image or a short sentence."""
        if self.modality == "image":
            from PIL import Image

            return Image.new("RGB", (64, 64), (128, 128, 128))
        return "a probe sentence"

    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def weights_digest(self) -> str:
        if self._digest is None:
            self._digest = module_digest(self.model)
        return self._digest

    def to_device(self, batch: Any) -> Any:
        """Move a tensor (floats also cast to the model dtype) or a dict of tensors to the device."""
        if isinstance(batch, dict):
            return {k: self.to_device(v) for k, v in batch.items()}
        if isinstance(batch, torch.Tensor):
            if batch.is_floating_point():
                return batch.to(self.device, self.torch_dtype)
            return batch.to(self.device)
        return batch

    def autocast(self) -> Any:
        """Reduced-precision runs keep numerically touchy ops (softmax, norms) in float32 on GPU."""
        if self.torch_dtype == torch.float32 or self.device.type != "cuda":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.torch_dtype)


def cpu_float(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.detach().float().cpu()


# ---- image transforms -------------------------------------------------------------------

_INTERPOLATION = {
    0: T.InterpolationMode.NEAREST,
    1: T.InterpolationMode.LANCZOS,
    2: T.InterpolationMode.BILINEAR,
    3: T.InterpolationMode.BICUBIC,
    4: T.InterpolationMode.BOX,
    5: T.InterpolationMode.HAMMING,
}


def interpolation_mode(value: Any) -> T.InterpolationMode:
    """PIL resample code (int or enum) or a name ('bicubic') -> torchvision interpolation mode."""
    if isinstance(value, T.InterpolationMode):
        return value
    if isinstance(value, str):
        return T.InterpolationMode(value.lower())
    return _INTERPOLATION[int(value)]


def image_transform(
    resize: int | tuple[int, int] | None,
    crop: int | tuple[int, int] | None,
    mean: Iterable[float] | None,
    std: Iterable[float] | None,
    interpolation: Any = "bilinear",
    rescale: float = 1 / 255,
    crop_offset: str = "round",
) -> tuple[T.Compose, dict[str, Any]]:
    """A picklable PIL -> (C, H, W) float transform and its JSON description.

    ``resize`` as an int resizes the short side (aspect kept); as (h, w) resizes exactly.
    ``rescale`` multiplies the 0..255 pixel values (1/255 is the usual [0, 1] range).
    ``crop_offset``: where an odd margin goes; ``round`` as torchvision/timm, ``floor`` as
    transformers' image processors (one pixel apart, which matters for matching a model).
    """
    mode = interpolation_mode(interpolation)
    steps: list[Any] = []
    if resize is not None:
        steps.append(T.Resize(resize if isinstance(resize, int) else tuple(resize), interpolation=mode, antialias=True))
    if crop is not None:
        size = (crop, crop) if isinstance(crop, int) else tuple(crop)
        steps.append(T.CenterCrop(size) if crop_offset == "round" else _FloorCenterCrop(size))
    steps.append(T.PILToTensor())
    steps.append(T.ConvertImageDtype(torch.float32))  # -> [0, 1]
    if abs(rescale - 1 / 255) > 1e-12:
        steps.append(T.Lambda(_Scale(rescale * 255.0)))
    if mean is not None and std is not None:
        steps.append(T.Normalize(list(mean), list(std)))
    desc = {
        "resize": list(resize) if isinstance(resize, tuple) else resize,
        "crop": list(crop) if isinstance(crop, tuple) else crop,
        "crop_offset": crop_offset if crop is not None else None,
        "interpolation": mode.value,
        "rescale": rescale,
        "mean": [round(float(m), 8) for m in mean] if mean is not None else None,
        "std": [round(float(s), 8) for s in std] if std is not None else None,
    }
    return T.Compose(steps), desc


class _FloorCenterCrop:
    """Centre crop with the top-left margin rounded down, as transformers crops."""

    def __init__(self, size: tuple[int, int]):
        self.size = size

    def __call__(self, img: Any) -> Any:
        (ch, cw), (w, h) = self.size, img.size
        if ch > h or cw > w:  # smaller than the crop: let torchvision pad it the usual way
            return T.CenterCrop(self.size)(img)
        top, left = (h - ch) // 2, (w - cw) // 2
        return img.crop((left, top, left + cw, top + ch))


class _Scale:
    """Multiply by a constant (a module-level class so the transform pickles into workers)."""

    def __init__(self, factor: float):
        self.factor = factor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor
