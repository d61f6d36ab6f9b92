"""Whether a model folder holds a finished model: ``run.json``, the training run's last word.

A training run writes ``run.json`` as ``{"finished": false}`` when it starts (or resumes) and
rewrites it, atomically, as ``{"finished": true}`` as its very last act, after the caption
memory is built. ``AlignedModel.from_pretrained`` (so ``alignkit eval`` and hub loading too)
refuses a folder whose run has not finished, naming ``--resume``: a killed run's best-so-far
weights lack what its config.json promises.

Folders written before ``run.json`` existed count as finished unless what they hold says
otherwise: a refit plan not marked finished, or a checkpoint whose epoch stopped short of the
recipe's epochs (and of its patience), or a recipe that asks for a caption memory the saved
model lacks. A folder with no checkpoint at all (``save_pretrained``, a hub copy) is a model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

from alignkit.align.model.hub import CONFIG, RUN, ModelLoadError

RECIPE = "recipe.json"
REFIT = "refit.json"
LAST = Path("checkpoints") / "last"


class UnfinishedRunError(ModelLoadError):
    """The folder holds a training run that has not finished (killed, crashed, or still running)."""


def mark_run(folder: Path, finished: bool, warnings: Sequence[str] = ()) -> None:
    """Record (atomically) whether the run in ``folder`` has finished, with the warnings its result
    carries (``DegenerateResultWarning`` messages, e.g. pairs with no contrast)."""
    from alignkit.atomic import atomic_write_json

    atomic_write_json(folder / RUN, {"finished": finished, "at": time.strftime("%Y-%m-%d %H:%M:%S"), "warnings": list(warnings)})


def unfinished_reason(folder: Path) -> str | None:
    """Why the model in ``folder`` is not a finished one; None when it is."""
    marker = _read(folder / RUN)
    if marker is not None:
        return None if marker.get("finished") is True else "its training run has not finished"
    if (folder / RUN).exists():
        return f"{RUN} is damaged"
    return _legacy_reason(folder)


def require_finished(folder: Path) -> None:
    """Refuse a folder whose training run has not finished, saying how to finish it."""
    why = unfinished_reason(folder)
    if why:
        raise UnfinishedRunError(f"{folder} is not a finished model: {why}; finish the run with "
                                 f"`alignkit align --out {folder} --resume` before loading it")


def _legacy_reason(folder: Path) -> str | None:
    """The rule for folders written before ``run.json`` (see the module docstring)."""
    refit = _read(folder / REFIT)
    if refit is not None and not refit.get("finished"):
        return "its refit has not finished"
    state = next((s for s in (_read(folder / f"{LAST}{x}" / "state.json") for x in ("", ".new", ".old")) if s), None)
    if state is None:
        return None
    recipe = _read(folder / RECIPE) or (_read(folder / CONFIG) or {}).get("training") or {}
    epoch, epochs, patience = int(state.get("epoch", 0)), int(recipe.get("epochs", 0)), int(recipe.get("patience") or 0)
    if epoch < epochs and not (patience and int(state.get("bad_epochs", 0)) >= patience):
        return f"training stopped at epoch {epoch} of {epochs}"
    if float(recipe.get("memory") or 0) > 0 and "memory" not in (_read(folder / CONFIG) or {}):
        return "its caption memory was never built"
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
