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


def test_write_table_errors(tmp_path):
    with pytest.raises(AlignkitError, match="no result rows"):
        write_table([], tmp_path / "x")
    with pytest.raises(AlignkitError, match="unknown table format"):
        write_table(pl.DataFrame({"a": [1]}), tmp_path / "x", formats=["xlsx"])
    with pytest.raises(AlignkitError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
