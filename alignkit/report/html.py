"""A self-contained HTML report builder: one file, CSS inline, images as data URIs, no script.

Every piece of text that goes into the page (titles, table cells, captions, class names from a
data set) is escaped here, so a caption holding ``<script>`` shows as text and never runs. The
page also carries a Content-Security-Policy that forbids scripts and any network load, so a
report opened from disk cannot reach out even if a future block forgot to escape something.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import polars as pl
from PIL import Image

from alignkit.provenance import provenance_line, run_provenance
from alignkit.atomic import atomic_write_bytes
from alignkit.errors import AlignkitError
from alignkit.report import cells as marks
from alignkit.report.cells import RowPredicate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5rem;color:#1d1d1f;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666;font-size:.85rem}
.tablewrap{max-width:100%;overflow-x:auto;margin:.6rem 0 1.2rem}
table{border-collapse:collapse;font-size:.9rem}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #d0d0d0;padding:.25rem .45rem;text-align:left;max-width:24rem;overflow-wrap:break-word}
th{background:#f3f3f3;overflow-wrap:normal;word-break:normal;min-width:4.5rem}
td.long{min-width:18rem}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;overflow-wrap:normal}
tr.hl td{background:#fff5cc}td.best{font-weight:700}
figure{margin:1rem 0}figure img{max-width:100%;height:auto}
figcaption{color:#444;font-size:.9rem}
.grid{display:flex;flex-wrap:wrap;gap:.6rem}
.grid figure{margin:0;width:var(--w);font-size:.75rem;overflow-wrap:anywhere}
.grid img{width:var(--w);height:var(--w);object-fit:contain;background:#fff;border:1px solid #eee;
image-rendering:pixelated}
.note{border-left:4px solid #4a7bd0;background:#eef3fb;padding:.5rem .8rem;margin:1rem 0}
.note.warning{border-color:#d08a1d;background:#fdf4e6}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.85rem}
"""



# C0 controls but tab/newline/CR, DEL, C1 controls and lone surrogates: invalid or invisible in HTML
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def esc(value: Any) -> str:
    """Escape any value for HTML text or attribute context; control characters (NUL included)
    and lone surrogates from data are shown as visible ``\\xNN`` / ``\\uNNNN`` escapes."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", str(value))
    return html.escape(text, quote=True)


def format_value(value: Any, digits: int = 3) -> str:
    """How a table cell prints: floats rounded, missing values as a dash, NaN as 'n/a'."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):  # numpy floats too
        if math.isnan(value):
            return "n/a"
        return f"{float(value):.{digits}f}"
    return str(value)


def png_bytes(obj: Any, dpi: int = 110) -> bytes:
    """A matplotlib Figure, a PIL image or PNG bytes -> PNG bytes (figures are closed after)."""
    if isinstance(obj, (bytes, bytearray)):
        data = bytes(obj)
        if not data.startswith(PNG_MAGIC):
            raise AlignkitError("figure bytes are not a PNG image; pass a matplotlib Figure, a PIL image or PNG bytes")
        return data
    buf = io.BytesIO()
    if isinstance(obj, Image.Image):
        img = obj if obj.mode in ("RGB", "RGBA", "L", "LA") else obj.convert("RGBA")
        img.save(buf, format="PNG")
        return buf.getvalue()
    savefig = getattr(obj, "savefig", None)
    if savefig is None:
        raise AlignkitError(f"cannot embed a {type(obj).__name__}; pass a matplotlib Figure, a PIL image or PNG bytes")
    with warnings.catch_warnings():  # a crowded figure is still drawn; the terminal is no place for layout notes
        warnings.filterwarnings("ignore", message=".*constrained_layout not applied.*")
        warnings.filterwarnings("ignore", message=".*[Cc]onstrained ?[Ll]ayout.*")
        savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _close_figure(obj)
    return buf.getvalue()


def _close_figure(fig: Any) -> None:
    """Release a pyplot-managed figure (figures built without pyplot are freed by the GC)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def table_rows(data: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of a polars DataFrame or a list of dicts (columns in first-seen order)."""
    if isinstance(data, pl.DataFrame):
        return list(data.columns), data.to_dicts()
    rows = [dict(r) for r in data]
    columns: list[str] = []
    for r in rows:
        columns.extend(c for c in r if c not in columns)
    return columns, rows


@dataclass
class _Block:
    html: str
    toc: str | None = None  # heading text for the table of contents


