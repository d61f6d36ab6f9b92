"""Can an encoder spec be built here, before anything is embedded? Installed (short names and
the backends' packages), a local folder, or, with the hub offline (``HF_HUB_OFFLINE``), in the
local hub cache. A zoo is checked whole, so every missing encoder is named in one error instead
of one at a time, mid-run."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from alignkit.encoders.registry import BACKENDS, get_entry, parse_spec
from alignkit.errors import AlignkitError, UnknownEncoderError

PACKAGES = {"hf": ("transformers", "transformers"), "st": ("sentence_transformers", "sentence-transformers"),
            "timm": ("timm", "timm")}
# files a hub repo of each backend holds, any one of which shows the model was downloaded
MARKERS = {"hf": ("config.json",), "st": ("modules.json", "config.json"), "timm": ("config.json", "model.safetensors")}


def hub_offline() -> bool:
    """Whether the Hugging Face hub may not be asked (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def missing_reason(spec: str) -> str | None:
    """Why ``spec`` cannot be built here, or None when it can (as far as can be told without
    loading it: an online hub repo is taken as available)."""
    try:
        prefix, name, _ = parse_spec(spec)
        if prefix is None:
            entry = get_entry(name)
            return None if entry.installed() else f"not installed ({entry.install_hint})"
    except UnknownEncoderError as e:
        return str(e)
    if prefix not in BACKENDS or Path(name).expanduser().is_dir():
        return None  # another backend judges its own names; a local folder needs no hub
    module, package = PACKAGES[prefix]
    if importlib.util.find_spec(module) is None:
        return f"needs {package} (pip install {package})"
    if not hub_offline():
        return None
    repo = _hub_repo(prefix, name)
    if repo is None or _cached(repo, MARKERS[prefix]):
        return None
    return f"{repo} is not in the local hub cache and the hub is offline (HF_HUB_OFFLINE); download it first"


def _hub_repo(prefix: str, name: str) -> str | None:
    """The hub repository a backend would download ``name`` from (None when it is not a hub repo)."""
    if prefix != "timm":
        return name.split("@")[0]
    if name.startswith("hf-hub:"):
        return name[len("hf-hub:"):]
    import timm.models

    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except (RuntimeError, ValueError, KeyError):
        return None  # an unknown name: building it says so, with suggestions
    return getattr(cfg, "hf_hub_id", None) if cfg is not None else None


def _cached(repo: str, files: tuple[str, ...]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, f), str) for f in files)


def check_specs(specs: list[str], skip_missing: bool = False) -> tuple[list[str], list[str]]:
    """(usable specs, one line per missing spec). Missing ones are an error naming all of them,
    unless ``skip_missing``."""
    reasons = {s: r for s in specs if (r := missing_reason(s))}
    lines = [f"{s}: {r}" for s, r in reasons.items()]
    if reasons and not skip_missing:
        raise AlignkitError(f"{len(reasons)} encoder(s) cannot be loaded here, so nothing was embedded: " + "; ".join(lines)
                            + ". Install or download them, or pass --skip-missing to rank the rest")
    return [s for s in specs if s not in reasons], lines
