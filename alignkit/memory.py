"""Giving memory back between stages: one helper, called where a stage drops a large object.

Dropping the last reference to a frozen encoder is not enough on its own: torch modules and
ONNX Runtime sessions sit in reference cycles that wait for the cyclic collector, and glibc keeps
freed heap pages in its arenas. ``release_memory`` runs the collector and asks glibc to return
free pages (``malloc_trim``), so the next encoder starts where the last one began instead of on
top of it. A no-op beyond ``gc.collect`` where the C library has no ``malloc_trim``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():  # type: ignore[no-untyped-def]
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_memory() -> None:
    """Collect cycles and hand free heap pages back to the operating system."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

