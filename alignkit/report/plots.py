"""Plot helpers that return matplotlib Figures for reports.

Figures are built with the object API (``matplotlib.figure.Figure``), never through pyplot,
so nothing needs a display, no global figure list grows in long runs, and any backend the
user set stays untouched. Labels from data sets are shown literally: a ``$`` in a class name
is not taken as TeX.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy import stats


def plain(text: object) -> str:
    """A label matplotlib prints as is (``$`` would start mathtext and can fail to parse)."""
    return str(text).replace("$", r"\$")


def _fig(width: float, height: float) -> Figure:
    return Figure(figsize=(max(width, 2.0), max(height, 1.5)), layout="constrained")


def heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str = "",
    fmt: str = ".2f",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    annotate: bool | None = None,
    colorbar_label: str = "",
    min_span: float = 0.05,
) -> Figure:
    """A labelled matrix (e.g. CKA of every vision x text encoder pair), values printed when small.

    The colour bar says the values' range. Without ``vmin``/``vmax`` the colour scale spans at
    least ``min_span``, so values that differ by 0.007 are not stretched to full colour (the
    title says when the scale was widened)."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"heatmap: matrix shape {m.shape} does not match {len(row_labels)} x {len(col_labels)} labels")
    annotate = m.size <= 400 if annotate is None else annotate
    fig = _fig(max(4.5, 2.4 + 0.75 * m.shape[1]), max(3.0, 1.6 + 0.45 * m.shape[0]))
    ax = fig.add_subplot()
    finite = m[np.isfinite(m)]
    lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    widened = vmin is None and vmax is None and hi - lo < min_span
    if widened:
        mid = (lo + hi) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
    ax.set_xticks(range(m.shape[1]), [plain(c) for c in col_labels], rotation=40, ha="right")
    ax.set_yticks(range(m.shape[0]), [plain(r) for r in row_labels])
    if annotate:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                v = m[i, j]
                text = format(v, fmt) if np.isfinite(v) else "n/a"
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=_ink(im, v))
    span = f"values {finite.min():.4g} to {finite.max():.4g}" if finite.size else "no finite values"
    fig.colorbar(im, ax=ax, label=plain(f"{colorbar_label}; {span}" if colorbar_label else span))
    note = f"\n(values differ by only {np.ptp(finite):.2g}; colours span {min_span:g})" if widened and finite.size else ""
    ax.set_title(plain(title) + note)
    return fig


def _ink(image: object, value: float) -> str:
    """White text on dark cells, black on light ones, whatever the colour map."""
    if not np.isfinite(value):
        return "black"
    r, g, b, _ = image.cmap(image.norm(value))
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def ranked_bars(
    labels: Sequence[str],
    values: Sequence[float],
    lower: Sequence[float] | None = None,
    upper: Sequence[float] | None = None,
    title: str = "",
    xlabel: str = "",
    highlight: Sequence[str] = (),
    reference: float | None = None,
    reference_label: str = "chance",
) -> Figure:
    """Horizontal bars sorted best-first, with interval error bars (e.g. bootstrap CIs) and an
    optional reference line (chance level)."""
    v = np.asarray(values, dtype=float)
    if len(labels) != len(v):
        raise ValueError(f"ranked_bars: {len(labels)} labels for {len(v)} values")
    order = np.argsort(-np.nan_to_num(v, nan=-np.inf), kind="stable")
    fig = _fig(6.5, 0.9 + 0.32 * len(v))
    ax = fig.add_subplot()
    y = np.arange(len(v))
    colors = ["#d0782a" if labels[i] in highlight else "#4a7bd0" for i in order]
    xerr = None
    if lower is not None and upper is not None:
        lo, hi = np.asarray(lower, dtype=float)[order], np.asarray(upper, dtype=float)[order]
        xerr = np.vstack([np.clip(v[order] - lo, 0, None), np.clip(hi - v[order], 0, None)])
    ax.barh(y, v[order], xerr=xerr, color=colors, capsize=3, error_kw={"elinewidth": 1})
    ax.set_yticks(y, [plain(labels[i]) for i in order])
    ax.invert_yaxis()
    if reference is not None:
        ax.axvline(reference, color="#888", linestyle="--", linewidth=1, label=plain(reference_label))
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel(plain(xlabel))
    ax.set_title(plain(title))
    return fig


