"""The trainer's resumable checkpoint, without pickle.

    checkpoints/last/weights.safetensors     heads and loss parameters
    checkpoints/last/optimizer.safetensors   the optimiser's tensors (moments, step counts)
    checkpoints/last/state.json              epoch, step, best score, optimiser hyper-parameters,
                                             and a SHA-256 of each tensor file

``state.json`` is written last and names the digests of the files it belongs to, so a
checkpoint cut short (by a crash, a full disk, a copy gone wrong) is detected on resume
rather than loaded half-way. A new checkpoint is written whole into ``last.new/`` and only
then renamed into place (the previous one moves to ``last.old/`` for that instant), so a
crash at any point leaves the previous good checkpoint, or the new one, to resume from.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alignkit.errors import AlignkitError

STATE = "state.json"
WEIGHTS = "weights.safetensors"
OPTIMIZER = "optimizer.safetensors"
NEW, OLD = ".new", ".old"  # siblings of the checkpoint folder while a new checkpoint is switched in


class CheckpointError(AlignkitError):
    """No checkpoint to resume from, or one that is damaged or belongs to another recipe."""


def save_checkpoint(folder: Path, module: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write the checkpoint beside the last one (``last.new``), then switch it in by renames, so a
    crash at any moment leaves a whole checkpoint to resume from (see ``checkpoint_folder``)."""
    from safetensors.torch import save

    from alignkit.atomic import atomic_write_bytes, atomic_write_json

    new, old = _sibling(folder, NEW), _sibling(folder, OLD)
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    weights = save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    opt_bytes = save(opt_tensors)
    atomic_write_bytes(new / WEIGHTS, weights)
    atomic_write_bytes(new / OPTIMIZER, opt_bytes)
    atomic_write_json(
        new / STATE,
        {**state, "optimizer": opt_meta, "sha256": {WEIGHTS: _sha(weights), OPTIMIZER: _sha(opt_bytes)}},
    )
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)  # from here until the next rename, `old` and `new` are both whole
    os.replace(new, folder)
    shutil.rmtree(old, ignore_errors=True)


def checkpoint_folder(folder: Path) -> Path | None:
    """The folder holding the newest whole checkpoint: ``folder`` itself, or, after a crash
    between the renames of ``save_checkpoint``, the new or the previous one beside it."""
    for candidate in (folder, _sibling(folder, NEW), _sibling(folder, OLD)):
        if _intact(candidate):
            return candidate
    return None


def has_checkpoint(folder: Path) -> bool:
    """Whether a run left a checkpoint here (whole or not): a new run must not start over it."""
    return any((c / STATE).exists() for c in (folder, _sibling(folder, NEW), _sibling(folder, OLD)))


def _sibling(folder: Path, suffix: str) -> Path:
    return folder.with_name(folder.name + suffix)


def _intact(folder: Path) -> bool:
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
        return all(_sha((folder / n).read_bytes()) == state["sha256"][n] for n in (WEIGHTS, OPTIMIZER))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def load_checkpoint(folder: Path, module: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore ``module`` and ``optimizer`` in place; return the trainer state saved with them."""
    from safetensors.torch import load

    folder = checkpoint_folder(folder) or folder
    if not (folder / STATE).exists():
        raise CheckpointError(f"nothing to resume: {folder / STATE} does not exist (run without --resume to start)")
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{folder / STATE} is damaged ({e}); delete {folder} to start again") from None
    blobs = {}
    for name in (WEIGHTS, OPTIMIZER):
        path = folder / name
        data = path.read_bytes() if path.exists() else b""
        if _sha(data) != state.get("sha256", {}).get(name):
            raise CheckpointError(
                f"{path} is missing, truncated or damaged (its SHA-256 does not match {STATE}); "
                f"delete {folder} and rerun without --resume, or restore the file"
            )
        blobs[name] = data
    missing, unexpected = module.load_state_dict(load(blobs[WEIGHTS]), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{folder} holds weights of other heads (missing {missing[:3]}, unexpected {unexpected[:3]})")
    optimizer.load_state_dict(_unflatten_optimizer(load(blobs[OPTIMIZER]), state.pop("optimizer")))
    state.pop("sha256")
    return state


def _flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, slots in sd["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, slots in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(slots)
    return {"state": state, "param_groups": meta["param_groups"]}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
