"""Where alignkit keeps derived files (unzipped models, feature stores, cached scores)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$ALIGNKIT_CACHE, else ~/.cache/alignkit."""
    return Path(os.environ.get("ALIGNKIT_CACHE") or Path.home() / ".cache" / "alignkit").expanduser()