def scatter_fit(
    x: Sequence[float],
    y: Sequence[float],
    labels: Sequence[str] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
) -> Figure:
    """Scatter with a least-squares line; the title states Spearman, Pearson and n, so the
    figure alone says how well a similarity score predicts accuracy."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape:
        raise ValueError(f"scatter_fit: x has {xa.size} values, y has {ya.size}")
    ok = np.isfinite(xa) & np.isfinite(ya)
    fig = _fig(5.5, 4.2)
    ax = fig.add_subplot()
    ax.scatter(xa[ok], ya[ok], color="#4a7bd0", zorder=3)
    if labels is not None:
        for xi, yi, lab in zip(xa[ok], ya[ok], np.asarray(labels, dtype=object)[ok]):
            ax.annotate(plain(lab), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    n = int(ok.sum())
    summary = f"n={n}"
    if n >= 3 and np.ptp(xa[ok]) > 0 and np.ptp(ya[ok]) > 0:
        slope, intercept = np.polyfit(xa[ok], ya[ok], 1)
        grid = np.linspace(xa[ok].min(), xa[ok].max(), 50)
        ax.plot(grid, slope * grid + intercept, color="#d0782a", linewidth=1.2)
        rho = stats.spearmanr(xa[ok], ya[ok]).statistic
        r = stats.pearsonr(xa[ok], ya[ok]).statistic
        summary = f"Spearman {rho:.2f}, Pearson {r:.2f}, n={n}"
    ax.set_xlabel(plain(xlabel))
    ax.set_ylabel(plain(ylabel))
    ax.set_title(plain(f"{title}\n{summary}" if title else summary))
    return fig


def line_curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    logx: bool = False,
    bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    reference: float | None = None,
    reference_label: str = "chance",
) -> Figure:
    """Named curves (training loss per epoch, accuracy vs number of training pairs), with
    optional shaded (lower, upper) bands and a reference line."""
    if not series:
        raise ValueError("line_curves: no series to plot")
    fig = _fig(6.0, 4.0)
    ax = fig.add_subplot()
    for name, (xs, ys) in series.items():
        if len(xs) != len(ys):
            raise ValueError(f"line_curves: series {name!r} has {len(xs)} x values and {len(ys)} y values")
        (line,) = ax.plot(xs, ys, marker="o" if len(xs) <= 30 else None, markersize=3, label=plain(name))
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    if reference is not None:
        ax.axhline(reference, color="#888", linestyle="--", linewidth=1, label=plain(reference_label))
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(plain(xlabel))
    ax.set_ylabel(plain(ylabel))
    ax.set_title(plain(title))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def confusion_matrix(
    counts: np.ndarray, classnames: Sequence[str], title: str = "", normalize: bool = True
) -> Figure:
    """Rows are true classes, columns predictions; normalised per row, each row shows recall."""
    c = np.asarray(counts, dtype=float)
    if c.shape != (len(classnames), len(classnames)):
        raise ValueError(f"confusion_matrix: counts shape {c.shape} does not match {len(classnames)} classes")
    if normalize:
        totals = c.sum(axis=1, keepdims=True)
        c = np.divide(c, totals, out=np.zeros_like(c), where=totals > 0)
    fig = heatmap(
        c,
        classnames,
        classnames,
        title=title,
        fmt=".2f" if normalize else ".0f",
        cmap="Blues",
        vmin=0.0,
        vmax=1.0 if normalize else None,
        annotate=len(classnames) <= 20,
        colorbar_label="fraction of true class" if normalize else "count",
    )
    ax = fig.axes[0]
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return fig


def forest(
    labels: Sequence[str],
    diffs: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    title: str = "",
    xlabel: str = "aligned minus baseline",
    calls: Sequence[str] | None = None,
) -> Figure:
    """A forest plot: one row per comparison (task: baseline), the difference as a dot with its
    interval as a line, and zero (no difference, the chance of a tie) marked; rows coloured by
    their call (win green, loss red, tie grey)."""
    d = np.asarray(diffs, dtype=float)
    if not (len(labels) == len(d) == len(lower) == len(upper)):
        raise ValueError("forest: labels, diffs, lower and upper must have one entry per row")
    colour = {"win": "#2a8a3e", "loss": "#c0392b", "tie": "#777777"}
    fig = _fig(7.0, 1.0 + 0.3 * len(d))
    ax = fig.add_subplot()
    y = np.arange(len(d))
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    for i in range(len(d)):
        c = colour.get((calls or [""] * len(d))[i].split(" ")[0], "#4a7bd0")
        if np.isfinite(lo[i]) and np.isfinite(hi[i]):
            ax.plot([lo[i], hi[i]], [i, i], color=c, linewidth=2)
        ax.plot(d[i], i, "o", color=c, markersize=5)
    ax.axvline(0.0, color="#333", linestyle="--", linewidth=1, label="no difference")
    ax.set_yticks(y, [plain(s) for s in labels])
    ax.invert_yaxis()
    ax.set_xlabel(plain(xlabel))
    ax.set_title(plain(title))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig
