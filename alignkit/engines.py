"""One engine resolver for every stage that embeds, so ``--engine auto`` means the same thing
everywhere (as ``--device auto`` does for devices).

``torch``  runs the frozen encoder's torch module (any device, any dtype).
``onnx``   runs the same weights under ONNX Runtime on the CPU: the module is exported once,
           cached, checked against torch, and reused (``alignkit.encoders.onnx_engine``).
``auto``   (the default) ONNX Runtime on the CPU for float32 encoders that export, torch on a
           GPU (where bf16/fp16 torch is the fast path) and for anything that does not export;
           a fallback is said once per encoder, never silently.
"""

from __future__ import annotations

import sys
from typing import Any

from alignkit.errors import AlignkitError, NotInstalledError

AUTO, TORCH, ONNX = "auto", "torch", "onnx"
ENGINES: tuple[str, ...] = (AUTO, TORCH, ONNX)
ENGINE_HELP = "auto (ONNX Runtime on CPU where the encoder exports, else torch) | torch | onnx"
ONNXRUNTIME_INSTALL = "pip install 'onnxruntime>=1.17' 'onnx>=1.15'  (or: pip install 'alignkit[onnx]')"

_said: set[str] = set()


def engine_option(engine: Any, where: str = "engine") -> str:
    """Normalise an engine name (None means auto), refusing anything that is not one."""
    name = AUTO if engine is None else str(engine).strip().lower()
    if name not in ENGINES:
        raise AlignkitError(f"{where}: unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return name


def onnxruntime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def resolve_engine(engine: Any, device_type: str, dtype: str, exportable: bool) -> str:
    """``torch`` or ``onnx`` for one encoder: what ``engine`` asks for, on this device and dtype.

    An explicit ``onnx`` that cannot run (no onnxruntime, a GPU device, a reduced dtype, an
    encoder without a torch module) is an error; ``auto`` falls back to torch instead, saying
    why once when the reason is a missing package."""
    name = engine_option(engine)
    if name == TORCH:
        return TORCH
    if name == ONNX:
        if not onnxruntime_available():
            raise NotInstalledError(f"--engine onnx needs ONNX Runtime, which is not installed. Install it with: {ONNXRUNTIME_INSTALL}")
        if device_type != "cpu":
            raise AlignkitError(f"--engine onnx runs on the CPU, but the device is {device_type}; use --device cpu or --engine torch")
        if dtype != "float32":
            raise AlignkitError(f"--engine onnx runs float32 encoders; this one is {dtype} (use --engine torch for {dtype})")
        if not exportable:
            raise AlignkitError("--engine onnx: this encoder has no torch module to export; use --engine torch or auto")
        return ONNX
    if device_type != "cpu" or dtype != "float32" or not exportable:
        return TORCH
    if not onnxruntime_available():
        say_once("no-onnxruntime", f"note: ONNX Runtime is not installed, so encoders run on torch (slower on CPU). "
                                   f"Install it with: {ONNXRUNTIME_INSTALL}")
        return TORCH
    return ONNX


def say_once(key: str, message: str) -> None:
    """Print a note to stderr the first time ``key`` is seen in this process."""
    if key in _said:
        return
    _said.add(key)
    print(message, file=sys.stderr)
