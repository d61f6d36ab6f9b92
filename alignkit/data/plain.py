"""The two simplest inputs: a folder of images and a text file of captions (one per line)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def image_folder_items(folder: str | Path) -> Iterator[tuple[str, Path]]:
    """(relative path, path) for every image file under ``folder``, in sorted order."""
    root = Path(folder)
    if not root.is_dir():
        from alignkit.errors import AlignkitError

        raise AlignkitError(f"image folder not found: {root}")
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()):
        yield path.relative_to(root).as_posix(), path


def text_file_items(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """(``line-N``, raw bytes) for every line; decoding and empty-line checks happen in the
    extractor, so a bad line is recorded as skipped under its own line number."""
    p = Path(path)
    if not p.is_file():
        from alignkit.errors import AlignkitError

        raise AlignkitError(f"caption file not found: {p}")
    with open(p, "rb") as f:
        for i, line in enumerate(f, start=1):
            yield f"line-{i:07d}", line.rstrip(b"\r\n")
