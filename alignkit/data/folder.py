"""An image folder with a captions file (JSON or JSON lines).

Accepted captions files, image paths relative to the folder:

    captions.jsonl   {"image": "cats/1.jpg", "caption": "a cat"}   (or "captions": [...], "text": ...)
    captions.json    {"cats/1.jpg": "a cat", "dogs/2.png": ["a dog", "a puppy"]}
    captions.json    [{"image": "cats/1.jpg", "captions": ["a cat", "a kitten"]}, ...]

The pair key is the image's path relative to the folder. Records naming the same image
keep the first; images without a record are not read (the captions file is the index).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from alignkit.data.base import Pair, PairSource, Skip
from alignkit.data.checks import PairChecker, as_caption_list
from alignkit.errors import AlignkitError

DEFAULT_CAPTION_FILES = ("captions.jsonl", "captions.json")
IMAGE_FIELDS = ("image", "file", "file_name", "path")
CAPTION_FIELDS = ("caption", "captions", "text")


def find_captions_file(root: Path) -> Path | None:
    """The default captions file of a folder, when it has one."""
    return next((root / n for n in DEFAULT_CAPTION_FILES if (root / n).is_file()), None)


class FolderSource(PairSource):
    """Pairs from an image folder indexed by a captions file."""

    name = "folder"

    def __init__(self, root: str | Path, captions: str | Path | None = None):
        super().__init__()
        self.root = Path(root)
        if not self.root.is_dir():
            raise AlignkitError(f"image folder not found: {self.root}")
        if captions is None:
            found = find_captions_file(self.root)
            if found is None:
                raise AlignkitError(
                    f"{self.root} has no captions file; add captions.jsonl or pass ?captions=FILE "
                    "(a folder with one sub-folder per class is a classification task: folder-task:DIR)"
                )
            self.captions_path = found
        else:
            p = Path(captions)
            self.captions_path = p if p.is_absolute() else self.root / p

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "root": str(self.root), "captions": str(self.captions_path)}

    def __iter__(self) -> Iterator[Pair]:
        self.skipped = []
        checker = PairChecker(self.skipped)
        for where, record in self._records():
            image, raws = _parse_record(record)
            if image is None:
                self.skipped.append(Skip(where, f"record names no image (expected one of {IMAGE_FIELDS})"))
                continue
            pair = checker.check(image, self.root / image, raws)
            if pair is not None:
                yield pair

    def _records(self) -> Iterator[tuple[str, Any]]:
        path = self.captions_path
        if not path.is_file():
            raise AlignkitError(f"captions file not found: {path}")
        name = path.name
        if path.suffix.lower() == ".jsonl":
            with open(path, "rb") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        yield f"{name}:{n}", json.loads(line.decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError) as e:
                        self.skipped.append(Skip(f"{name}:{n}", f"unreadable captions line: {e}"))
            return
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise AlignkitError(f"cannot read captions file {path}: {e}") from None
        if isinstance(data, dict):
            for image, caps in data.items():
                yield f"{name}:{image}", {"image": image, "captions": caps}
        elif isinstance(data, list):
            for n, record in enumerate(data):
                yield f"{name}[{n}]", record
        else:
            raise AlignkitError(f"{path}: expected a JSON object or list, got {type(data).__name__}")


def _parse_record(record: Any) -> tuple[str | None, list[Any]]:
    if not isinstance(record, dict):
        return None, []
    image = next((record[f] for f in IMAGE_FIELDS if isinstance(record.get(f), str) and record[f]), None)
    raws = [c for f in CAPTION_FIELDS for c in as_caption_list(record.get(f))]
    return image, raws
