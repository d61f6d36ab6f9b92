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

import json
from dataclasses import asdict, field, fields
from pathlib import Path
from typing import Any

from pydantic.dataclasses import dataclass

from alignkit.align.recipe_schema import CHECKED, SECTIONS, ConfigError, Key, checked, choice, flag, integer, key_of, number, string, typed
from alignkit.engines import ENGINES
from alignkit.options import ENCODE_BATCH_SIZE

HEAD_KINDS = ("linear", "mlp", "token", "identity", "residual")
INITS = ("auto", "none", "procrustes")
LOSSES = ("infonce", "siglip")
CAPTION_MODES = ("sample", "all")
FEATURES_IN = ("auto", "ram", "mmap", "device")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
H, L, O, M, D, R = SECTIONS  # heads, loss, optimisation, memory, data, runtime

__all__ = ["AlignConfig", "HeadConfig", "ConfigError", "recipe_keys", "parse_sets", "recipe_overrides"]


@checked
@dataclass(config=CHECKED)
class HeadConfig:
    """One side's projector. ``hidden`` defaults to twice the output width (MLP branches)."""

    kind: choice(H, "Projector kind.", HEAD_KINDS) = "mlp"
    hidden: integer(H, "Hidden width of MLP branches (null: twice the output width).", optional=True) = None
    dropout: number(H, "Dropout in the head.", 0.0, 0.95) = 0.1
    standardize: flag(H, "Subtract the training mean and divide by the std of pooled inputs.") = False
    center: flag(H, "Subtract the training mean only (keeps the encoder's cosine geometry).") = False


def _head(help: str) -> Any:
    return typed(HeadConfig, Key(H, help, "head"))


