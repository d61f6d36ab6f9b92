"""Plot helpers draw what they say; results tables round-trip through every format."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from alignkit.errors import AlignkitError
from alignkit.report import plots, read_table, write_table


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_heatmap_labels_and_annotations():
    m = np.array([[0.1, 0.9], [0.5, np.nan]])
    fig = plots.heatmap(m, ["dino", "effnet"], ["minilm", "$mpnet$"], title="cka")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dino", "effnet"]
    assert ax.get_xticklabels()[1].get_text() == r"\$mpnet\$"  # shown literally, not TeX
    assert _texts(fig) == ["0.10", "0.90", "0.50", "n/a"]
    fig.savefig(__import__("io").BytesIO(), format="png")  # draws without a parse error
    with pytest.raises(ValueError, match="does not match"):
        plots.heatmap(m, ["a"], ["b", "c"])


def test_ranked_bars_sorted_best_first_with_intervals():
    fig = plots.ranked_bars(["a", "b", "c"], [0.2, 0.8, 0.5], [0.1, 0.7, 0.4], [0.3, 0.9, 0.6], reference=0.1)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "c", "a"]
    widths = [p.get_width() for p in ax.patches]
    assert widths == [0.8, 0.5, 0.2]


def test_scatter_fit_title_reports_correlations():
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    y = 2 * x + rng.normal(scale=0.5, size=12)
    fig = plots.scatter_fit(x, y, labels=[f"p{i}" for i in range(12)], title="CKA vs top-1")
    title = fig.axes[0].get_title()
    rho = stats.spearmanr(x, y).statistic
    assert f"Spearman {rho:.2f}" in title and "n=12" in title
    assert len(fig.axes[0].lines) == 1  # the fitted line
    few = plots.scatter_fit([1, 2], [3, 4])
    assert few.axes[0].get_title() == "n=2" and not few.axes[0].lines


def test_line_curves_and_confusion_matrix():
    fig = plots.line_curves({"aligned": ([100, 1000], [0.2, 0.4]), "asif": ([100, 1000], [0.3, 0.35])}, logx=True, reference=0.1)
    ax = fig.axes[0]
    assert [l.get_label() for l in ax.lines] == ["aligned", "asif", "chance"]
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="no series"):
        plots.line_curves({})
    cm = plots.confusion_matrix(np.array([[3, 1], [0, 0]]), ["cat", "dog"])
    assert _texts(cm) == ["0.75", "0.25", "0.00", "0.00"]  # rows are recall; empty row stays 0


def test_write_table_round_trips_every_format(tmp_path):
    rows = [
        {"task": "fmnist", "metric": "top1", "value": 0.5, "chance": 0.1, "n": 100},
        {"task": "emoji", "metric": "i2t_R@1", "value": 0.25, "chance": None, "n": 7},
    ]
    paths = write_table(rows, tmp_path / "sub" / "results")
    assert sorted(paths) == ["csv", "jsonl", "parquet"]
    for fmt, path in paths.items():
        assert path.name == f"results.{fmt}"
        df = read_table(path)
        assert df["task"].to_list() == ["fmnist", "emoji"]
        assert df["value"].to_list() == [0.5, 0.25]
        assert df["chance"].to_list() == [0.1, None]
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".")]


def test_a_column_null_in_the_first_rows_reads_back_from_every_format(tmp_path):
    """A bench writes hundreds of rows before the first one with a note: reading its jsonl or csv
    must not fix the note's type from the first rows and then fail on a value."""
    rows = [{"task": f"t{i}", "value": float(i), "note": None} for i in range(150)]
    rows.append({"task": "late", "value": 1.0, "note": "fitted on too few pairs"})
    for fmt, path in write_table(rows, tmp_path / "results").items():
        df = read_table(path)
        assert df.height == 151, fmt
        assert df["note"].to_list()[-1] == "fitted on too few pairs", fmt


def test_write_table_errors(tmp_path):
    with pytest.raises(AlignkitError, match="no result rows"):
        write_table([], tmp_path / "x")
    with pytest.raises(AlignkitError, match="unknown table format"):
        write_table(pl.DataFrame({"a": [1]}), tmp_path / "x", formats=["xlsx"])
    with pytest.raises(AlignkitError, match="does not exist"):
        read_table(tmp_path / "nope.csv")


def test_a_heatmap_says_its_range_and_does_not_stretch_a_tiny_one():
    """0.700 to 0.7075 is not drawn as the full colour range without saying so: the colour scale
    spans at least min_span, the title says the scale was widened, the colour bar names the range."""
    m = np.array([[0.700, 0.7025], [0.705, 0.7075]])
    fig = plots.heatmap(m, ["a", "b"], ["x", "y"], title="cka")
    ax, bar = fig.axes
    lo, hi = ax.images[0].get_clim()
    assert hi - lo == pytest.approx(0.05) and lo < 0.700 and hi > 0.7075
    assert "values 0.7 to 0.7075" in bar.get_ylabel() and "differ by only 0.0075" in ax.get_title()
    wide = plots.heatmap(np.array([[0.1, 0.9]]), ["a"], ["x", "y"], colorbar_label="score")
    assert wide.axes[0].images[0].get_clim() == (0.1, 0.9) and wide.axes[1].get_ylabel() == "score; values 0.1 to 0.9"
    assert "widened" not in wide.axes[0].get_title() and "differ" not in wide.axes[0].get_title()


def test_the_forest_plot_marks_zero_and_draws_each_interval():
    fig = plots.forest(["t: asif", "t: ridge", "u: asif"], [0.05, -0.02, 0.0], [0.01, -0.05, float("nan")],
                       [0.09, 0.01, float("nan")], calls=["win", "tie", "tie (no per-item scores)"])
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["t: asif", "t: ridge", "u: asif"]
    zero = [line for line in ax.get_lines() if list(line.get_xdata()) == [0.0, 0.0]]
    assert zero and zero[0].get_linestyle() == "--"  # no difference, marked
    segments = [line for line in ax.get_lines() if len(line.get_xdata()) == 2 and line not in zero]
    assert sorted(tuple(s.get_xdata()) for s in segments) == [(-0.05, 0.01), (0.01, 0.09)]  # the NaN interval is not drawn


def test_empty_columns_are_left_out_and_numbers_are_marked_unbreakable():
    from alignkit.report import Report

    html = Report("t").table([{"a": 1.5, "empty": None, "blank": "", "ci": "[+0.01, +0.05]", "name": "x"},
                              {"a": 2.5, "empty": None, "blank": " ", "ci": "[-0.02, +0.03]", "name": "y"}]).to_html()
    assert "<th>empty</th>" not in html and "<th>blank</th>" not in html and "<th>a</th>" in html
    assert '<td class="num">[+0.01, +0.05]</td>' in html and "<td>x</td>" in html
    assert "td.num{" in html and "white-space:nowrap" in html


def test_a_crowded_figure_renders_without_a_layout_warning_on_the_terminal():
    import warnings

    from matplotlib.figure import Figure

    from alignkit.report.html import png_bytes

    fig = Figure(figsize=(1, 1), layout="constrained")  # too small for its decorations
    ax = fig.add_subplot()
    ax.set_yticks([0, 1], ["a very long label " * 3, "b"])
    fig.colorbar(ax.imshow([[1, 2], [3, 4]]), ax=ax, label="x " * 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "constrained_layout not applied" would raise here
        assert png_bytes(fig).startswith(b"\x89PNG")
