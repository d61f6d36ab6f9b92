"""Tables for the terminal: the same rows a page shows, as fixed-width text (numbers right-aligned)."""

from __future__ import annotations

import numbers
from typing import Any, Sequence

from alignkit.report import cells


def text_table(rows: Sequence[dict[str, Any]], digits: int = 3, signed: Sequence[str] = ()) -> str:
    """Fixed-width columns in first-seen order; floats to ``digits`` places (``signed`` columns
    with a sign), missing values as ``-``, and a column empty in every row left out."""
    columns: list[str] = []
    for r in rows:
        columns.extend(c for c in r if c not in columns)
    columns = [c for c in columns if any(not cells.is_empty(r.get(c)) for r in rows)]

    def show(c: str, v: Any) -> str:
        if cells.is_empty(v):
            return "-"
        if cells.is_number(v) and not isinstance(v, numbers.Integral):
            return f"{v:+.{digits}f}" if c in signed else f"{v:.{digits}f}"
        return str(v)

    body = [[show(c, r.get(c)) for c in columns] for r in rows]
    numeric = [all(cells.is_number(r.get(c)) or cells.is_empty(r.get(c)) for r in rows) for c in columns]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(b) for b in body])
