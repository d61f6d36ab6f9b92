"""Helpers for the data tests: images whose colour encodes their index, so a test can check
that every image still carries its own caption after bad items were skipped."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def colour_of(i: int) -> tuple[int, int, int]:
    return (10 + 20 * i % 240, 200 - 15 * (i % 12), 40 + 17 * (i % 11))


def png_bytes(i: int, size: int = 16, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour_of(i)).save(out, format=fmt)
    return out.getvalue()


def index_of_colour(rgb: tuple[float, float, float], n: int = 40) -> int:
    """The index whose colour is nearest to ``rgb`` (JPEG-safe)."""
    dists = [sum((a - b) ** 2 for a, b in zip(rgb, colour_of(i))) for i in range(n)]
    return int(np.argmin(dists))


def index_of_image(img: Image.Image) -> int:
    arr = np.asarray(img.convert("RGB"), dtype=np.float64)
    return index_of_colour(tuple(arr.reshape(-1, 3).mean(0)))


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
