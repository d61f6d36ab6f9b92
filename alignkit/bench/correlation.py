"""How well does a similarity score predict zero-shot accuracy across encoder pairs?

Rank correlations (Spearman's rho, Kendall's tau) between each metric's score and the
aligned models' accuracy, with the number of pairs, because with a handful of pairs a
correlation says little: 2 points always correlate perfectly, and with 4 pairs even a
perfect ordering is not significant at 5% (tau's smallest two-sided p is 0.083).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import stats

MIN_PAIRS = 3  # fewer points give no correlation at all
FEW_PAIRS = 8


def sample_size_note(n: int) -> str:
    """A plain sentence on what ``n`` pairs can and cannot show."""
    if n < MIN_PAIRS:
        return f"n={n}: too few aligned pairs for any correlation (need at least {MIN_PAIRS})"
    if n < FEW_PAIRS:
        return f"n={n}: too few pairs for the correlation to mean much; read it as a hint, not evidence"
    return f"n={n} pairs"


def rank_correlation(scores: Sequence[float], accuracy: Sequence[float], bootstrap: int = 0,
                     seed: int = 0) -> dict[str, float | int | str]:
    """Spearman and Kendall (with p-values) over the pairs where both values are finite; with
    ``bootstrap`` > 0 also their 95% percentile intervals over pairs resampled with replacement
    (resamples whose scores or accuracies are all equal are dropped)."""
    ok = [(s, a) for s, a in zip(scores, accuracy) if math.isfinite(s) and math.isfinite(a)]
    n = len(ok)
    out: dict[str, float | int | str] = {"n": n, "spearman": math.nan, "spearman_p": math.nan,
                                         "kendall": math.nan, "kendall_p": math.nan, "note": sample_size_note(n)}
    if n < MIN_PAIRS:
        return out
    xs, ys = [s for s, _ in ok], [a for _, a in ok]
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        out["note"] = f"n={n}: the scores or the accuracies are all equal; no ordering to compare"
        return out
    rho = stats.spearmanr(xs, ys)
    tau = stats.kendalltau(xs, ys)
    out.update(spearman=float(rho.statistic), spearman_p=float(rho.pvalue),
               kendall=float(tau.statistic), kendall_p=float(tau.pvalue))
    if bootstrap > 0:
        out.update(pair_bootstrap(np.array(xs), np.array(ys), bootstrap, seed))
    return out


def pair_bootstrap(x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> dict[str, float | int]:
    """Percentile intervals of Spearman and Kendall over pairs drawn with replacement."""
    rng = np.random.default_rng(seed)
    rhos, taus = [], []
    for _ in range(resamples):
        i = rng.integers(0, len(x), len(x))
        if len(np.unique(x[i])) < 2 or len(np.unique(y[i])) < 2:
            continue
        rhos.append(stats.spearmanr(x[i], y[i]).statistic)
        taus.append(stats.kendalltau(x[i], y[i]).statistic)
    if not rhos:
        return {"bootstrap": 0}
    lo, hi = np.percentile(rhos, [2.5, 97.5])
    klo, khi = np.percentile(taus, [2.5, 97.5])
    return {"spearman_low": float(lo), "spearman_high": float(hi), "kendall_low": float(klo),
            "kendall_high": float(khi), "bootstrap": len(rhos)}


def tidy_rank_rows(ranked: list[dict[str, Any]], metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per (pair, metric, raw|calibrated)."""
    out = []
    for e in ranked:
        for m in metrics:
            if m not in e:
                continue
            lo, hi = e[f"{m}_ci"]
            for variant, value in (("raw", e[m]), ("calibrated", e[f"{m}_cal"])):
                out.append({"section": "rank", "vision": e["vision"], "text": e["text"], "control": e["control"],
                            "rank": e["rank"], "metric": m, "variant": variant, "value": value, "n": e["n_probe"],
                            "ci_low": lo if variant == "raw" else None, "ci_high": hi if variant == "raw" else None,
                            "p_value": e[f"{m}_p"], "degenerate": e.get(f"{m}_degenerate", False),
                            "error": e.get(f"{m}_error") or ""})
    return out


def correlation_rows(ranked: list[dict[str, Any]], rows: list[dict[str, Any]], metrics: tuple[str, ...],
                     bootstrap: int = 0, seed: int = 0) -> list[dict[str, Any]]:
    """Each metric (raw and calibrated) against the aligned models' mean headline accuracy (with
    intervals over pairs when ``bootstrap`` > 0)."""
    acc: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r["section"] == "zero-shot" and r["model"] == "aligned" and r["headline"]:
            acc.setdefault((r["vision"], r["text"]), []).append(r["value"])
    aligned = [e for e in ranked if (e["vision"], e["text"]) in acc]
    accuracy = [float(np.mean(acc[(e["vision"], e["text"])])) for e in aligned]
    out = []
    for m in metrics:
        for variant, key in (("raw", m), ("calibrated", f"{m}_cal")):
            scores = [float(e.get(key, math.nan)) for e in aligned]
            row = {"section": "correlation", "metric": m, "variant": variant,
                   "target": "mean headline accuracy of the aligned model over the tasks",
                   **rank_correlation(scores, accuracy, bootstrap, seed)}
            # a metric degenerate (or not computed) on any aligned pair is no candidate for "the best predictor"
            bad = sum(bool(e.get(f"{m}_degenerate") or e.get(f"{m}_error")) for e in aligned)
            row["usable"] = bad == 0
            if bad:
                row["note"] = f"{row['note']}; not usable as a predictor: degenerate or not computed on {bad} of {len(aligned)} pairs"
            out.append(row)
    return out