@checked
@dataclass(config=CHECKED)
class AlignConfig:
    """The full recipe, by section: heads, loss, optimisation, memory, data, runtime. Every key's
    type, range and help are declared here (alignkit.align.recipe_schema checks them)."""

    # -- heads: the selected recipe (see the module's docstring): benchmarks/recipes/selected.yaml
    image_head: _head("The image projector (kind, hidden, dropout, standardize, center).") = field(
        default_factory=lambda: HeadConfig(kind="identity", center=True))
    text_head: _head("The text projector (kind, hidden, dropout, standardize, center).") = field(
        default_factory=lambda: HeadConfig(kind="mlp"))
    embed_dim: integer(H, "Width of the shared space (an identity head sets it to its features' width).") = 512
    ensemble: integer(H, "Independently initialised head pairs trained side by side on the same batches; "
                         "the model scores with their mean cosine (1: one pair).") = 1
    init: choice(H, "procrustes: start a residual image head at the closed-form rotation into the centred text space "
                    "of an identity text head; auto: that whenever the heads are residual and identity, else none.", INITS) = "auto"
    # -- loss
    loss: choice(L, "Contrastive loss.", LOSSES) = "infonce"
    init_temperature: number(L, "Initial temperature.", 1e-4, 10.0) = 0.07
    learn_temperature: flag(L, "Learn the temperature (else it stays fixed).") = False
    max_logit_scale: number(L, "Upper bound of the learned logit scale (1 / temperature).", 1.0, 1e4) = 100.0
    siglip_bias_init: number(L, "Initial bias of the SigLIP loss.") = -10.0
    structure: number(L, "Weight of the STRUCTURE regulariser beside the contrastive loss (0: off), "
                         "ramped up with the learning-rate warmup.", 0.0, 1000.0) = 0.0
    structure_levels: integer(L, "STRUCTURE: walks of 1..levels steps.") = 1
    structure_temperature: number(L, "STRUCTURE: temperature of its similarity walks.", 1e-3, 10.0) = 0.1
    # -- optimisation
    epochs: integer(O, "Training epochs.") = 40
    batch_size: integer(O, "Global batch size (split over ranks under torchrun).") = 256
    lr: number(O, "Peak learning rate.", 0.0, None, lo_open=True) = 1e-3
    weight_decay: number(O, "AdamW weight decay.", 0.0, 10.0) = 0.1
    warmup_fraction: number(O, "Share of the steps spent warming the learning rate up.", 0.0, 1.0) = 0.05
    grad_clip: number(O, "Gradient-norm clip (0: off).", 0.0) = 1.0
    val_fraction: number(O, "Share of pairs held out and watched every epoch (recipes are chosen with "
                            "`align --select` instead).", 0.0, 0.9) = 0.0
    patience: integer(O, "Epochs without a better validation R@1 before stopping (0: never stop early).", 0) = 0
    refit: flag(O, "After a validation run, train again on every pair for the latest epoch count within "
                   "refit_tolerance of the best validation R@1 (the validation run is kept in <out>/selection).") = False
    refit_tolerance: number(O, "How far below the best validation R@1 a refit's epoch count may be.", 0.0, 1.0) = 0.01
    seed: integer(O, "Seed of initialisation, sampling and splits.", 0) = 0
    # -- memory: alignkit.align.model.caption_memory
    memory: number(M, "Weight of the k nearest training images' caption embeddings in an image's final "
                      "embedding (0: heads alone).", 0.0, 1.0) = 0.3
    memory_k: integer(M, "Nearest training images the caption memory reads.") = 16
    memory_temperature: number(M, "Softmax temperature over the memory's neighbours.", 1e-3, 10.0) = 0.05
    memory_size: integer(M, "At most this many training images (a seeded sample) are kept.") = 100_000
    # -- data
    vision: string(D, "Image encoder spec (see `alignkit zoo`).") = ""
    text: string(D, "Text encoder spec.") = ""
    data: string(D, "Training pairs (a --data spec, see `alignkit data --help`).") = ""
    captions: choice(D, "One random caption per image per epoch (sample), or every caption (all).", CAPTION_MODES) = "sample"
    style_shift: number(D, "Image-feature augmentation: add u * (x_a - x_b), u ~ U(0, style_shift), a and b two "
                           "training images of one concept in two renderings (0: off).", 0.0, 10.0) = 1.0
    online: flag(D, "Run the frozen encoders inside the loop instead of caching features.") = False
    encode_batch_size: integer(D, "Items per encoder forward pass.") = ENCODE_BATCH_SIZE
    # -- runtime
    device: string(R, "Device: auto, cpu, cuda, cuda:1, mps.") = "auto"
    engine: choice(R, "What runs the frozen encoders (alignkit.engines).", ENGINES) = "auto"
    features_in: choice(R, "Where cached features live while training (alignkit/features/placement.py).", FEATURES_IN) = "auto"
    precision: choice(R, "Autocast precision of the heads (auto: bf16 on GPUs that have it, else fp32).", PRECISIONS) = "auto"
    log_every: integer(R, "Steps between reads of the running loss (each read waits for the GPU).") = 50

    def validate(self) -> "AlignConfig":
        """Raise ``ConfigError`` for a combination of keys that cannot train (each key's own type and
        range are checked on construction); return self when all is fine."""
        if self.image_head.kind == "identity" and self.text_head.kind == "identity":
            raise ConfigError("both heads are 'identity': nothing would be trained; give one side a linear, mlp or token head")
        if self.init == "procrustes" and (self.image_head.kind != "residual" or self.text_head.kind != "identity"):
            raise ConfigError("init 'procrustes' needs image_head.kind 'residual' and text_head.kind 'identity' "
                              f"(got {self.image_head.kind!r} and {self.text_head.kind!r})")
        if 1.0 / self.init_temperature > self.max_logit_scale:
            raise ConfigError(
                f"init_temperature {self.init_temperature} gives logit scale {1 / self.init_temperature:.1f}, "
                f"above max_logit_scale {self.max_logit_scale}; raise max_logit_scale or the temperature"
            )
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
        """A recipe from a mapping: flat (``lr: 1e-3``, as every saved config.json and recipe file
        is) or by section (``optimisation: {lr: 1e-3}``), or a mix."""
        return cls(**_flatten_sections(data))

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
        for key, value in _flatten_sections(overrides).items():
            if value is None:
                continue
            node = data
            *parents, leaf = _without_section(key).split(".")
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
    """``--set KEY=VALUE`` items as recipe overrides (each value read as YAML: 3, 0.1, true, mlp;
    ``1e-3``, a string to YAML 1.1, is taken as a number by the schema)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set wants KEY=VALUE, got {item!r}")
        if not value.strip():
            raise ConfigError(f"--set {key.strip()}= gives no value; see `alignkit align --list-keys` for what it takes")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value is not valid YAML; quote it") from None
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


def recipe_keys() -> list[dict[str, Any]]:
    """Every recipe key (heads' keys dotted) with its section, type, default, range and help:
    what ``alignkit align --list-keys`` prints, generated from the schema so it cannot drift."""
    rows = []
    default = AlignConfig().to_dict()
    for f in fields(AlignConfig):
        key = key_of(AlignConfig, f.name)
        if key.kind == "head":
            rows += [_row(f"{f.name}.{h.name}", key_of(HeadConfig, h.name), default[f.name][h.name]) for h in fields(HeadConfig)]
        else:
            rows.append(_row(f.name, key, default[f.name]))
    return sorted(rows, key=lambda r: SECTIONS.index(r["section"]))


def _row(name: str, key: Key, default: Any) -> dict[str, Any]:
    return {"key": name, "section": key.section, "type": key.kind, "default": default, "accepts": key.describe(), "help": key.help}


def _section_of(name: str) -> str | None:
    key = key_of(AlignConfig, name)
    return key.section if key else None


def _flatten_sections(data: dict[str, Any]) -> dict[str, Any]:
    """Section mappings (``memory: {memory_k: 8}``) merged into the flat recipe; a mapping under a
    section name is that section even where a key shares the name (``loss``, ``data``, ``memory``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a recipe is a mapping of keys, not {type(data).__name__}")
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if name in SECTIONS and isinstance(value, dict):
            for inner, v in value.items():
                if _section_of(inner) != name:
                    raise ConfigError(f"{name}.{inner} is no key of section {name!r}; its keys: "
                                      + ", ".join(f.name for f in fields(AlignConfig) if _section_of(f.name) == name))
                flat[inner] = v
        else:
            flat[name] = value
    return flat


def _without_section(key: str) -> str:
    """``optimisation.lr`` -> ``lr`` (a dotted override may name the section); other keys unchanged."""
    first, sep, rest = key.partition(".")
    return rest if sep and first in SECTIONS and _section_of(rest.split(".")[0]) == first else key
