"""Tables, plots and the HTML page of an encoder-ranking run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alignkit.report import Report, plots, write_table
from alignkit.rank.table import agreement, floor_note, label, metric_matrix, pair_notes, ties
from alignkit.similarity.cca import DEGENERATE_RANK
from alignkit.locks import locks_folder


@locks_folder("out", "output folder")
def write_rank_report(
    out: str | Path,
    rows: list[dict[str, Any]],
    ranked: list[dict[str, Any]],
    layers: list[dict[str, Any]],
    metrics: Sequence[str],
    primary: str,
    probe_spec: str,
    n_probe: int,
    command: str,
    examples: Sequence[tuple[Any, str]] = (),
) -> Path:
    """results.{parquet,csv,jsonl} (tidy rows), ranking.* and index.html in ``out``."""
    out = Path(out)
    write_table(rows, out / "results")
    table = [
        {"rank": e["rank"], "vision": e["vision"], "text": e["text"], "control": "yes" if e["control"] else "",
         **{f"{m}": e.get(m) for m in metrics}, **{f"{m} (cal.)": e.get(f"{m}_cal") for m in metrics},
         "notes": pair_notes(e, metrics, n_probe)}
        for e in ranked
    ]
    write_table(table, out / "ranking")
    rep = Report("Encoder pair ranking", f"{len(ranked)} pairs on {n_probe} probe pairs from {probe_spec}")
    rep.code(command)
    rep.note(
        "Calibrated = (raw - null mean) / (1 - null mean), where the null re-scores the pair with its image-caption "
        "pairing shuffled: 0 means no better than unpaired data, 1 is perfect. Raw scores grow with width and depth "
        "even for unrelated spaces, so rank by calibrated scores. Rows marked control are floors (random weights, "
        "pixels, n-grams)."
    )
    flagged = sorted({m for e in ranked for m in metrics if e.get(f"{m}_degenerate") or e.get(f"{m}_error")})
    if flagged:
        rep.note(
            f"Not every score is usable: {', '.join(flagged)} failed or sat in a degenerate regime on some pairs (kept "
            f"at least {DEGENERATE_RANK:.0%} as many components as there are probe pairs, so even unrelated spaces score "
            "high); see each pair's notes. Do not rank by those columns; rerun with more probe pairs or a lower --svcca-share.",
            kind="warning",
        )
    tied = ties(ranked, primary)
    if tied:
        rep.note(f"Statistically tied with the best non-control pair (the paired 95% interval of the difference in calibrated "
                 f"{primary}, over the same bootstrap resamples, holds zero): "
                 + "; ".join(f"rank {t['rank']} {t['vision']} + {t['text']}: {t['difference']:+.3f} [{t['low']:+.3f}, "
                             f"{t['high']:+.3f}]" for t in tied) + f". {'Either' if len(tied) == 1 else 'Any of them'} will do, or rank on "
                 "more probe pairs.")
    permutations = next((r.get("permutations") for r in rows if r.get("permutations")), 0)
    if floor := floor_note(ranked, metrics, permutations):
        rep.note(floor, kind="warning")
    ci = [e.get(f"{primary}_cal_ci", (np.nan, np.nan)) for e in ranked]
    rep.heading("Ranking").figure(
        plots.ranked_bars([label(e) for e in ranked], [e.get(f"{primary}_cal", np.nan) for e in ranked],
                          lower=[c[0] for c in ci], upper=[c[1] for c in ci], title=f"calibrated {primary}, 95% intervals",
                          xlabel=f"{primary} (calibrated)", highlight=[label(e) for e in ranked if e["control"]],
                          reference=0.0, reference_label="shuffled-pairing level"),
        caption=f"The ranking: calibrated {primary} of every pair with its 95% interval; controls (floors) in orange")
    shown = [{**r, "notes": r["notes"] if len(r["notes"]) <= 90 else r["notes"][:88] + "… (see ranking.csv)"} for r in table]
    rep.table(shown, caption=f"sorted by calibrated {primary}", highlight=lambda r: r["control"] == "yes",
              best={f"{primary} (cal.)": "max"})
    rep.heading("Heatmaps")
    for m in metrics:
        for cal in (False, True):
            mat, v, t = metric_matrix(ranked, m, cal)
            if np.isfinite(mat).any():
                name = f"{m} ({'calibrated' if cal else 'raw'})"
                rep.figure(plots.heatmap(mat, v, t, title=name), caption=name)
    if len(ranked) >= 3 and len(metrics) >= 2:
        rep.heading("Do the metrics agree?")
        rep.figure(plots.heatmap(agreement(ranked, metrics), list(metrics), list(metrics), vmin=-1, vmax=1,
                                 cmap="coolwarm", title="Spearman correlation of calibrated scores across pairs"),
                   caption="Metric-vs-metric agreement over encoder pairs")
    if layers:
        rep.heading("Layer-wise").table(layers, caption=f"best layer per encoder by {primary}")
        write_table(layers, out / "layers")
    if examples:
        rep.heading("Probe pairs").image_grid(list(examples), caption="A few probe images with their first caption")
    rep.heading("All scores").table(rows, max_rows=400)
    return rep.write(out)
