"""Uncertainty and calibration for similarity scores: bootstrap intervals and a permutation null.

Why a null: Gröger, Wen & Brbić (2026, "Revisiting the Platonic Representation Hypothesis:
An Aristotelian View") show that raw similarity scores grow with model width and depth even
between unrelated representations, because a wide space scores well above zero against a
shuffled partner. Comparing encoders of different widths by raw score therefore ranks
width, not alignment. We measure each metric again with the pairing of rows broken (rows
of Y permuted) and report

    calibrated = (raw - null_mean) / (1 - null_mean)

which is 0 at the shuffled-pairing level and 1 at perfect alignment, on the metric's own
scale (every metric here has maximum 1). We prefer it to a z-score, which grows with the
number of probe pairs and so mixes evidence with effect size; the p-value carries the
evidence instead: (1 + #{null >= raw}) / (1 + permutations), never zero. (The paper's own
score subtracts a null critical value rather than the null mean.)

Intervals: rows are resampled with replacement (the bootstrap over pairs) for metrics that
accept duplicated rows. For metrics that need distinct rows (k-NN, unbiased HSIC, the
held-out probe; see `Metric.distinct_rows`) a duplicate would count as its own neighbour
or leak across the probe split, so we draw half-samples of n // 2 distinct rows instead;
for a mean-like statistic Var(half-sample - full) = Var(full), which is what makes
half-sampling a substitute for the bootstrap. In both cases the interval is the raw score
plus the percentiles of the resampled scores around their own mean. The re-centring is
needed, not cosmetic: duplicated rows shrink the effective sample and push biased
estimators up (at n=400, d=32/48, linear CKA 0.752 had a bootstrap mean of 0.767, and the
plain percentile interval [0.758, 0.778] excluded the raw score), and k-NN scores at n // 2
sit at another level than at n. Checked by simulation (`python benchmarks/bench_similarity.py
--coverage-reps 200 --skip-speed`, n=200, 200 datasets): 95% intervals covered E[score at n] 93-96%
of the time for linear/unbiased CKA and SVCCA; the half-sample intervals of mutual k-NN
and CKNNA are conservative (99%, about 1.3x the true spread).

All randomness comes from one seed, and every metric in a call sees the same resamples
and permutations, so results do not depend on which other metrics were asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from alignkit.arrays import as_tensor_matrix
from alignkit.linalg import recording
from alignkit.similarity.cca import DEGENERATE_RANK
from alignkit.similarity.inputs import ArrayLike, Device, SimilarityInputError, compute_device
from alignkit.similarity.metrics import Metric, get_metric

DEFAULT_METRICS = ("linear_cka", "unbiased_cka", "mutual_knn", "cknna", "svcca", "alignment_probe")


@dataclass(frozen=True)
class Resamples:
    """Row index sets shared by all metrics of one `score_pair` call."""

    with_replacement: torch.Tensor  # (bootstrap, n)
    half_samples: torch.Tensor  # (bootstrap, n // 2), distinct rows
    permutations: torch.Tensor  # (permutations, n)


def draw_resamples(n: int, *, bootstrap: int, permutations: int, seed: int) -> Resamples:
    """Seeded bootstrap rows, half-samples and pairing permutations for n rows (CPU generator, so
    the same seed gives the same draws on any device)."""
    g = torch.Generator().manual_seed(seed)

    def stacked(draw, count: int, width: int) -> torch.Tensor:
        return torch.stack([draw() for _ in range(count)]) if count else torch.empty(0, width, dtype=torch.long)

    return Resamples(
        with_replacement=torch.randint(n, (bootstrap, n), generator=g),
        half_samples=stacked(lambda: torch.randperm(n, generator=g)[: n // 2], bootstrap, n // 2),
        permutations=stacked(lambda: torch.randperm(n, generator=g), permutations, n),
    )


def calibrate(raw: float, null_mean: float) -> float:
    """(raw - null_mean) / (1 - null_mean): 0 at the shuffled-pairing level, 1 at the maximum.

    NaN when the null already sits at the maximum (the metric cannot tell pairings apart).
    """
    span = 1.0 - null_mean
    return (raw - null_mean) / span if span > 1e-12 else math.nan


def permutation_p_value(raw: float, null: np.ndarray) -> float:
    """One-sided p-value with the +1 correction: (1 + #{null >= raw}) / (1 + len(null))."""
    return (1.0 + float(np.sum(null >= raw))) / (1.0 + len(null))


def bootstrap_interval(raw: float, scores: np.ndarray, *, confidence: float) -> tuple[float, float]:
    """raw + the central ``confidence`` percentiles of the resampled scores minus their mean (module doc)."""
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(scores - scores.mean(), [tail, 1.0 - tail])
    return float(raw + lo), float(raw + hi)


def paired_gap(raw_a: float, resampled_a: Any, raw_b: float, resampled_b: Any, *,
               confidence: float = 0.95) -> tuple[float, float, float]:
    """The difference ``a - b`` of two pairs' scores with a paired interval: both were scored on
    the same resamples (same seed, same probe rows), so the per-resample differences carry the
    pairing, and their spread is what the difference itself could do (re-centred as above)."""
    a, b = np.asarray(resampled_a, dtype=float), np.asarray(resampled_b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise SimilarityInputError(f"paired_gap needs scores on the same resamples, got {a.size} and {b.size}")
    lo, hi = bootstrap_interval(raw_a - raw_b, a - b, confidence=confidence)
    return raw_a - raw_b, lo, hi


def _resampled_scores(
    metric: Metric, X: torch.Tensor, Y: torch.Tensor, rows: torch.Tensor, options: Mapping[str, Any]
) -> np.ndarray:
    """The metric on each resample (the same rows taken from X and Y)."""
    out = np.empty(len(rows))
    for i, idx in enumerate(rows.to(X.device)):
        try:
            out[i] = metric.fn(X[idx], Y[idx], **options)
        except SimilarityInputError as e:
            raise type(e)(f"{metric.name} failed on resample {i}: {e}") from e
    return out


def _null_scores(
    metric: Metric, X: torch.Tensor, Y: torch.Tensor, perms: torch.Tensor, options: Mapping[str, Any]
) -> np.ndarray:
    """The metric with the pairing broken by each permutation of Y's rows.

    Uses the metric's scorer when it has one, so per-side work is done once.
    """
    score = metric.scorer(X, Y, **options) if metric.scorer else lambda p: metric.fn(X, Y[p], **options)
    return np.array([score(p) for p in perms.to(X.device)], dtype=np.float64)


def score_pair(
    x: ArrayLike,
    y: ArrayLike,
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    bootstrap: int = 100,
    permutations: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
    device: Device = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Raw score, bootstrap interval, permutation null, calibrated score and p-value per metric.

    Returns one tidy row per metric: metric, raw, calibrated, ci_low, ci_high,
    calibrated_ci_low, calibrated_ci_high (the interval through the same calibration),
    ci_method, p_value, null_mean, null_std, n, bootstrap, permutations, retained_rank (the
    most directions a rank-cutting metric kept on one side, else None), degenerate (True when
    retained_rank >= DEGENERATE_RANK x n: the score then mostly measures rank / n), note
    (numeric fallbacks taken, '' when none) and resampled (the raw score on each resample, for
    paired comparisons of two pairs, see ``paired_gap``). ``metric_options``
    maps a metric name to its keyword options, e.g. ``{"mutual_knn": {"k": 20}}``.
    With bootstrap=0 or permutations=0 the matching fields are NaN.
    """
    names = list(metrics)
    chosen = [get_metric(m) for m in names]
    options = dict(metric_options or {})
    for name, opts in options.items():
        if name not in names:
            raise SimilarityInputError(f"options given for {name}, which is not among the metrics {names}")
        get_metric(name).check_options(opts)
    if bootstrap < 0 or permutations < 0 or not 0 < confidence < 1:
        raise SimilarityInputError("bootstrap and permutations must be >= 0 and confidence in (0, 1)")
    dev = compute_device(x, y, device=device)
    X = as_tensor_matrix(x, name="X", device=dev, dtype=torch.float64, error=SimilarityInputError)
    Y = as_tensor_matrix(y, name="Y", device=dev, dtype=torch.float64, error=SimilarityInputError)
    if X.shape[0] != Y.shape[0]:
        raise SimilarityInputError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}; rows must be paired one to one")
    n = X.shape[0]
    draws = draw_resamples(n, bootstrap=bootstrap, permutations=permutations, seed=seed)
    rows = []
    for metric in chosen:
        opts = dict(options.get(metric.name, {}))
        with recording() as rec:
            raw = float(metric.fn(X, Y, **opts))
            ranks = list(rec.ranks)  # the full-data call's, not the resamples'
            boot_rows = draws.half_samples if metric.distinct_rows else draws.with_replacement
            boot = _resampled_scores(metric, X, Y, boot_rows, opts)
            null = _null_scores(metric, X, Y, draws.permutations, opts)
        rank = max(r for r, _ in ranks) if ranks else None
        ci = bootstrap_interval(raw, boot, confidence=confidence) if bootstrap else (math.nan, math.nan)
        null_mean = float(null.mean()) if permutations else math.nan
        rows.append(
            {
                "metric": metric.name,
                "raw": raw,
                "calibrated": calibrate(raw, null_mean),
                "ci_low": ci[0],
                "ci_high": ci[1],
                "calibrated_ci_low": calibrate(ci[0], null_mean),
                "calibrated_ci_high": calibrate(ci[1], null_mean),
                "ci_method": "half-sample" if metric.distinct_rows else "bootstrap",
                "p_value": permutation_p_value(raw, null) if permutations else math.nan,
                "null_mean": null_mean,
                "null_std": float(null.std(ddof=1)) if permutations > 1 else math.nan,
                "n": n,
                "bootstrap": bootstrap,
                "permutations": permutations,
                "retained_rank": rank,
                "degenerate": rank is not None and rank >= DEGENERATE_RANK * n,
                "note": rec.note_text(),
                # the score on each resample: every pair scored with the same seed and probe rows sees
                # the same resamples, so two pairs' scores can be compared resample by resample
                "resampled": [float(v) for v in boot],
            }
        )
    return rows
