"""The trainer's resumable checkpoint, without pickle.

    checkpoints/last/weights.safetensors     heads and loss parameters
    checkpoints/last/optimizer.safetensors   the optimiser's tensors (moments, step counts)
    checkpoints/last/state.json              epoch, step, best score, optimiser hyper-parameters,
                                             and a SHA-256 of each tensor file

``state.json`` is written last and names the digests of the files it belongs to, so a
checkpoint cut short (by a crash, a full disk, a copy gone wrong) is detected on resume
rather than loaded half-way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alignkit.errors import AlignkitError

STATE = "state.json"
WEIGHTS = "weights.safetensors"
OPTIMIZER = "optimizer.safetensors"


class CheckpointError(AlignkitError):
    """No checkpoint to resume from, or one that is damaged or belongs to another recipe."""


def save_checkpoint(folder: Path, module: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    from safetensors.torch import save

    from alignkit.features.store import atomic_write_bytes, atomic_write_json

    folder.mkdir(parents=True, exist_ok=True)
    weights = save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    opt_bytes = save(opt_tensors)
    atomic_write_bytes(folder / WEIGHTS, weights)
    atomic_write_bytes(folder / OPTIMIZER, opt_bytes)
    atomic_write_json(
        folder / STATE,
        {**state, "optimizer": opt_meta, "sha256": {WEIGHTS: _sha(weights), OPTIMIZER: _sha(opt_bytes)}},
    )


def load_checkpoint(folder: Path, module: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore ``module`` and ``optimizer`` in place; return the trainer state saved with them."""
    from safetensors.torch import load

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
