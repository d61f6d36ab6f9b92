"""The crossover figure of a bench page: where training heads starts to beat the training-free baselines."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from alignkit.report import Report, plots

if TYPE_CHECKING:
    from alignkit.bench.runner import BenchOutcome

CAPTION = ("The crossover: mean headline metric over the tasks against the number of training images (log "
           "scale), the aligned model and every training-free baseline on the same nested subsets; shaded: "
           "95% intervals over test items (normal approximation); dashed: mean chance.")


def crossover_figure(rep: Report, outcome: BenchOutcome) -> None:
    """The crossover on the bench page (nothing where the bench trained one size only)."""
    fig = crossover_plot(outcome.rows, outcome.chosen)
    if fig is not None:
        rep.figure(fig, caption=CAPTION)


def crossover_plot(bench_rows: Sequence[dict[str, Any]], chosen: Sequence[str]) -> Any:
    """The crossover as one curve per model: the headline metric (mean over tasks) against training
    images, log x, with 95% intervals over test items; where the aligned curve crosses the
    baselines, training starts to pay. Drawn from a bench's rows (``results.jsonl``), so a saved
    bench can be drawn again; None with fewer than two sizes."""
    rows = [r for r in bench_rows if r["section"] in ("zero-shot", "data-efficiency") and r["headline"]
            and (r["vision"], r["text"]) == tuple(chosen)]
    sizes = sorted({r["train_images"] for r in rows})
    if len(sizes) < 2:
        return None
    series: dict[str, tuple[list[float], list[float]]] = {}
    bands: dict[str, tuple[list[float], list[float]]] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        xs, ys, lo, hi = [], [], [], []
        for n in sizes:
            here = [r for r in rows if r["model"] == model and r["train_images"] == n]
            if not here:
                continue
            value = float(np.mean([r["value"] for r in here]))
            half = 1.96 * math.sqrt(sum(r["value"] * (1 - r["value"]) / max(r["n"], 1) for r in here)) / len(here)
            xs.append(n), ys.append(value), lo.append(value - half), hi.append(value + half)
        series[model], bands[model] = (xs, ys), (lo, hi)
    chance = float(np.mean([r["chance"] for r in rows if r["train_images"] == sizes[-1] and r["model"] == "aligned"]))
    return plots.line_curves(series, "training images (log scale)", "mean headline metric over tasks",
                             "crossover: aligned heads vs every baseline", logx=True, bands=bands, reference=chance)
