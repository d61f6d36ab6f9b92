"""The two simplest inputs: a folder of images and a text file of captions (one per line)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Iterator

from alignkit.data.base import Skip

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def image_folder_items(folder: str | Path, skipped: list[Skip] | None = None) -> Iterator[tuple[str, Path]]:
    """(relative path, path) for every image file under ``folder``, in sorted order.

    A name with an image extension that is no readable file (a dangling symbolic link, a link
    loop, a directory called ``x.jpg``) is appended to ``skipped`` with the reason, not dropped.
    """
    root = Path(folder)
    if not root.is_dir():
        from alignkit.errors import AlignkitError

        raise AlignkitError(f"image folder not found: {root}")
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        key = path.relative_to(root).as_posix()
        if path.is_file():
            yield key, path
        elif skipped is not None:
            skipped.append(Skip(key, _not_a_file(path)))


def _not_a_file(path: Path) -> str:
    """Why a path with an image name cannot be read as an image file."""
    if path.is_symlink():
        try:
            os.stat(path)
        except OSError as e:
            return "symbolic link loop" if e.errno == errno.ELOOP else "dangling symbolic link (its target does not exist)"
    if path.is_dir():
        return "a directory, not an image file"
    return "not a regular file"


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
