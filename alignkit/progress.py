"""Progress bars and verbosity: alignkit's one bar helper (``progress_bar``, tqdm loaded lazily),
and the one switch behind every command's ``-q/--quiet`` and ``-v/--verbose`` (``set_verbosity``).

Bars are drawn only on a terminal (a log file or a pipe gets none, so it never holds a bar redrawn
line by line or printed twice at 100%), with a total whenever the count is known. Quiet silences
every bar, including the "Loading weights" bars of transformers and sentence-transformers and the
download bars of huggingface_hub, and the third-party warnings a user cannot act on (matplotlib's
"constrained_layout not applied", scipy's ConstantInputWarning); alignkit's own warnings stay.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

_STATE = {"quiet": False}
# libraries whose loggers and warnings --quiet turns off (and -v turns up)
THIRD_PARTY = ("transformers", "sentence_transformers", "timm", "huggingface_hub", "matplotlib", "scipy", "torch", "PIL")


class _NoBar:
    """What ``progress_bar`` returns when bars are off: takes every call, shows nothing."""

    total = n = None

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:  # set_postfix_str, set_description, refresh, ...: all no-ops
        return lambda *a, **k: None


def on_terminal() -> bool:
    """Whether bars can be drawn: stderr is a terminal (not a file, a pipe or a test's capture)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_bar(total: int | None, desc: str, enabled: bool, unit: str = "item", **options: Any) -> Any:
    """A tqdm bar (with a total, hence an ETA, whenever the count is known), or a silent stand-in
    when ``enabled`` is false, after ``--quiet``, or off a terminal; ``options`` go to tqdm (``leave``, ``smoothing``)."""
    if not enabled or _STATE["quiet"] or not on_terminal():
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, **options)


def set_verbosity(level: int) -> None:
    """The process's verbosity: below 0 quiet (no bars, third-party loggers at ERROR, their warnings
    off), 0 the default, 1 (``-v``) INFO log lines of alignkit and the libraries, 2 (``-vv``) DEBUG."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    loud = logging.INFO if level == 1 else logging.DEBUG
    logging.getLogger("alignkit").setLevel(logging.WARNING if level <= 0 else loud)
    if level < 0:
        _STATE["quiet"] = True
        silence_progress_bars()
        for name in THIRD_PARTY:
            logging.getLogger(name).setLevel(logging.ERROR)
            warnings.filterwarnings("ignore", module=rf"{name}(\.|$)")
        # scipy warns at its caller's line (stacklevel 2): matched by message, not by module
        warnings.filterwarnings("ignore", message=r"(?i).*input array is constant")
        warnings.filterwarnings("ignore", message=r"(?i).*constrained_layout not applied")
    elif level >= 1:
        for name in THIRD_PARTY:
            logging.getLogger(name).setLevel(loud)


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
