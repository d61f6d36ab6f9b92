"""Named candidate lists for ranking encoder pairs.

    offline           every installed offline encoder of the modality (weights in a package)
    offline+controls  the same plus the control encoders (random weights, pixels, n-grams)
    paper             hub specs of the candidates studied by Maniparambil et al. (CVPR 2025);
                      these need the model hub (or its files in the local cache)
"""

from __future__ import annotations

from alignkit.encoders.base import Modality
from alignkit.encoders.registry import zoo_entries
from alignkit.errors import AlignkitError

PAPER: dict[str, list[str]] = {
    "image": [
        "hf:facebook/dinov2-small",
        "hf:facebook/dinov2-base",
        "hf:facebook/dinov2-large",
        "hf:facebook/dinov2-giant",
        "hf:google/vit-base-patch16-224",
        "hf:google/vit-large-patch16-224",
        "hf:facebook/deit-base-patch16-224",
        "timm:convnext_base.fb_in22k",
    ],
    "text": [
        "st:sentence-transformers/all-roberta-large-v1",
        "st:sentence-transformers/all-mpnet-base-v2",
        "st:sentence-transformers/all-MiniLM-L6-v2",
        "st:sentence-transformers/all-MiniLM-L12-v2",
        "st:sentence-transformers/all-distilroberta-v1",
        "st:sentence-transformers/sentence-t5-base",
        "hf:bert-base-uncased",
        "hf:roberta-base",
    ],
}

NAMES = ("offline", "offline+controls", "paper")
MODALITIES: tuple[Modality, ...] = ("image", "text")


def preset(name: str, modality: Modality) -> list[str]:
    """The encoder specs a preset holds for one modality (installed ones only, for offline sets)."""
    if modality not in MODALITIES:
        raise AlignkitError(f"unknown modality {modality!r}; choose image or text")
    if name == "paper":
        return list(PAPER[modality])
    if name not in NAMES:
        raise AlignkitError(f"unknown preset {name!r}; choose one of {', '.join(NAMES)}")
    kinds = ("offline", "control") if name == "offline+controls" else ("offline",)
    return [e.name for kind in kinds for e in zoo_entries(modality, kind) if e.installed()]


def presets() -> dict[str, list[str]]:
    """Every preset for both modalities, keyed ``<preset>-<modality>`` (e.g. ``offline-image``)."""
    return {f"{n}-{m}": preset(n, m) for n in NAMES for m in MODALITIES}


PRESETS: dict[str, list[str]] = presets()