class Report:
    """Build a report block by block, then ``write`` it as one self-contained ``index.html``.

    Methods return the report, so calls chain: ``Report("x").heading("A").table(df).write(out)``.
    """

    def __init__(self, title: str, subtitle: str | None = None):
        self.title = title
        self.subtitle = subtitle
        self.provenance = run_provenance()  # versions, commit and time, stamped under the title
        self._blocks: list[_Block] = []

    # ---- text ----------------------------------------------------------------------
    def heading(self, text: str, level: int = 2) -> "Report":
        if level not in (2, 3, 4):
            raise ValueError("heading level must be 2, 3 or 4 (the title is the only h1)")
        anchor = f"s{len(self._blocks)}"
        self._blocks.append(_Block(f'<h{level} id="{anchor}">{esc(text)}</h{level}>', toc=text if level == 2 else None))
        return self

    def paragraph(self, text: str) -> "Report":
        self._blocks.append(_Block(f"<p>{esc(text)}</p>"))
        return self

    def note(self, text: str, kind: str = "info") -> "Report":
        """A highlighted box: 'info' for context, 'warning' for caveats the reader must see."""
        if kind not in ("info", "warning"):
            raise ValueError("note kind must be 'info' or 'warning'")
        self._blocks.append(_Block(f'<div class="note {kind}">{esc(text)}</div>'))
        return self

    def code(self, text: str) -> "Report":
        """Preformatted text: the command line that made the report, a config, a log excerpt."""
        self._blocks.append(_Block(f"<pre>{esc(text)}</pre>"))
        return self

    # ---- tables --------------------------------------------------------------------
    def table(
        self,
        data: Any,
        caption: str | None = None,
        highlight: RowPredicate | Iterable[int] | None = None,
        best: Mapping[str, str] | None = None,
        digits: int = 3,
        max_rows: int | None = 500,
        row_best: Sequence[str] = (),
    ) -> "Report":
        """A table from a polars DataFrame or a list of dicts.

        ``highlight`` marks rows (a predicate on the row dict, or row indices); ``best`` bolds the
        best cell per column (``{"top1": "max", "loss": "min"}``); ``row_best`` bolds the
        largest of these columns in each row (models side by side); long tables are cut at
        ``max_rows`` with a note saying how many rows were left out. Columns with no value in any
        row are left out (a column of dashes says nothing); numbers never break across lines.
        """
        columns, rows = table_rows(data)
        columns = [c for c in columns if any(not marks.is_empty(r.get(c)) for r in rows)] if rows else columns
        if not columns:
            raise AlignkitError(f"table {caption or ''!r} has no columns; nothing to show")
        marked = marks.marked_rows(rows, highlight)
        best_cells = marks.best_cells(rows, best or {}) | marks.row_best_cells(rows, row_best)
        shown = rows if max_rows is None else rows[:max_rows]
        out = ['<div class="tablewrap"><table>']  # a wide table scrolls inside its box, never the page
        if caption:
            out.append(f"<caption>{esc(caption)}</caption>")
        out.append("<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr></thead><tbody>")
        for i, row in enumerate(shown):
            cells = []
            for c in columns:
                v = row.get(c)
                cls = ["num"] if marks.is_number(v) or marks.is_numeric_text(v) else ["long"] if len(str(v)) > 60 else []
                if (i, c) in best_cells:
                    cls.append("best")
                attr = f' class="{" ".join(cls)}"' if cls else ""
                cells.append(f"<td{attr}>{esc(format_value(v, digits))}</td>")
            tr = '<tr class="hl">' if i in marked else "<tr>"
            out.append(tr + "".join(cells) + "</tr>")
        out.append("</tbody></table></div>")
        if len(shown) < len(rows):
            out.append(f'<p class="meta">{len(rows) - len(shown)} more rows not shown; see the results files.</p>')
        self._blocks.append(_Block("".join(out)))
        return self

    # ---- images --------------------------------------------------------------------
    def figure(self, fig: Any, caption: str | None = None, alt: str | None = None) -> "Report":
        """A matplotlib Figure (closed after rendering), a PIL image or PNG bytes, inline."""
        uri = data_uri(png_bytes(fig))
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        alt_text = alt or caption or "figure"
        self._blocks.append(_Block(f'<figure><img src="{uri}" alt="{esc(alt_text)}">{cap}</figure>'))
        return self

    def image_grid(
        self, items: Sequence[tuple[Any, str]], caption: str | None = None, size: int = 96
    ) -> "Report":
        """A grid of (image, caption) thumbnails, e.g. sample pairs or retrieval results."""
        cells = []
        for img, text in items:
            if isinstance(img, Image.Image):
                img = _thumbnail(img, size)
            cells.append(
                f'<figure><img src="{data_uri(png_bytes(img))}" alt="{esc(text)}"><figcaption>{esc(text)}</figcaption></figure>'
            )
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        self._blocks.append(_Block(f'<figure><div class="grid" style="--w:{int(size)}px">{"".join(cells)}</div>{cap}</figure>'))
        return self

    # ---- output --------------------------------------------------------------------
    def to_html(self) -> str:
        toc = [(f"s{i}", b.toc) for i, b in enumerate(self._blocks) if b.toc]
        nav = ""
        if len(toc) > 1:
            nav = "<nav><ul>" + "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t in toc) + "</ul></nav>"
        sub = f"<p>{esc(self.subtitle)}</p>" if self.subtitle else ""
        stamp = provenance_line(self.provenance)
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(self.title)}</title><style>{STYLE}</style></head><body>"
            f'<h1>{esc(self.title)}</h1>{sub}<p class="meta">{esc(stamp)}</p>{nav}'
            + "\n".join(b.html for b in self._blocks)
            + "</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page atomically; a folder (or a path without .html) gets ``index.html``."""
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            path = path / "index.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, self.to_html().encode("utf-8"))
        return path


def _thumbnail(img: Image.Image, size: int) -> Image.Image:
    """Shrink large images so a grid of hundreds stays small; tiny ones (28 px) scale in CSS."""
    if max(img.size) <= 2 * size:
        return img
    out = img.copy()
    out.thumbnail((2 * size, 2 * size))
    return out
