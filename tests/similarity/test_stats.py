"""Bootstrap intervals, permutation null, calibration and p-values of `score_pair`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alignkit.similarity import (
    SimilarityInputError,
    UnknownMetricError,
    calibrate,
    measure,
    permutation_p_value,
    score_pair,
)
from alignkit.similarity.stats import bootstrap_interval, draw_resamples

FIELDS = {
    "metric", "raw", "calibrated", "ci_low", "ci_high", "calibrated_ci_low", "calibrated_ci_high", "ci_method",
    "p_value", "null_mean", "null_std", "n", "bootstrap", "permutations", "retained_rank", "degenerate", "note", "resampled",
}
FAST = ["linear_cka", "unbiased_cka", "mutual_knn", "svcca"]


def paired(n: int = 150, seed: int = 0, signal: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 5))
    x = z @ rng.standard_normal((5, 12)) * signal + rng.standard_normal((n, 12))
    y = z @ rng.standard_normal((5, 20)) * signal + rng.standard_normal((n, 20))
    return x, y


def by_metric(rows):
    return {r["metric"]: r for r in rows}


def test_rows_are_tidy_and_consistent():
    x, y = paired()
    rows = score_pair(x, y, FAST, bootstrap=20, permutations=20, seed=1)
    assert [r["metric"] for r in rows] == FAST
    for r in rows:
        assert set(r) == FIELDS
        assert r["raw"] == pytest.approx(measure(r["metric"], x, y), rel=1e-7)
        assert r["ci_low"] <= r["raw"] <= r["ci_high"]
        assert r["calibrated_ci_low"] <= r["calibrated"] <= r["calibrated_ci_high"]
        assert r["calibrated"] == pytest.approx(calibrate(r["raw"], r["null_mean"]))
        assert r["n"] == 150 and r["bootstrap"] == 20 and r["permutations"] == 20
    assert by_metric(rows)["mutual_knn"]["ci_method"] == "half-sample"
    assert by_metric(rows)["linear_cka"]["ci_method"] == "bootstrap"


def test_seeded_and_reproducible_and_independent_of_the_metric_list():
    x, y = paired()
    a = score_pair(x, y, FAST, bootstrap=15, permutations=15, seed=7)
    assert score_pair(x, y, FAST, bootstrap=15, permutations=15, seed=7) == a
    other = score_pair(x, y, FAST, bootstrap=15, permutations=15, seed=8)
    assert [r["ci_low"] for r in other] != [r["ci_low"] for r in a]
    alone = score_pair(x, y, ["mutual_knn"], bootstrap=15, permutations=15, seed=7)
    assert alone[0] == by_metric(a)["mutual_knn"]
    as_torch = score_pair(torch.from_numpy(x), torch.from_numpy(y), FAST, bootstrap=15, permutations=15, seed=7)
    assert as_torch == a


def test_aligned_pair_is_significant_and_calibrated_high():
    x, y = paired(signal=2.0)
    for r in score_pair(x, y, FAST, bootstrap=10, permutations=30):
        assert r["p_value"] == pytest.approx(1 / 31)  # the smallest p-value 30 permutations allow
        assert r["calibrated"] > 0.2 and r["raw"] > r["null_mean"] + 5 * r["null_std"]


def test_unrelated_pair_is_calibrated_to_about_zero():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((150, 12)), rng.standard_normal((150, 20))
    for r in score_pair(x, y, FAST, bootstrap=10, permutations=40, seed=3):
        assert r["p_value"] > 0.01
        spread = 4 * r["null_std"] / abs(1 - r["null_mean"])
        assert abs(r["calibrated"]) < spread, r


def test_calibration_removes_width_inflation():
    """Raw linear CKA between independent spaces grows with width; the calibrated score does not."""
    rng = np.random.default_rng(0)
    rows = {}
    for d in (4, 256):
        x, y = rng.standard_normal((100, d)), rng.standard_normal((100, d))
        rows[d] = score_pair(x, y, ["linear_cka"], bootstrap=0, permutations=40, seed=1)[0]
    assert rows[256]["raw"] > 3 * rows[4]["raw"]
    assert rows[256]["null_mean"] > 3 * rows[4]["null_mean"]
    for r in rows.values():
        assert abs(r["calibrated"]) < 4 * r["null_std"] / (1 - r["null_mean"])


def test_interval_narrows_with_more_pairs():
    widths = []
    for n in (60, 600):
        x, y = paired(n=n, seed=2)
        r = score_pair(x, y, ["linear_cka", "mutual_knn"], bootstrap=40, permutations=0, seed=0)
        widths.append([row["ci_high"] - row["ci_low"] for row in r])
        assert all(math.isnan(row["p_value"]) and math.isnan(row["calibrated"]) for row in r)
    assert all(big > 1.5 * small for big, small in zip(widths[0], widths[1]))


def test_resamples_are_seeded_and_half_samples_have_distinct_rows():
    a = draw_resamples(50, bootstrap=5, permutations=4, seed=0)
    b = draw_resamples(50, bootstrap=5, permutations=4, seed=0)
    assert torch.equal(a.with_replacement, b.with_replacement) and torch.equal(a.permutations, b.permutations)
    assert a.half_samples.shape == (5, 25)
    assert all(len(set(row.tolist())) == 25 for row in a.half_samples)
    assert all(sorted(row.tolist()) == list(range(50)) for row in a.permutations)
    assert any(len(set(row.tolist())) < 50 for row in a.with_replacement)


def test_small_pure_functions():
    assert calibrate(0.3, 0.3) == 0.0
    assert calibrate(1.0, 0.3) == pytest.approx(1.0)
    assert calibrate(0.65, 0.3) == pytest.approx(0.5)
    assert math.isnan(calibrate(1.0, 1.0))
    assert permutation_p_value(0.25, np.array([0.1, 0.2, 0.3])) == pytest.approx(2 / 4)
    assert permutation_p_value(0.5, np.array([0.1, 0.2, 0.3])) == pytest.approx(1 / 4)
    scores = np.array([0.4, 0.5, 0.6, 0.5])
    lo, hi = bootstrap_interval(0.3, scores, confidence=0.5)
    assert lo < 0.3 < hi and hi - lo == pytest.approx(np.quantile(scores, 0.75) - np.quantile(scores, 0.25))


def test_bad_requests_are_clear_errors():
    x, y = paired()
    with pytest.raises(UnknownMetricError):
        score_pair(x, y, ["nope"])
    with pytest.raises(SimilarityInputError, match="not among"):
        score_pair(x, y, ["linear_cka"], metric_options={"mutual_knn": {"k": 5}})
    with pytest.raises(SimilarityInputError, match="no option"):
        score_pair(x, y, ["mutual_knn"], metric_options={"mutual_knn": {"kk": 5}})
    with pytest.raises(SimilarityInputError, match="paired"):
        score_pair(x, y[:-1], ["linear_cka"])
    x[0, 0] = np.nan
    with pytest.raises(SimilarityInputError, match="NaN"):
        score_pair(x, y, ["linear_cka"], bootstrap=2, permutations=2)


def test_metric_options_reach_the_metric():
    x, y = paired()
    rows = score_pair(x, y, ["mutual_knn"], bootstrap=0, permutations=0, metric_options={"mutual_knn": {"k": 3}})
    assert rows[0]["raw"] == pytest.approx(measure("mutual_knn", x, y, k=3))
    assert rows[0]["raw"] != pytest.approx(measure("mutual_knn", x, y))


def test_paired_gap_of_two_pairs_is_narrower_than_their_separate_intervals():
    """Two pairs scored on the same resamples: their difference's interval uses the pairing, so a
    gap far smaller than either interval's width can still be resolved (or called a tie)."""
    from alignkit.similarity.stats import paired_gap

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16))
    y = x @ rng.normal(size=(16, 12)) + 0.8 * rng.normal(size=(300, 12))
    noisier = y + 0.3 * rng.normal(size=y.shape)
    a, = score_pair(x, y, ["linear_cka"], bootstrap=60, permutations=5, seed=3)
    b, = score_pair(x, noisier, ["linear_cka"], bootstrap=60, permutations=5, seed=3)
    diff, lo, hi = paired_gap(a["raw"], a["resampled"], b["raw"], b["resampled"])
    assert diff == pytest.approx(a["raw"] - b["raw"]) and lo <= diff <= hi
    assert hi - lo < (a["ci_high"] - a["ci_low"]) + (b["ci_high"] - b["ci_low"])
    same = paired_gap(a["raw"], a["resampled"], a["raw"], a["resampled"])
    assert same == (0.0, 0.0, 0.0)  # a pair against itself: no difference on any resample
    with pytest.raises(SimilarityInputError):
        paired_gap(a["raw"], a["resampled"], b["raw"], b["resampled"][:10])
