"""Progress bars: alignkit's one bar helper (``progress_bar``, tqdm loaded lazily), and quiet
mode for the libraries alignkit loads models with: ``--quiet`` must silence every bar, including
the "Loading weights" bars of transformers and sentence-transformers and the download bars of
huggingface_hub, not only alignkit's own."""

from __future__ import annotations

import logging
import os
from typing import Any


class _NoBar:
    """What ``progress_bar`` returns when bars are off: takes every call, shows nothing."""

    total = n = None

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int | None, desc: str, enabled: bool, unit: str = "item", **options: Any) -> Any:
    """A tqdm bar (with a total, hence an ETA, whenever the count is known), or a silent stand-in
    when ``enabled`` is false; ``options`` go to tqdm (``leave``, ``smoothing``)."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, **options)


def silence_progress_bars() -> None:
    """Turn off the model loaders' progress bars and info logging for the rest of the process."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read by processes started later (data-loader workers)
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:
        pass
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    for name in ("sentence_transformers", "timm"):
        logging.getLogger(name).setLevel(logging.WARNING)
