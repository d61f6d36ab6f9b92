"""The refit rule: choose the epoch count on a validation split, then train on every pair.

The selection run (validation split held out, kept in ``out/selection``) picks the latest epoch
whose mean validation R@1 is within ``refit_tolerance`` of the best (`refit_epochs`); the plan
is saved to ``refit.json`` before the refit run trains on every pair for that many epochs, so a
resumed refit reads its epoch count from the plan and ends as an uninterrupted run would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from alignkit.align.training import distributed as D
from alignkit.align.training.console import note
from alignkit.align.training.checkpoint import CheckpointError, has_checkpoint
from alignkit.align.recipe import AlignConfig
from alignkit.align.model.aligned_model import AlignedModel
from alignkit.align.model.run_state import LAST, RECIPE, REFIT, mark_run
from alignkit.align.training.run_folder import SELECTION, read_metrics, refuse_changes, refuse_existing, run_lock
from alignkit.atomic import atomic_write_json

TrainOnce = Callable[..., AlignedModel]  # train_pairs(config, data, out, *, encoders, resume, progress)


def train_and_refit(
    config: AlignConfig, data: Any, out_dir: str | Path, *, train_once: TrainOnce, encoders: dict[str, dict[str, Any]] | None,
    resume: bool, progress: bool,
) -> AlignedModel:
    """Choose the epoch count on the validation split (run kept in ``out/selection``), then train
    on every pair for that many epochs into ``out``. Held-out rows are whole concepts; leaving
    them out of the final model would drop those concepts from it for no benefit."""
    with run_lock(out_dir):
        return _train_and_refit(config, data, Path(out_dir), train_once, encoders, resume, progress)


def _train_and_refit(config: AlignConfig, data: Any, out: Path, train_once: TrainOnce, encoders: dict[str, dict[str, Any]] | None,
                     resume: bool, progress: bool) -> AlignedModel:
    select = out / SELECTION
    if not resume:
        refuse_existing(out, select)
    if D.rank() == 0:  # unfinished until the refit run (train_once into ``out``) marks it finished
        out.mkdir(parents=True, exist_ok=True)
        mark_run(out, finished=False)
    plan = refit_plan(out, config) if resume else None
    if plan is None:  # the selection run (or its resumption), then the plan is saved before the refit starts
        if D.rank() == 0 and not has_checkpoint(out / LAST):
            out.mkdir(parents=True, exist_ok=True)
            config.save(out / RECIPE)  # `alignkit align --resume` reads it back; the refit run replaces it
        train_once(config.with_overrides({"refit": False}), data, select, encoders=encoders,
                    resume=resume and has_checkpoint(select / LAST), progress=progress)
        log = read_metrics(select)
        plan = {"selection": SELECTION, "epochs": refit_epochs(log, config.refit_tolerance), "best_epoch": log[-1]["best_epoch"],
                "epochs_run": len(log), "tolerance": config.refit_tolerance, "recipe": config.to_dict(), "finished": False}
        if D.rank() == 0:
            atomic_write_json(out / REFIT, plan)
        if progress and D.rank() == 0:
            note(f"refit: validation R@1 peaked at epoch {plan['best_epoch']}; epoch {plan['epochs']} is the latest within "
                  f"{config.refit_tolerance} of it; training on every pair for {plan['epochs']} epochs")
    epochs = int(plan["epochs"])
    final = config.with_overrides({"refit": False, "val_fraction": 0.0, "epochs": epochs, "patience": 0})
    model = train_once(final, data, out, encoders=encoders, resume=resume and has_checkpoint(out / LAST), progress=progress)
    if D.rank() == 0:
        chosen = next((r for r in read_metrics(select) if r["epoch"] == epochs), {})
        atomic_write_json(out / REFIT, {**plan, "finished": True, **{k: v for k, v in chosen.items() if k.startswith("val_")}})
    return model


def refit_plan(out: Path, config: AlignConfig) -> dict[str, Any] | None:
    """The saved plan of a refit run whose selection run finished (None before that): resuming
    reads its epoch count instead of the command line's, so the result equals an uninterrupted run."""
    path = out / REFIT
    if not path.exists():
        return None
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
        saved = plan["recipe"]
        int(plan["epochs"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is damaged ({e}); delete {out} to start again") from None
    refuse_changes(saved, config.to_dict(), path)
    return plan


def refit_epochs(log: list[dict[str, Any]], tolerance: float) -> int:
    """The latest epoch whose mean validation R@1 is within ``tolerance`` of the best one (every
    epoch run when the split left no validation rows, as can happen on tiny data)."""
    scores = [(r["epoch"], (r["val_i2t_r1"] + r["val_t2i_r1"]) / 2) for r in log if "val_i2t_r1" in r]
    if not scores:
        return int(log[-1]["epoch"])
    best = max(s for _, s in scores)
    return max(e for e, s in scores if s >= best - tolerance)
