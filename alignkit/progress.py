"""Quiet mode for the libraries alignkit loads models with: ``--quiet`` must silence every
bar, including the "Loading weights" bars of transformers and sentence-transformers and the
download bars of huggingface_hub, not only alignkit's own."""

from __future__ import annotations

import logging
import os


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
