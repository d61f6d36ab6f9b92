"""A training run's folder: what it holds, and the checks that keep a resumed run honest.

Run folder::

    config.json, model.safetensors   the best model so far (AlignedModel.from_pretrained)
    recipe.json                      the full AlignConfig of the run
    metrics.jsonl                    one JSON line per epoch
    run.json                         finished or not, rewritten last (see model/run_state.py)
    checkpoints/last/                resumable state (see checkpoint.py)
    refit.json, selection/           a refit run's plan and its validation run (see refit.py)

The folder is locked while a run writes it (``run_lock``, one writer per folder: ``alignkit.locks``).
Resuming refuses a changed recipe (except the settings in ``RESUMABLE_CHANGES``), other
feature widths, or a folder that already holds a run when not resuming.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alignkit.align.training.checkpoint import CheckpointError, has_checkpoint, load_checkpoint
from alignkit.align.recipe import AlignConfig
from alignkit.align.model.aligned_model import AlignedModel
from alignkit.align.model.run_state import LAST, RECIPE, REFIT, mark_run
from alignkit.align.training import distributed as D
from alignkit.errors import AlignkitError
from alignkit.locks import folder_lock

METRICS = "metrics.jsonl"
SELECTION = "selection"  # the validation run of a refit recipe
# keys that may change between a run and its resumption; anything else must match
RESUMABLE_CHANGES = {"epochs", "patience", "device", "online", "encode_batch_size", "features_in", "log_every"}


def saved_recipe(out: str | Path) -> AlignConfig | None:
    """The recipe a run in ``out`` was started with, for ``--resume``: a refit run's own recipe
    (its refit.json), else recipe.json; None when neither exists."""
    out = Path(out)
    if (out / REFIT).exists():
        try:
            return AlignConfig.from_dict(json.loads((out / REFIT).read_text(encoding="utf-8"))["recipe"])
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{out / REFIT} is damaged ({e}); delete {out} to start again") from None
    return AlignConfig.from_file(out / RECIPE) if (out / RECIPE).exists() else None


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of a run folder (loss, validation R@1, seconds); empty before its first epoch."""
    path = Path(run) / METRICS
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.exists() else []


def resume_state(out: Path, trainable: nn.Module, optimizer: torch.optim.Optimizer, config: AlignConfig, model: AlignedModel) -> dict[str, Any]:
    recipe = out / RECIPE
    if not recipe.exists():
        raise CheckpointError(f"nothing to resume in {out}: no {RECIPE} (run without --resume to start)")
    refuse_changes(json.loads(recipe.read_text(encoding="utf-8")), config.to_dict(), recipe)
    saved_model = out / "config.json"
    if saved_model.exists():
        info = json.loads(saved_model.read_text(encoding="utf-8"))
        for side in ("vision", "text"):
            if info[side]["dim"] != model.info[side]["dim"]:
                raise CheckpointError(f"the run in {out} was trained on {info[side]['dim']}-d {side} features, these are {model.info[side]['dim']}-d")
    state = load_checkpoint(out / LAST, trainable, optimizer)
    truncate_metrics(out / METRICS, state["epoch"])
    if D.rank() == 0:
        mark_run(out, finished=False)  # resumed: unfinished again until the run's last act
    return state


def refuse_changes(saved: dict[str, Any], now: dict[str, Any], where: Path) -> None:
    changed = sorted(k for k in set(saved) | set(now) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if changed:
        raise CheckpointError(f"the recipe differs from the run being resumed ({where}) in: {', '.join(changed)}; "
                              "resume with the same recipe or use a new --out")


def refuse_existing(out: Path, *runs: Path) -> None:
    """Refuse to start over a run in ``out`` (or in any of ``runs`` inside it)."""
    if any(has_checkpoint(run / LAST) for run in (out, *runs)):
        raise AlignkitError(f"{out} already holds a training run; pass --resume to continue it, or choose a new --out")


def start_folder(out: Path, rank: int) -> None:
    """Refuse (on every rank, so none waits alone) to overwrite a run; rank 0 prepares the folder."""
    refuse_existing(out)
    if rank != 0:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS).unlink(missing_ok=True)
    mark_run(out, finished=False)


def run_lock(out: str | Path):
    """Hold the run folder for this run (rank 0 only: the other ranks of a torchrun job write nothing)."""
    return folder_lock(out, "run folder") if D.rank() == 0 else nullcontext()


def truncate_metrics(path: Path, epochs_done: int) -> None:
    """Drop log lines of epochs after the checkpoint (written before a crash lost their checkpoint)."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and json.loads(ln)["epoch"] <= epochs_done]
    path.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
