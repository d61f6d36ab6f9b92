"""One registry for every encoder: spec strings -> Encoder.

Spec syntax: ``BACKEND:NAME[?key=value&key=value]`` or a registered short name.

    hf:facebook/dinov2-small?pool=cls+mean&layer=-2
    timm:vit_small_patch14_dinov2.lvd142m
    st:sentence-transformers/all-MiniLM-L6-v2
    efficientnet-lite0                      (an offline model that ships in a package)

Recognised options: ``layer`` (int), ``pool`` (backend-specific pooling name), ``dtype``;
anything else is passed to the backend in ``EncoderOptions.extra``.

The built-in backends and short names are lazy references (``BACKENDS``, ``ZOO_SOURCES``):
no backend module imports this registry, and none registers itself on import.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qsl

from alignkit.encoders.base import Encoder, EncoderOptions, Modality
from alignkit.encoders.entry import ZooEntry
from alignkit.errors import NotInstalledError, UnknownEncoderError
from alignkit.lazy import load
from alignkit.options import dtype_option

BackendFactory = Callable[[str, EncoderOptions], Encoder]


# backend prefix -> "module:factory" (factory(name, options) -> Encoder), imported on first use
BACKENDS: dict[str, str] = {
    "hf": "alignkit.encoders.backends.hf:build_hf",
    "st": "alignkit.encoders.backends.st:build_st",
    "timm": "alignkit.encoders.backends.timm_backend:build_timm",
}
# "module:list" of ZooEntry: the short names (offline models, controls), loaded on first use
ZOO_SOURCES: tuple[str, ...] = (
    "alignkit.encoders.backends.offline:ENTRIES",
    "alignkit.encoders.backends.controls:ENTRIES",
)

_BACKENDS: dict[str, BackendFactory] = {}
_ZOO: dict[str, ZooEntry] = {}
_LOADED = False


def register_backend(prefix: str, factory: BackendFactory) -> None:
    """Make ``prefix:NAME`` specs build through ``factory(name, options)`` (for backends outside
    alignkit; the built-in ones are listed in ``BACKENDS``)."""
    _BACKENDS[prefix] = factory


def _ensure_loaded() -> None:
    """Load the built-in short names once (the backends' factories load when first used)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for ref in ZOO_SOURCES:
        for entry in load(ref):
            _ZOO.setdefault(entry.name, entry)


def _backend(prefix: str) -> BackendFactory:
    if prefix not in _BACKENDS:
        _BACKENDS[prefix] = load(BACKENDS[prefix])
    return _BACKENDS[prefix]


def parse_spec(spec: str) -> tuple[str | None, str, EncoderOptions]:
    """Split a spec into (backend prefix or None, name, options)."""
    spec = spec.strip()
    if not spec:
        raise UnknownEncoderError("empty encoder spec")
    body, _, query = spec.partition("?")
    opts = EncoderOptions()
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "layer":
            try:
                opts.layer = int(value)
            except ValueError:
                raise UnknownEncoderError(f"layer must be an integer in spec {spec!r}, got {value!r}") from None
        elif key == "pool":
            opts.pooling = value.replace(" ", "+")  # '+' in a query string decodes to a space
        elif key == "dtype":
            opts.dtype = dtype_option(value, f"encoder spec {spec!r}")
        else:
            opts.extra[key] = value
    prefix, sep, name = body.partition(":")
    if sep and prefix in _known_prefixes():
        return prefix, name, opts
    return None, body, opts


def _known_prefixes() -> set[str]:
    return set(BACKENDS) | set(_BACKENDS)


def create_encoder(
    spec: str,
    device: str = "auto",
    dtype: str | None = None,
    layer: int | None = None,
    pooling: str | None = None,
    engine: str | None = "auto",
) -> Encoder:
    """Build a frozen encoder from a spec string. Keyword arguments override the spec's options;
    ``engine`` (``alignkit.engines``: auto, torch, onnx) picks what runs it."""
    _ensure_loaded()
    prefix, name, opts = parse_spec(spec)
    opts.device = device
    if dtype is not None:
        opts.dtype = dtype_option(dtype, f"--dtype for {spec!r}")
    if layer is not None:
        opts.layer = layer
    if pooling is not None:
        opts.pooling = pooling
    if prefix is not None:
        enc = _backend(prefix)(name, opts)
    elif name in _ZOO:
        entry = _ZOO[name]
        if not entry.installed():
            raise NotInstalledError(f"encoder {name!r} is not installed here. {entry.install_hint}")
        enc = entry.factory(opts)
    else:
        raise UnknownEncoderError(_unknown_message(name))
    enc.spec = canonical_spec(spec)
    from alignkit.encoders.onnx_engine import with_engine

    def rebuild() -> Encoder:  # the torch encoder again, for work the ONNX graph does not cover
        return create_encoder(spec, device=device, dtype=dtype, layer=layer, pooling=pooling, engine="torch")

    return with_engine(enc, engine, rebuild)


def canonical_spec(spec: str) -> str:
    """The spec as stored in manifests: stripped, options sorted."""
    body, _, query = spec.strip().partition("?")
    if not query:
        return body
    return body + "?" + "&".join(sorted(query.split("&")))


def _unknown_message(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(_ZOO), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    prefixes = ", ".join(f"{p}:NAME" for p in sorted(_known_prefixes()))
    return (
        f"unknown encoder {name!r}.{hint} Use a short name from `alignkit zoo` "
        f"or a backend spec ({prefixes})."
    )


def zoo_entries(modality: Modality | None = None, kind: str | None = None) -> list[ZooEntry]:
    """Registered short names, optionally filtered by modality and kind."""
    _ensure_loaded()
    return [
        e
        for e in _ZOO.values()
        if (modality is None or e.modality == modality) and (kind is None or e.kind == kind)
    ]


def get_entry(name: str) -> ZooEntry:
    _ensure_loaded()
    if name not in _ZOO:
        raise UnknownEncoderError(_unknown_message(name))
    return _ZOO[name]
