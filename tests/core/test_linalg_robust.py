"""No numeric path relies on one machine's LAPACK converging: CCA/SVCCA and the CCA
baseline work from the SVD of the centred data with a rank cut, a failing driver falls back and
is recorded, and a metric in a degenerate regime (rank kept ~ rows) is flagged."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from alignkit import linalg
from alignkit.evaluate.baselines import CCA
from alignkit.linalg import cca_fit
from alignkit.similarity import cca, score_pair, svcca


def rank_deficient(n: int = 60, rank: int = 10, dx: int = 500, dy: int = 400, seed: int = 0):
    """Wide features of low rank (the covariance is 500 x 500 of rank 10: the case where eigh failed)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, rank))
    w = z + 0.7 * rng.standard_normal((n, rank))
    return z, w, z @ rng.standard_normal((rank, dx)), w @ rng.standard_normal((rank, dy))


def fail(*args, **kwargs):
    raise np.linalg.LinAlgError("SVD did not converge (simulated)")


def torch_fail(*args, **kwargs):
    raise torch.linalg.LinAlgError("linalg: the algorithm failed to converge (simulated)")


def test_wide_low_rank_features_give_the_cca_of_their_span():
    z, w, x, y = rank_deficient()
    # x spans exactly the columns of z and y those of w, so every CCA score must equal the small problem's
    assert cca(x, y) == pytest.approx(cca(z, w), rel=1e-7)
    assert svcca(x, y, share=1.0) == pytest.approx(cca(z, w), rel=1e-7)
    wx, wy, corr = cca_fit(x - x.mean(0), y - y.mean(0), dim=400, reg=0.0)
    assert len(corr) == 10  # the rank cut, not 400 directions of which 390 divide by zero
    zc, wc = z - z.mean(0), w - w.mean(0)
    qz, qw = np.linalg.qr(zc)[0], np.linalg.qr(wc)[0]
    np.testing.assert_allclose(corr, np.linalg.svd(qz.T @ qw, compute_uv=False), atol=1e-7)
    assert CCA(reg=1e-3).fit(x, y).dim_used == 10


def test_svd_falls_back_to_gesvd_and_records_it(monkeypatch):
    a = np.random.default_rng(1).standard_normal((30, 8))
    monkeypatch.setattr(np.linalg, "svd", fail)
    with linalg.recording() as rec:
        u, s, vt = linalg.svd(a)
    np.testing.assert_allclose((u * s) @ vt, a, atol=1e-10)
    assert "gesvd" in rec.note_text()


def test_every_driver_failing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(np.linalg, "svd", fail)
    monkeypatch.setattr(scipy.linalg, "svd", fail)
    with pytest.raises(linalg.NumericalError, match="30 x 8 matrix failed with every LAPACK driver"):
        linalg.svd(np.ones((30, 8)))


@pytest.mark.slow
def test_cca_metrics_survive_a_lapack_that_fails_to_converge(monkeypatch):
    """torch's eigh and SVD both failing (as MKL's did on an AMD CPU) must not stop SVCCA or CCA."""
    _, _, x, y = rank_deficient(n=120)
    expected = {"svcca": svcca(x, y, share=0.95), "cca": cca(x, y)}
    for name in ("eigh", "svd", "svdvals"):
        monkeypatch.setattr(torch.linalg, name, torch_fail)
    rows = {r["metric"]: r for r in score_pair(x, y, ["svcca", "cca"], bootstrap=3, permutations=3,
                                               metric_options={"svcca": {"share": 0.95}})}
    for name, value in expected.items():
        assert rows[name]["raw"] == pytest.approx(value, rel=1e-7)
        assert "torch.linalg.svd failed" in rows[name]["note"] and "numpy/scipy" in rows[name]["note"]


def test_scores_record_the_rank_they_kept_and_flag_the_degenerate_regime():
    rng = np.random.default_rng(2)
    for n, degenerate in ((80, True), (400, False)):
        z = rng.standard_normal((n, 3))
        x = np.hstack([z, rng.standard_normal((n, 27))])
        y = np.hstack([z, rng.standard_normal((n, 27))]) @ rng.standard_normal((30, 30))
        rows = {r["metric"]: r for r in score_pair(x, y, ["linear_cka", "svcca"], bootstrap=0, permutations=0)}
        kept = rows["svcca"]["retained_rank"]
        assert 20 <= kept <= 30  # share 0.99 of 30 near-isotropic directions keeps most of them
        assert rows["svcca"]["degenerate"] is degenerate  # 29 of 80 rows is degenerate, 29 of 400 is not
        assert rows["linear_cka"]["retained_rank"] is None and rows["linear_cka"]["degenerate"] is False
        assert rows["svcca"]["note"] == ""  # nothing fell back


def test_bench_correlation_marks_a_degenerate_metric_as_no_predictor():
    from alignkit.bench.correlation import correlation_rows

    ranked, rows = [], []
    for i in range(5):
        e = {"vision": f"v{i}", "text": "t", "linear_cka": 0.1 * i, "linear_cka_cal": 0.1 * i,
             "svcca": 0.9 - 0.1 * i, "svcca_cal": 0.9 - 0.1 * i, "svcca_degenerate": i == 3}
        ranked.append(e)
        rows.append({"section": "zero-shot", "model": "aligned", "headline": True, "vision": f"v{i}", "text": "t",
                     "value": 0.2 + 0.1 * i})
    out = {(r["metric"], r["variant"]): r for r in correlation_rows(ranked, rows, ("linear_cka", "svcca"))}
    assert out[("linear_cka", "raw")]["usable"] is True
    assert out[("svcca", "calibrated")]["usable"] is False
    assert "degenerate or not computed on 1 of 5 pairs" in out[("svcca", "calibrated")]["note"]
