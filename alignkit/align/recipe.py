"""The alignment recipe as one dataclass: saved as JSON with every run, loadable from YAML.

Every knob the trainer has lives here, so a run is reproducible from its ``config.json``
alone and a YAML file plus command-line overrides can describe any recipe. The choice lists
below (``HEAD_KINDS``, ``LOSSES``, ...) are the only ones: the CLI's options are built from them.

The default recipe is the one ``alignkit align``, ``alignkit bench`` and ``alignkit demo`` all
train: the image encoder's space kept as it is (an identity image head, centred), an MLP text head
trained into it with a fixed temperature, plus a caption memory of weight 0.3. It was chosen by the
selection protocol on folds of the *training* data only (``alignkit align --select
benchmarks/recipes/candidates.yaml``, run by ``benchmarks/bench_recipe_selection.py``; the
record is benchmarks/results/recipe_selection.md), never on the held-out tasks. The previous
default (a residual image head started at the Procrustes map into an identity text space) and the
plain heads (``image_head.kind: mlp``, ``text_head.kind: mlp``) remain a few keys away.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from alignkit.engines import ENGINES
from alignkit.errors import AlignkitError
from alignkit.options import ENCODE_BATCH_SIZE

HEAD_KINDS = ("linear", "mlp", "token", "identity", "residual")
INITS = ("auto", "none", "procrustes")
LOSSES = ("infonce", "siglip")
CAPTION_MODES = ("sample", "all")
FEATURES_IN = ("auto", "ram", "mmap", "device")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


class ConfigError(AlignkitError):
    """A recipe value is unknown or out of range."""


@dataclass
class HeadConfig:
    """One side's projector. ``hidden`` defaults to twice the output width (MLP branches)."""

    kind: str = "mlp"
    hidden: int | None = None
    dropout: float = 0.1
    standardize: bool = False  # subtract the training mean / divide by std of pooled inputs
    center: bool = False  # subtract the training mean only (keeps the encoder's cosine geometry)


