"""Results tables on disk: one call writes the same rows as parquet, CSV and JSON lines.

Parquet keeps types for programs (benchmarks, reports read it back), CSV opens in a
spreadsheet, JSON lines streams into anything. Each file is written to a temporary name and
renamed, so a reader never sees half a table.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import polars as pl

from alignkit.errors import AlignkitError
from alignkit.atomic import atomic_write_bytes

FORMATS = ("parquet", "csv", "jsonl")


def to_frame(rows: pl.DataFrame | Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """A DataFrame from rows (dicts); the schema is inferred from every row, not the first few."""
    if isinstance(rows, pl.DataFrame):
        return rows
    rows = list(rows)
    if not rows:
        raise AlignkitError("no result rows to write; the run produced nothing")
    return pl.from_dicts(rows, infer_schema_length=None)


def write_table(
    rows: pl.DataFrame | Sequence[Mapping[str, Any]],
    stem: str | Path,
    formats: Iterable[str] = FORMATS,
) -> dict[str, Path]:
    """Write ``rows`` to ``<stem>.parquet``, ``<stem>.csv`` and ``<stem>.jsonl`` (or the chosen
    ``formats``); returns format -> path."""
    df = to_frame(rows)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for fmt in formats:
        if fmt not in FORMATS:
            raise AlignkitError(f"unknown table format {fmt!r}; choose from {', '.join(FORMATS)}")
        buf = io.BytesIO()
        if fmt == "parquet":
            df.write_parquet(buf)
        elif fmt == "csv":  # CSV holds no lists: a list cell becomes its values joined by spaces
            nested = [c for c, t in df.schema.items() if isinstance(t, pl.List)]
            flat = df.with_columns(pl.col(c).cast(pl.List(pl.Utf8)).list.join(" ") for c in nested) if nested else df
            flat.write_csv(buf)
        else:
            df.write_ndjson(buf)
        path = stem.with_name(f"{stem.name}.{fmt}")
        atomic_write_bytes(path, buf.getvalue())
        written[fmt] = path
    return written


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a table written by ``write_table`` (format chosen by the file suffix)."""
    path = Path(path)
    if not path.exists():
        raise AlignkitError(f"results table {path} does not exist")
    # a column that is null in the first rows (a baseline's empty note) must not fix its type
    readers = {
        ".parquet": pl.read_parquet,
        ".csv": lambda p: pl.read_csv(p, infer_schema_length=None),
        ".jsonl": lambda p: pl.read_ndjson(p, infer_schema_length=None),
    }
    if path.suffix not in readers:
        raise AlignkitError(f"{path}: unknown table suffix; expected one of {', '.join(readers)}")
    return readers[path.suffix](path)
