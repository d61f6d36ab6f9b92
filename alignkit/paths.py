"""Where alignkit keeps derived files (unzipped models, feature stores, cached scores) and the
built-in data sets, and the one check every output folder gets before any work."""

from __future__ import annotations

import os
from pathlib import Path

from alignkit.errors import InputError


def cache_root() -> Path:
    """$ALIGNKIT_CACHE, else ~/.cache/alignkit."""
    env = os.environ.get("ALIGNKIT_CACHE")
    return folder_to_write(env, "$ALIGNKIT_CACHE") if env else Path.home() / ".cache" / "alignkit"


def data_root() -> Path:
    """The built-in data sets: $ALIGNKIT_DATA, else the ``data`` folder under the cache root (so
    moving $ALIGNKIT_CACHE moves the data too, unless $ALIGNKIT_DATA says otherwise)."""
    env = os.environ.get("ALIGNKIT_DATA")
    return folder_to_write(env, "$ALIGNKIT_DATA") if env else cache_root() / "data"


def folder_to_write(path: str | Path, what: str) -> Path:
    """``path`` as a folder that exists or can be made: ``InputError`` (one line, naming ``what``)
    when it, or a folder above it, is a regular file."""
    p = Path(path).expanduser()
    for above in (p, *p.parents):
        if above.exists():
            if not above.is_dir():
                raise InputError(f"{what} {p}: {above} is a file, not a folder; choose another path")
            break
    return p
