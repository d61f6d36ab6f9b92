"""Training-free baselines recover known maps and beat chance on correlated synthetic pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from alignkit.errors import AlignkitError
from alignkit.evaluate.baselines import (
    ASIF,
    CCA,
    Procrustes,
    RidgeMap,
    make_baseline,
    orthogonal_procrustes,
)
from alignkit.linalg import cca_fit, ridge_fit
from alignkit.evaluate.retrieval import retrieval_chance, retrieval_metrics


def test_orthogonal_procrustes_recovers_a_rotation():
    rng = np.random.default_rng(0)
    r = ortho_group.rvs(12, random_state=1)
    a = rng.normal(size=(300, 12))
    np.testing.assert_allclose(orthogonal_procrustes(a, a @ r), r, atol=1e-8)


@pytest.mark.parametrize("text_dim", [12, 20])
def test_procrustes_baseline_maps_rotated_features_onto_each_other(text_dim):
    rng = np.random.default_rng(1)
    q = ortho_group.rvs(text_dim, random_state=2)[:12]  # (12, text_dim) orthonormal rows
    x = rng.normal(size=(400, 12)) * np.linspace(1, 3, 12)
    y = x @ q + 5.0  # rotated (and widened) plus an offset that centring must remove
    model = Procrustes().fit(x, y)
    assert model.dim_used == 12
    xt = rng.normal(size=(50, 12)) * np.linspace(1, 3, 12)
    cos = (model.encode_image_features(xt) * model.encode_text_features(xt @ q + 5.0)).sum(1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-5)


def test_ridge_recovers_a_known_linear_map():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(10, 6))
    x = rng.normal(size=(2000, 10))
    y = x @ w + rng.normal(scale=1e-3, size=(2000, 6))
    w_hat, alpha = ridge_fit(x, y, alpha=1e-8)
    np.testing.assert_allclose(w_hat, w, atol=1e-3)
    model = RidgeMap().fit(x + 3.0, y - 1.0)  # offsets handled by centring
    np.testing.assert_allclose(model._w, w, atol=1e-2)
    assert model.alpha_used <= 1e-3  # GCV sees clean data and barely penalises


def test_ridge_gcv_penalises_pure_noise_heavily():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(100, 50)), rng.normal(size=(100, 5))
    _, alpha = ridge_fit(x - x.mean(0), y - y.mean(0))
    assert alpha >= 10


def test_cca_correlations_match_a_qr_reference():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(800, 3))
    x = np.hstack([z, rng.normal(size=(800, 5))]) @ rng.normal(size=(8, 8))
    y = np.hstack([z + rng.normal(scale=0.5, size=(800, 3)), rng.normal(size=(800, 3))]) @ rng.normal(size=(6, 6))
    xc, yc = x - x.mean(0), y - y.mean(0)
    # reference: canonical correlations are the singular values of Qx^T Qy (QR of each side)
    qx, _ = np.linalg.qr(xc)
    qy, _ = np.linalg.qr(yc)
    reference = np.linalg.svd(qx.T @ qy, compute_uv=False)
    wx, wy, corr = cca_fit(xc, yc, dim=6, reg=0.0)
    np.testing.assert_allclose(corr, reference, atol=1e-7)
    # and they really are the correlations of the projected training data, with unit variance
    px, py = xc @ wx, yc @ wy
    direct = [np.corrcoef(px[:, i], py[:, i])[0, 1] for i in range(6)]
    np.testing.assert_allclose(direct, reference, atol=1e-7)
    np.testing.assert_allclose(np.cov(px.T), np.eye(6), atol=1e-7)
    assert CCA(reg=0.0).fit(x, y).correlations_ == pytest.approx(reference, abs=1e-7)


def correlated_pairs(n: int, seed: int):
    """Images and captions that share a latent concept, through different nonlinear maps."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(16, 48)), rng.normal(size=(16, 32))
    z = rng.normal(size=(n, 16))
    x = np.maximum(z @ a, 0) + rng.normal(scale=0.3, size=(n, 48))
    y = np.tanh(z @ b) + rng.normal(scale=0.3, size=(n, 32))
    return x, y


@pytest.mark.parametrize("name", ["asif", "asif-centred", "procrustes", "ridge", "cca"])
def test_every_baseline_beats_chance_on_held_out_pairs(name):
    x, y = correlated_pairs(1500, seed=6)
    model = make_baseline(name).fit(x[:1200], y[:1200])
    img, txt = model.encode_image_features(x[1200:]), model.encode_text_features(y[1200:])
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1.0, atol=1e-5)
    owner = np.arange(300)
    got = retrieval_metrics(img, txt, owner)
    chance = retrieval_chance(owner)
    assert got["i2t_R@1"] > 10 * chance["i2t_R@1"]
    assert got["t2i_R@5"] > 5 * chance["t2i_R@5"]


def test_asif_keeps_top_k_and_ignores_unrelated_anchors():
    xa, ya = correlated_pairs(600, seed=7)
    x, y, xt, yt = xa[:400], ya[:400], xa[400:], ya[400:]
    model = ASIF(k=10, power=2.0).fit(x, y)
    rep = model.encode_image_features(x[:5])
    assert ((rep > 0).sum(axis=1) <= 10).all()
    # with shuffled anchors the pairing is lost: retrieval falls to about chance
    shuffled = ASIF(k=10).fit(x, y[np.random.default_rng(0).permutation(400)])
    good = retrieval_metrics(model.encode_image_features(xt), model.encode_text_features(yt), np.arange(200))
    bad = retrieval_metrics(shuffled.encode_image_features(xt), shuffled.encode_text_features(yt), np.arange(200))
    assert good["i2t_R@5"] > 0.3 and bad["i2t_R@5"] < 0.1


def test_baseline_errors_are_clear():
    with pytest.raises(AlignkitError, match="not fitted"):
        RidgeMap().encode_image_features(np.ones((2, 3)))
    with pytest.raises(AlignkitError, match="one row per pair"):
        CCA().fit(np.ones((3, 2)), np.ones((4, 2)))
    model = Procrustes().fit(np.random.default_rng(0).normal(size=(10, 4)), np.random.default_rng(1).normal(size=(10, 3)))
    with pytest.raises(AlignkitError, match="fitted on 4-d image"):
        model.encode_image_features(np.ones((2, 5)))
    with pytest.raises(AlignkitError, match="unknown baseline"):
        make_baseline("magic")
    assert model.describe() == {"name": "procrustes", "dim": None, "dim_used": 3, "image_dim": 4, "text_dim": 3}
