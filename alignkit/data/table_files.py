"""CSV / TSV / parquet tables of image paths and captions, read with polars.

Columns are configurable (``image``, ``caption``, optional ``key``). A caption cell may hold
a string or (parquet) a list of strings. Rows naming the same image merge their captions, so
a COCO-style table with one row per caption gives one pair per image; rows whose ``key`` repeats
an earlier row's but name another image are recorded as skipped duplicates, never merged. Relative image paths
are resolved against the table's folder (or ``root``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from alignkit.data.base import Pair, PairSource, Skip
from alignkit.data.checks import PairChecker, as_caption_list
from alignkit.errors import AlignkitError


class TableSource(PairSource):
    """Pairs from a CSV/TSV/parquet table; rows sharing an image become one pair."""

    name = "table"

    def __init__(
        self,
        path: str | Path,
        image: str = "image",
        caption: str = "caption",
        key: str | None = None,
        root: str | Path | None = None,
        fmt: str | None = None,
    ):
        super().__init__()
        self.path = Path(path)
        self.image_col, self.caption_col, self.key_col = image, caption, key
        self.root = Path(root) if root else self.path.parent
        self.fmt = fmt or self.path.suffix.lower().lstrip(".")
        if self.fmt not in ("csv", "tsv", "parquet"):
            raise AlignkitError(f"{self.path}: unknown table format {self.fmt!r}; use csv, tsv or parquet")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path), "image": self.image_col, "caption": self.caption_col}

    def _read(self) -> Any:
        import polars as pl

        if not self.path.is_file():
            raise AlignkitError(f"table not found: {self.path}")
        try:
            if self.fmt == "parquet":
                df = pl.read_parquet(self.path)
            else:
                sep = "\t" if self.fmt == "tsv" else ","
                # strings everywhere (a caption must never become a number); bad UTF-8 turns into U+FFFD,
                # which the caption check then refuses
                df = pl.read_csv(self.path, separator=sep, infer_schema=False, encoding="utf8-lossy")
        except Exception as e:  # polars raises many types for a malformed file
            raise AlignkitError(f"cannot read table {self.path}: {e}") from None
        wanted = [c for c in (self.image_col, self.caption_col, self.key_col) if c]
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise AlignkitError(
                f"{self.path} has no column(s) {missing}; its columns are {df.columns}. "
                "Choose them with ?image=COLUMN&caption=COLUMN"
            )
        return df.select(wanted)

    def __iter__(self) -> Iterator[Pair]:
        self.skipped = []
        checker = PairChecker(self.skipped)
        groups: dict[str, tuple[str | None, list[Any]]] = {}  # key -> (image, raw captions), insertion ordered
        for row_index, row in enumerate(self._read().iter_rows(named=True)):
            image = row[self.image_col]
            key = str(row[self.key_col]) if self.key_col else (str(image) if image else f"row{row_index}")
            entry = groups.setdefault(key, (image, []))
            if entry[0] != image:  # a key column naming two images: never merge one's captions into the other
                self.skipped.append(Skip(key, f"duplicate key {key!r}: row {row_index} names another image ({image}); kept the first"))
                continue
            entry[1].extend(as_caption_list(row[self.caption_col]))
        for key, (image, raws) in groups.items():
            if image and "://" in str(image):
                self.skipped.append(Skip(key, "remote image URL: not downloaded (fetch the images first, e.g. with img2dataset)"))
                continue
            ref = None if image in (None, "") else self._resolve(str(image))
            pair = checker.check(key, ref, raws)
            if pair is not None:
                yield pair

    def _resolve(self, image: str) -> str:
        p = Path(image)
        return str(p if p.is_absolute() else self.root / p)
