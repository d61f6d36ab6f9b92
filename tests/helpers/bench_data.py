"""Tiny on-disk data for the bench and demo tests: coloured, textured squares whose captions
name their colour, so paired image and text spaces are related and alignment can learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200), "yellow": (220, 210, 40)}
SIZES = ["tiny", "small", "large", "huge"]


def _square(rng: np.random.Generator, rgb: tuple[int, int, int]) -> Image.Image:
    arr = np.clip(np.array(rgb) * rng.uniform(0.6, 1.0) + rng.integers(0, 50, (24, 24, 3)), 0, 255)
    return Image.fromarray(arr.astype(np.uint8))


def write_pairs(root: Path, n: int, seed: int) -> str:
    """``folder:`` pairs with two captions each; one caption carries markup, to check escaping."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    records = []
    for i in range(n):
        name = list(COLOURS)[i % len(COLOURS)]
        _square(rng, COLOURS[name]).save(root / f"{i:03d}.png")
        records.append({"image": f"{i:03d}.png", "captions": [f"a {SIZES[i % 4]} {name} square", f"{name}"]})
    records[3]["captions"][0] = "<script>alert(1)</script> a red square"
    (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    return f"folder:{root}"


def write_class_folder(root: Path, per_class: int, seed: int) -> str:
    """A ``folder-task:`` with one sub-folder per colour."""
    rng = np.random.default_rng(seed)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            _square(rng, rgb).save(root / name / f"{i}.png")
    return f"folder-task:{root}"


def tiny_setup(tmp: Path) -> dict[str, object]:
    """Probe, training pairs and two tasks (classification + retrieval) under ``tmp``."""
    return {
        "probe": write_pairs(tmp / "probe", 40, 1),
        "train": write_pairs(tmp / "train", 80, 2),
        "tasks": [write_class_folder(tmp / "classes", 6, 3), "retrieval:" + write_pairs(tmp / "heldout", 24, 4)],
    }
