"""How well does a similarity score predict zero-shot accuracy across encoder pairs?

Rank correlations (Spearman's rho, Kendall's tau) between each metric's score and the
aligned models' accuracy, with the number of pairs, because with a handful of pairs a
correlation says little: 2 points always correlate perfectly, and with 4 pairs even a
perfect ordering is not significant at 5% (tau's smallest two-sided p is 0.083).
"""

from __future__ import annotations

import math
from typing import Sequence

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


def rank_correlation(scores: Sequence[float], accuracy: Sequence[float]) -> dict[str, float | int | str]:
    """Spearman and Kendall (with p-values) over the pairs where both values are finite."""
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
    return out
