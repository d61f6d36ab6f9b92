"""Which table cells a report marks: the best value per column or per row, highlighted rows."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

RowPredicate = Callable[[dict[str, Any]], bool]


def row_best_cells(rows: list[dict[str, Any]], columns: Sequence[str]) -> set[tuple[int, str]]:
    """(row, column) of the largest value among ``columns`` in each row (ties all marked)."""
    out: set[tuple[int, str]] = set()
    for i, r in enumerate(rows):
        vals = {c: r[c] for c in columns if is_number(r.get(c)) and not math.isnan(r[c])}
        if vals:
            top = max(vals.values())
            out.update((i, c) for c, v in vals.items() if v == top)
    return out


def is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def is_numeric_text(v: Any) -> bool:
    """A string holding only numbers (an interval, a ratio), which must not wrap mid-number."""
    return isinstance(v, str) and bool(v.strip()) and bool(re.fullmatch(r"[-+\d.,\[\]()%/x:e\s]+", v.strip())) \
        and any(ch.isdigit() for ch in v)


def is_empty(v: Any) -> bool:
    """A cell with nothing in it: missing, or blank text."""
    return v is None or (isinstance(v, str) and not v.strip())


def marked_rows(rows: list[dict[str, Any]], highlight: RowPredicate | Iterable[int] | None) -> set[int]:
    if highlight is None:
        return set()
    if callable(highlight):
        return {i for i, r in enumerate(rows) if highlight(r)}
    return {int(i) for i in highlight}


def best_cells(rows: list[dict[str, Any]], best: Mapping[str, str]) -> set[tuple[int, str]]:
    """(row, column) of every cell that ties for the best value of its column."""
    out: set[tuple[int, str]] = set()
    for col, how in best.items():
        if how not in ("max", "min"):
            raise ValueError(f"best[{col!r}] must be 'max' or 'min', not {how!r}")
        vals = [(i, r[col]) for i, r in enumerate(rows) if is_number(r.get(col)) and not math.isnan(r[col])]
        if not vals:
            continue
        target = (max if how == "max" else min)(v for _, v in vals)
        out.update((i, col) for i, v in vals if v == target)
    return out