@dataclass
class AlignConfig:
    """The full recipe: encoders, data, heads, loss, optimisation, validation."""

    vision: str = ""
    text: str = ""
    data: str = ""
    # the selected recipe (see the module's docstring): benchmarks/recipes/selected.yaml
    image_head: HeadConfig = field(default_factory=lambda: HeadConfig(kind="identity", center=True))
    text_head: HeadConfig = field(default_factory=lambda: HeadConfig(kind="mlp"))
    embed_dim: int = 512
    # independently initialised head pairs trained side by side, each with its own loss on the
    # same batches; the model scores with their mean cosine (a cheap ensemble; 1 = one pair)
    ensemble: int = 1
    # "procrustes": start a residual image head at the closed-form rotation into the (centred) text
    # space of an identity text head, so training begins where the Procrustes baseline ends;
    # "auto": that whenever the heads are residual (image) and identity (text), else "none"
    init: str = "auto"
    loss: str = "infonce"
    init_temperature: float = 0.07
    learn_temperature: bool = False
    max_logit_scale: float = 100.0
    siglip_bias_init: float = -10.0
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    captions: str = "sample"  # one random caption per image per epoch, or every caption
    # image-feature augmentation: add u * (x_a - x_b), u ~ U(0, style_shift), where a and b are two
    # training images of one group (one concept in two renderings); 0 turns it off
    style_shift: float = 1.0
    # caption memory (alignkit.align.model.caption_memory): the weight of the k nearest training images' caption
    # embeddings in an image's final embedding; 0 = heads alone
    memory: float = 0.3
    memory_k: int = 16
    memory_temperature: float = 0.05
    memory_size: int = 100_000  # at most this many training images (a seeded sample) are kept
    # STRUCTURE regulariser (alignkit.align.training.losses.structure_divergence): its weight beside the
    # contrastive loss (0 = off), ramped up with the learning-rate warmup; walks of 1..levels steps
    structure: float = 0.0
    structure_levels: int = 1
    structure_temperature: float = 0.1
    val_fraction: float = 0.0  # a held-out split watched every epoch; recipes are chosen with `align --select` instead
    patience: int = 0  # epochs without a better validation R@1 before stopping; 0 = never stop early
    # after a validation run, train again on every pair (validation rows included) for the
    # latest epoch count whose validation R@1 is within refit_tolerance of the best (held-out
    # concepts do not get worse there, and the training concepts are fitted better); the
    # validation run is kept in <out>/selection
    refit: bool = False
    refit_tolerance: float = 0.01
    seed: int = 0
    device: str = "auto"
    engine: str = "auto"  # what runs the frozen encoders: auto | torch | onnx (alignkit.engines)
    online: bool = False
    encode_batch_size: int = ENCODE_BATCH_SIZE
    # where cached features live while training: auto | ram | mmap | device (see alignkit/features/placement.py)
    features_in: str = "auto"
    precision: str = "auto"  # auto | bf16 | fp16 | fp32 (auto: bf16 on GPUs that have it, else fp32)
    log_every: int = 50  # steps between reads of the running loss (each read waits for the GPU)

    def __post_init__(self) -> None:
        for side in ("image_head", "text_head"):
            value = getattr(self, side)
            if isinstance(value, dict):
                setattr(self, side, _build(HeadConfig, value, side))

    def validate(self) -> "AlignConfig":
        """Raise ``ConfigError`` naming the first bad value; return self when all are fine."""
        for side in ("image_head", "text_head"):
            head = getattr(self, side)
            _choice(f"{side}.kind", head.kind, HEAD_KINDS)
            _range(f"{side}.dropout", head.dropout, 0.0, 0.95)
            if head.hidden is not None and head.hidden < 1:
                raise ConfigError(f"{side}.hidden must be a positive width, got {head.hidden}")
        if self.image_head.kind == "identity" and self.text_head.kind == "identity":
            raise ConfigError("both heads are 'identity': nothing would be trained; give one side a linear, mlp or token head")
        _choice("loss", self.loss, LOSSES)
        _choice("init", self.init, INITS)
        if self.init == "procrustes" and (self.image_head.kind != "residual" or self.text_head.kind != "identity"):
            raise ConfigError("init 'procrustes' needs image_head.kind 'residual' and text_head.kind 'identity' "
                              f"(got {self.image_head.kind!r} and {self.text_head.kind!r})")
        _choice("captions", self.captions, CAPTION_MODES)
        _choice("features_in", self.features_in, FEATURES_IN)
        _choice("precision", self.precision, PRECISIONS)
        _choice("engine", self.engine, ENGINES)
        _range("init_temperature", self.init_temperature, 1e-4, 10.0)
        _range("max_logit_scale", self.max_logit_scale, 1.0, 1e4)
        if 1.0 / self.init_temperature > self.max_logit_scale:
            raise ConfigError(
                f"init_temperature {self.init_temperature} gives logit scale {1 / self.init_temperature:.1f}, "
                f"above max_logit_scale {self.max_logit_scale}; raise max_logit_scale or the temperature"
            )
        _range("val_fraction", self.val_fraction, 0.0, 0.9)
        _range("warmup_fraction", self.warmup_fraction, 0.0, 1.0)
        _range("weight_decay", self.weight_decay, 0.0, 10.0)
        _range("style_shift", self.style_shift, 0.0, 10.0)
        _range("refit_tolerance", self.refit_tolerance, 0.0, 1.0)
        _range("memory", self.memory, 0.0, 1.0)
        _range("memory_temperature", self.memory_temperature, 1e-3, 10.0)
        _range("structure", self.structure, 0.0, 1000.0)
        _range("structure_temperature", self.structure_temperature, 1e-3, 10.0)
        if self.memory_k < 1 or self.memory_size < 1:
            raise ConfigError(f"memory_k and memory_size must be at least 1, got {self.memory_k} and {self.memory_size}")
        for name in ("embed_dim", "ensemble", "epochs", "batch_size", "encode_batch_size", "log_every", "structure_levels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer of at least 1, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive finite number, got {self.lr!r}")
        if not math.isfinite(self.grad_clip) or self.grad_clip < 0 or self.patience < 0:
            raise ConfigError("grad_clip and patience must be >= 0 (0 turns them off)")
        return self

    def closed_form_init(self) -> bool:
        """Whether the image head starts at the Procrustes solution (see ``init``)."""
        fits = self.image_head.kind == "residual" and self.text_head.kind == "identity"
        return self.init == "procrustes" or (self.init == "auto" and fits)

    def uses_tokens(self, side: str) -> bool:
        return getattr(self, f"{side}_head").kind == "token"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AlignConfig":
        return _build(cls, data, "config")

    @classmethod
    def from_file(cls, path: str | Path) -> "AlignConfig":
        """Read a YAML or JSON recipe (YAML is a superset of JSON)."""
        import yaml

        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping of recipe keys, not {type(data).__name__}")
        return cls.from_dict(data)

    def with_overrides(self, overrides: dict[str, Any]) -> "AlignConfig":
        """A copy with dotted keys replaced (``{"image_head.kind": "linear", "lr": 3e-4}``); None values are ignored."""
        data = self.to_dict()
        for key, value in overrides.items():
            if value is None:
                continue
            node = data
            *parents, leaf = key.split(".")
            for p in parents:
                if not isinstance(node.get(p), dict):
                    raise ConfigError(f"unknown config key {key!r}")
                node = node[p]
            if leaf not in node:
                raise ConfigError(f"unknown config key {key!r}")
            node[leaf] = value
        return AlignConfig.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True), encoding="utf-8")


def parse_sets(items: Any) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as recipe overrides (each value read as YAML: 3, 0.1, true, mlp)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set wants KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def recipe_overrides(config_file: str | Path | None, sets: Any = ()) -> dict[str, Any]:
    """Dotted-key overrides of the default recipe from a YAML/JSON file and ``--set`` items
    (``--set`` wins), checked against the recipe now so a typo fails before any work."""
    out: dict[str, Any] = {}
    if config_file:
        out.update(_dotted(AlignConfig.from_file(config_file).to_dict(), AlignConfig().to_dict()))
    out.update(parse_sets(sets))
    AlignConfig().with_overrides(out)
    return out


def _dotted(data: dict[str, Any], default: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The keys of ``data`` that differ from ``default``, as dotted paths."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_dotted(value, default.get(key) or {}, f"{prefix}{key}."))
        elif value != default.get(key):
            out[f"{prefix}{key}"] = value
    return out


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    return cls(**data)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _range(name: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")
    if not (lo <= value <= hi):  # also refuses NaN
        raise ConfigError(f"{name} must be in [{lo}, {hi}], got {value}")
