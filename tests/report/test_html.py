"""The HTML builder: escaping, tables, inline images, atomic writes, no network references."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure
from PIL import Image

from alignkit.errors import AlignkitError
from alignkit.report import Report, plots

EVIL = '<script>alert("x")</script>'


def test_every_text_field_is_escaped():
    page = (
        Report(EVIL, subtitle=EVIL)
        .heading(EVIL)
        .paragraph(EVIL)
        .note(EVIL, kind="warning")
        .code(EVIL)
        .table([{EVIL: EVIL}], caption=EVIL)
        .figure(Image.new("RGB", (4, 4)), caption=EVIL)
        .image_grid([(Image.new("RGB", (4, 4)), EVIL)], caption=EVIL)
        .to_html()
    )
    assert "<script" not in page.lower()
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    # title tag, h1, subtitle, heading, toc-less paragraph, note, pre, th, td, caption,
    # figure caption + alt, grid caption + alt, grid figure caption
    assert page.count(escaped) >= 14


def test_attribute_context_cannot_be_broken_out_of():
    page = Report("t").figure(Image.new("RGB", (4, 4)), alt='" onerror="alert(1)').to_html()
    assert 'onerror="alert(1)"' not in page
    assert "&quot; onerror=&quot;alert(1)" in page


def test_table_cells_formatting_highlight_and_best():
    df = pl.DataFrame({"model": ["a", "b", "c"], "top1": [0.5, 0.712345, 0.712345], "n": [10, 10, None]})
    page = Report("t").table(df, caption="res", highlight=lambda r: r["model"] == "b", best={"top1": "max"}).to_html()
    body = page.split("<tbody>")[1]
    rows = re.findall(r"<tr[^>]*>.*?</tr>", body)
    assert len(rows) == 3
    assert rows[1].startswith('<tr class="hl">') and not rows[0].startswith('<tr class="hl">')
    assert rows[1].count('class="num best"') == 1 and rows[2].count('class="num best"') == 1  # ties both bold
    assert "0.712" in rows[1] and "0.712345" not in rows[1]
    assert "<td>–</td>" in rows[2]  # missing value


def test_table_from_dicts_unions_columns_and_truncates():
    rows = [{"a": i} for i in range(5)] + [{"b": "late column"}]
    page = Report("t").table(rows, max_rows=3).to_html()
    assert "<th>a</th><th>b</th>" in page
    assert page.split("<tbody>")[1].count("<tr") == 3
    assert "3 more rows not shown" in page


def test_images_are_inline_pngs_that_decode():
    fig = plots.line_curves({"loss": ([1, 2, 3], [3.0, 2.0, 1.5])}, title="curve")
    page = Report("t").figure(fig, caption="c").image_grid([(Image.new("L", (28, 28), 200), "x")]).to_html()
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == 2
    for u in uris:
        img = Image.open(io.BytesIO(base64.b64decode(u)))
        img.load()
        assert img.width > 0 and img.height > 0
    assert not re.search(r'(src|href)="(https?:|//)', page)
    assert "Content-Security-Policy" in page


def test_figure_accepts_png_bytes_and_rejects_other_things():
    buf = io.BytesIO()
    Image.new("RGB", (3, 3)).save(buf, format="PNG")
    assert "data:image/png" in Report("t").figure(buf.getvalue()).to_html()
    with pytest.raises(AlignkitError, match="not a PNG"):
        Report("t").figure(b"GIF89a....")
    with pytest.raises(AlignkitError, match="cannot embed"):
        Report("t").figure(np.zeros((3, 3)))


def test_write_folder_gets_index_html_atomically(tmp_path):
    rep = Report("t").paragraph("hello")
    path = rep.write(tmp_path / "out")
    assert path == tmp_path / "out" / "index.html"
    assert "hello" in path.read_text(encoding="utf-8")
    assert rep.write(tmp_path / "page.html") == tmp_path / "page.html"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["index.html"]  # no temp files left


def test_bad_arguments_say_what_is_allowed():
    with pytest.raises(ValueError, match="heading level"):
        Report("t").heading("x", level=1)
    with pytest.raises(ValueError, match="note kind"):
        Report("t").note("x", kind="shout")
    with pytest.raises(ValueError, match="'max' or 'min'"):
        Report("t").table([{"a": 1}], best={"a": "biggest"})
    with pytest.raises(AlignkitError, match="no columns"):
        Report("t").table([])


def test_figure_from_plot_is_a_matplotlib_figure():
    assert isinstance(plots.heatmap(np.eye(2), ["a", "b"], ["c", "d"]), Figure)


def test_row_best_bolds_the_winner_of_each_row():
    rows = [{"metric": "top1", "chance": 0.9, "aligned": 0.6, "asif": 0.4}, {"metric": "R@1", "chance": 0.0, "aligned": 0.2, "asif": 0.2}]
    body = Report("t").table(rows, row_best=["aligned", "asif"]).to_html().split("<tbody>")[1]
    first, second = re.findall(r"<tr[^>]*>.*?</tr>", body)
    assert first.count("best") == 1 and '<td class="num best">0.600</td>' in first  # chance is not a contender
    assert second.count("best") == 2  # a tie marks both
