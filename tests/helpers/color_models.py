"""A real AlignedModel that reads colours (control encoders, linear heads set by hand), the
colour folder task and caption pairs it is evaluated and fitted on, and a hub cache written
the way huggingface_hub lays one out, so loading by hub id is tested without a network."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from PIL import Image

from alignkit.align.recipe import HeadConfig
from alignkit.align.model.aligned_model import AlignedModel
from alignkit.encoders import create_encoder

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def color_model(scale_bias: float = 0.0) -> AlignedModel:
    """Linear heads: image -> least-squares read-out of the pure colours, text -> overlap with
    each colour word's hashed n-grams. A correct evaluation gives top-1 = 1. ``scale_bias``
    shifts the stored temperature, so two saved versions differ in a way a test can see."""
    pixels, ngrams = create_encoder("pixels"), create_encoder("hashed-ngrams")
    pure = pixels.encode([Image.new("RGB", (8, 8), rgb) for rgb in COLORS.values()]).pooled.double()
    words = ngrams.encode(list(COLORS)).pooled
    model = AlignedModel.create(
        {"spec": pixels.spec, "dim": pixels.dim, "fingerprint": pixels.fingerprint()},
        {"spec": ngrams.spec, "dim": ngrams.dim, "fingerprint": ngrams.fingerprint()},
        HeadConfig(kind="linear"), HeadConfig(kind="linear"), shared_dim=3,
    )  # fmt: skip
    readout = torch.linalg.pinv(pure).T.float()
    with torch.no_grad():
        model.image_head.proj.weight.copy_(readout - readout.mean(0))
        model.image_head.proj.bias.zero_()
        model.text_head.proj.weight.copy_(words)
        model.text_head.proj.bias.zero_()
    model.info["logit_scale"] += scale_bias
    return model


def color_task(root: Path, per_class: int = 3, broken: bool = True) -> Path:
    """A folder task: one sub-folder per colour, shades of it inside (and one broken PNG)."""
    for name, rgb in COLORS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shade = tuple(min(255, v + 10 * i) for v in rgb)
            Image.new("RGB", (10, 10), shade).save(root / name / f"{i}.png")
    if broken:
        (root / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def color_pairs(root: Path, per_class: int = 6) -> Path:
    """A pair folder (captions.jsonl) of colour shades captioned with their colour word."""
    root.mkdir(parents=True)
    lines = []
    for name, rgb in COLORS.items():
        for i in range(per_class):
            shade = tuple(max(0, min(255, v + 7 * i - 15)) for v in rgb)
            file = f"{name}-{i}.png"
            Image.new("RGB", (10, 10), shade).save(root / file)
            lines.append(json.dumps({"image": file, "caption": f"a {name} square" if i % 2 else name}))
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root


def publish_to_hub_cache(folder: Path, cache: Path, repo_id: str, commit: str, refs: tuple[str, ...] = ("main",)) -> Path:
    """Lay ``folder``'s files into a hub cache as huggingface_hub writes a download:
    ``models--org--name/blobs/<hash>``, ``snapshots/<commit>/<file>`` as relative symlinks to
    the blobs, and ``refs/<branch or tag>`` holding the commit hash."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for f in sorted(folder.iterdir()):
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return snapshot
