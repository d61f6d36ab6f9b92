"""Lazy references: ``"package.module:attribute"`` strings resolved on first use.

Registries (CLI commands, encoder backends, data openers) name their implementations this
way, so listing or dispatching never imports a module that imports the registry back, and
nothing registers itself by the side effect of being imported.
"""

from __future__ import annotations

import importlib
from typing import Any


def load(ref: str) -> Any:
    """The object ``ref`` (``"module:attribute"``) names, importing its module if needed."""
    module, sep, attr = ref.partition(":")
    if not sep or not attr:
        raise ValueError(f"a lazy reference is 'module:attribute', got {ref!r}")
    return getattr(importlib.import_module(module), attr)
