"""Hugging Face datasets: a folder saved with ``save_to_disk``, or a hub name where a hub answers.

The image column may be an ``Image`` feature (read undecoded, so decoding happens in the
feature extractor's workers), raw bytes, or a path; the text column a string or a list of
strings. The key is a ``key`` column when asked for, else the row index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from alignkit.data.base import ImageRef, Pair, PairSource
from alignkit.data.checks import PairChecker, as_caption_list
from alignkit.errors import AlignkitError, NotInstalledError


class HFDatasetSource(PairSource):
    """Pairs from a saved or hub dataset with configurable image and text columns."""

    name = "hf"

    def __init__(self, name_or_path: str, image: str = "image", text: str = "text", split: str | None = None, key: str | None = None):
        super().__init__()
        self.name_or_path = name_or_path
        self.image_col, self.text_col, self.split, self.key_col = image, text, split, key

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "dataset": self.name_or_path, "split": self.split, "image": self.image_col, "text": self.text_col}

    def _load(self) -> Any:
        try:
            import datasets
        except ImportError:
            raise NotInstalledError("Hugging Face sources need the datasets package: pip install 'alignkit[hub]'") from None
        if Path(self.name_or_path).exists():
            ds = _load_saved(datasets, Path(self.name_or_path))
        else:
            try:
                ds = datasets.load_dataset(self.name_or_path, split=self.split)
            except Exception as e:  # offline hubs fail in many ways; say what to do instead
                raise AlignkitError(
                    f"cannot load dataset {self.name_or_path!r} from the hub ({type(e).__name__}: {e}). "
                    "Offline, save it with Dataset.save_to_disk elsewhere and pass the folder."
                ) from None
        if isinstance(ds, datasets.DatasetDict):
            split = self.split or ("train" if "train" in ds else None)
            if split not in ds:
                raise AlignkitError(f"{self.name_or_path} has splits {list(ds)}; choose one with ?split=NAME")
            ds = ds[split]
        missing = [c for c in (self.image_col, self.text_col, self.key_col) if c and c not in ds.column_names]
        if missing:
            raise AlignkitError(
                f"{self.name_or_path} has no column(s) {missing}; its columns are {ds.column_names}. "
                "Choose them with ?image=COLUMN&text=COLUMN"
            )
        if isinstance(ds.features[self.image_col], datasets.Image):
            ds = ds.cast_column(self.image_col, datasets.Image(decode=False))
        return ds

    def __iter__(self) -> Iterator[Pair]:
        self.skipped = []
        checker = PairChecker(self.skipped)
        cols = [c for c in (self.image_col, self.text_col, self.key_col) if c]
        for i, row in enumerate(self._load().select_columns(cols)):
            key = str(row[self.key_col]) if self.key_col else f"{i:09d}"
            pair = checker.check(key, _image_ref(row[self.image_col]), as_caption_list(row[self.text_col]))
            if pair is not None:
                yield pair


def _image_ref(cell: Any) -> ImageRef | None:
    """An undecoded Image cell is {"bytes", "path"}: prefer the bytes, else the path."""
    if isinstance(cell, dict):
        return cell.get("bytes") or cell.get("path") or None
    return cell


SAVED_MARKERS = ("dataset_dict.json", "state.json")  # what Dataset(Dict).save_to_disk writes


def _load_saved(datasets: Any, path: Path) -> Any:
    """A dataset saved with ``save_to_disk``; a plain folder or file is one clear error saying what to use instead."""
    if not path.is_dir() or not any((path / m).is_file() for m in SAVED_MARKERS):
        raise AlignkitError(
            f"hf:{path} is not a dataset saved with Dataset.save_to_disk (no {' or '.join(SAVED_MARKERS)} in it); "
            "for a folder of images with a captions file use folder:DIR, for a table csv:/parquet:FILE"
        )
    try:
        return datasets.load_from_disk(str(path))
    except (OSError, ValueError) as e:
        raise AlignkitError(f"hf:{path} cannot be read as a saved dataset ({type(e).__name__}: {e})") from None
