"""Similarity metrics against naive n x n implementations written from their definitions,
plus invariances and degenerate input."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from alignkit.similarity import (
    METRICS,
    ConstantFeaturesError,
    NonFiniteFeaturesError,
    SimilarityInputError,
    TooFewRowsError,
    UnknownMetricError,
    measure,
)
from alignkit.similarity.cka import linear_cka, rbf_cka, unbiased_cka
from alignkit.similarity.cca import cca, svcca
from alignkit.similarity.neighbors import cknna, cycle_knn, mutual_knn
from alignkit.similarity.probe import alignment_probe, ridge_retrieval_accuracy

N, D1, D2 = 120, 10, 14


def paired(n: int = N, d1: int = D1, d2: int = D2, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two views of a shared latent, each with its own noise, widths d1 != d2, off-centre."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 6))
    x = z @ rng.standard_normal((6, d1)) + noise * rng.standard_normal((n, d1)) + 3.0
    y = np.tanh(z @ rng.standard_normal((6, d2))) + noise * rng.standard_normal((n, d2)) - 1.0
    return x, y


def orthogonal(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


# ---------------------------------------------------------------- naive definitions


def hsic_biased(k: np.ndarray, l_: np.ndarray) -> float:
    n = k.shape[0]
    h = np.eye(n) - 1.0 / n
    return float(np.trace(k @ h @ l_ @ h))


def hsic_unbiased(k: np.ndarray, l_: np.ndarray) -> float:
    """Song et al. (2012), eq. 5, on the n x n kernels."""
    n = k.shape[0]
    kt, lt = k.copy(), l_.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    value = np.sum(kt * lt.T) + kt.sum() * lt.sum() / ((n - 1) * (n - 2)) - 2.0 * np.sum(kt @ lt) / (n - 2)
    return float(value / (n * (n - 3)))


def cka_from(k: np.ndarray, l_: np.ndarray, hsic) -> float:
    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def naive_linear_cka(x, y):
    return cka_from(x @ x.T, y @ y.T, hsic_biased)


def naive_unbiased_cka(x, y):
    return cka_from(x @ x.T, y @ y.T, hsic_unbiased)  # uncentred on purpose: the estimator ignores centring


def rbf_kernel(m: np.ndarray, scale: float) -> np.ndarray:
    d = ((m[:, None, :] - m[None, :, :]) ** 2).sum(-1)
    med = np.median(d[np.triu_indices(len(m), 1)])
    return np.exp(-d / (2 * scale**2 * med))


def naive_rbf_cka(x, y, scale=1.0):
    return cka_from(rbf_kernel(x, scale), rbf_kernel(y, scale), hsic_biased)


def cosine(m: np.ndarray) -> np.ndarray:
    u = m / np.linalg.norm(m, axis=1, keepdims=True)
    return u @ u.T


def knn_sets(m: np.ndarray, k: int) -> list[set[int]]:
    s = cosine(m)
    np.fill_diagonal(s, -np.inf)
    return [set(np.argsort(-row)[:k].tolist()) for row in s]


def naive_mutual_knn(x, y, k):
    a, b = knn_sets(x, k), knn_sets(y, k)
    return float(np.mean([len(a[i] & b[i]) / k for i in range(len(a))]))


def naive_cycle_knn(x, y, k):
    a, b = knn_sets(x, k), knn_sets(y, k)
    return float(np.mean([any(i in a[j] for j in b[i]) for i in range(len(a))]))


def naive_cknna(x, y, k):
    kx, ky = cosine(x), cosine(y)
    n = len(x)

    def mask(m):
        out = np.zeros((n, n))
        for i, s in enumerate(knn_sets(m, k)):
            out[i, list(s)] = 1.0
        return out

    mx, my = mask(x), mask(y)

    def sim(ka, kb, m):
        return hsic_unbiased(m * ka, m * kb)

    return sim(kx, ky, mx * my) / np.sqrt(sim(kx, kx, mx) * sim(ky, ky, my))


def top_components(m: np.ndarray, share: float) -> np.ndarray:
    mc = m - m.mean(0)
    u, s, _ = np.linalg.svd(mc, full_matrices=False)
    var = s**2 / np.sum(s**2)
    keep = int(np.searchsorted(np.cumsum(var), share - 1e-12) + 1) if share < 1 else int(np.sum(s > 1e-8 * s[0]))
    return u[:, :keep] * s[:keep]


def naive_mean_cc(x, y, share):
    """Mean canonical correlation via orthonormal bases (Bjorck & Golub), another route than ours."""
    qx, _ = np.linalg.qr(top_components(x, share))
    qy, _ = np.linalg.qr(top_components(y, share))
    return float(np.linalg.svd(qx.T @ qy, compute_uv=False).mean())


def naive_retrieval(xtr, ytr, xte, yte, ridge):
    mx, my = xtr.mean(0), ytr.mean(0)
    xc = xtr - mx
    g = xc.T @ xc
    w = np.linalg.solve(g + ridge * np.trace(g) / g.shape[0] * np.eye(g.shape[0]), xc.T @ (ytr - my))
    p = (xte - mx) @ w + my
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    c = yte / np.linalg.norm(yte, axis=1, keepdims=True)
    return float(np.mean(np.argmax(p @ c.T, axis=1) == np.arange(len(yte))))


# ---------------------------------------------------------------- agreement with the definitions


@pytest.mark.parametrize(
    "ours, naive",
    [
        (linear_cka, naive_linear_cka),
        (unbiased_cka, naive_unbiased_cka),
        (rbf_cka, naive_rbf_cka),
        (lambda x, y: rbf_cka(x, y, sigma_scale=0.5), lambda x, y: naive_rbf_cka(x, y, 0.5)),
        (lambda x, y: mutual_knn(x, y, k=7), lambda x, y: naive_mutual_knn(x, y, 7)),
        (lambda x, y: cycle_knn(x, y, k=3), lambda x, y: naive_cycle_knn(x, y, 3)),
        (lambda x, y: cknna(x, y, k=9), lambda x, y: naive_cknna(x, y, 9)),
        (svcca, lambda x, y: naive_mean_cc(x, y, 0.99)),
        (lambda x, y: svcca(x, y, share=0.8), lambda x, y: naive_mean_cc(x, y, 0.8)),
        (cca, lambda x, y: naive_mean_cc(x, y, 1.0)),
    ],
    ids=["linear_cka", "unbiased_cka", "rbf_cka", "rbf_cka_s0.5", "mutual_knn", "cycle_knn", "cknna", "svcca",
         "svcca_0.8", "cca"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_metric_matches_naive_definition(ours, naive, seed):
    x, y = paired(seed=seed)
    expected = naive(x, y)
    assert 0.02 < abs(expected) < 0.999  # informative data: neither trivial nor saturated
    assert ours(x, y) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_probe_core_matches_naive_ridge_retrieval():
    x, y = paired(n=200, noise=0.3)
    xtr, ytr, xte, yte = x[:100], y[:100], x[100:], y[100:]
    expected = naive_retrieval(xtr, ytr, xte, yte, 1e-3)
    assert 0.05 < expected < 0.95
    assert ridge_retrieval_accuracy(xtr, ytr, xte, yte, ridge=1e-3) == pytest.approx(expected, abs=1e-12)


def test_chunking_does_not_change_results():
    x, y = paired()
    # chunks change the order of float64 sums, so only rounding may differ; how much depends on the
    # BLAS build and thread count (2e-9 relative seen on an AMD EPYC), hence 1e-6, far below any real change
    for fn in (mutual_knn, cycle_knn, cknna, rbf_cka):
        assert fn(x, y, chunk_size=7) == pytest.approx(fn(x, y, chunk_size=4096), rel=1e-6)


def test_rbf_median_from_row_subset_stays_close_to_exact():
    x, y = paired(n=300)
    exact = rbf_cka(x, y)
    assert exact == pytest.approx(naive_rbf_cka(x, y), rel=1e-5)
    estimated = rbf_cka(x, y, median_rows=100)
    assert estimated != exact and estimated == pytest.approx(exact, abs=0.02)


def test_unbiased_cka_removes_the_width_bias_of_linear_cka():
    rng = np.random.default_rng(3)
    biased, unbiased = [], []
    for _ in range(5):
        x, y = rng.standard_normal((40, 200)), rng.standard_normal((40, 300))
        biased.append(linear_cka(x, y))
        unbiased.append(unbiased_cka(x, y))
    assert np.mean(biased) > 0.5  # independent but wide: plain CKA is inflated
    assert abs(np.mean(unbiased)) < 0.05


# ---------------------------------------------------------------- invariances

ALL = list(METRICS)
IDENTITY_IS_ONE = ["linear_cka", "unbiased_cka", "rbf_cka", "mutual_knn", "cknna", "svcca", "cca"]


@pytest.mark.parametrize("name", ALL)
def test_orthogonal_rotation_and_isotropic_scaling(name):
    x, y = paired()
    base = measure(name, x, y)
    moved = measure(name, 3.7 * x @ orthogonal(D1, 1), 0.2 * y @ orthogonal(D2, 2))
    assert moved == pytest.approx(base, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", [m for m in ALL if m != "alignment_probe"])
def test_shared_row_permutation(name):
    x, y = paired()
    p = np.random.default_rng(5).permutation(N)
    assert measure(name, x[p], y[p]) == pytest.approx(measure(name, x, y), rel=1e-6, abs=1e-9)


def test_probe_is_invariant_to_row_order_within_each_half():
    x, y = paired(n=200, noise=0.3)
    rng = np.random.default_rng(6)
    ptr, pte = rng.permutation(100), 100 + rng.permutation(100)
    base = ridge_retrieval_accuracy(x[:100], y[:100], x[100:], y[100:])
    assert ridge_retrieval_accuracy(x[ptr], y[ptr], x[pte], y[pte]) == base


@pytest.mark.parametrize("name", IDENTITY_IS_ONE)
def test_identical_inputs_give_one(name):
    x, _ = paired()
    assert measure(name, x, x) == pytest.approx(1.0, abs=1e-7)


def test_probe_recovers_identity_and_fails_on_broken_pairing():
    x, y = paired(n=200)
    assert alignment_probe(x, x) == 1.0
    shuffled = y[np.random.default_rng(0).permutation(200)]
    assert alignment_probe(x, shuffled) < 5 / 100  # chance is 1 / 100 held-out pairs
    assert alignment_probe(x, y, seed=1) == alignment_probe(x, y, seed=1)


@pytest.mark.parametrize("name", ["mutual_knn", "cycle_knn", "cknna"])
def test_zero_columns_change_nothing_for_cosine_metrics(name):
    x, y = paired()
    assert measure(name, np.hstack([x, np.zeros((N, 3))]), y) == pytest.approx(measure(name, x, y), rel=1e-6)


@pytest.mark.parametrize("name", ["linear_cka", "unbiased_cka", "rbf_cka", "svcca", "cca"])
def test_constant_columns_change_nothing_for_centred_metrics(name):
    x, y = paired()
    with_const = np.hstack([x, np.zeros((N, 1)), np.full((N, 2), 5.0)])
    assert measure(name, with_const, y) == pytest.approx(measure(name, x, y), rel=1e-6)


def test_torch_and_numpy_inputs_agree_and_float32_is_accepted():
    x, y = paired()
    for name in ALL:
        expected = measure(name, x, y)
        assert measure(name, torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-7)
        assert measure(name, x.astype(np.float32), y.astype(np.float32)) == pytest.approx(expected, rel=1e-4, abs=1e-6)


# ---------------------------------------------------------------- degenerate input


@pytest.mark.parametrize("name", ALL)
def test_too_few_rows(name):
    x, y = paired(n=3)
    with pytest.raises(TooFewRowsError, match="paired rows|rows"):
        measure(name, x[:2], y[:2])


@pytest.mark.parametrize("name", ALL)
def test_nan_features(name):
    x, y = paired()
    x[4, 2] = np.nan
    with pytest.raises(NonFiniteFeaturesError, match="NaN"):
        measure(name, x, y)


@pytest.mark.parametrize("name", ALL)
def test_all_constant_features(name):
    x, y = paired()
    with pytest.raises(ConstantFeaturesError, match="identical"):
        measure(name, x, np.ones_like(y))


@pytest.mark.parametrize("name", ALL)
def test_unpaired_rows(name):
    x, y = paired()
    with pytest.raises(SimilarityInputError, match="paired"):
        measure(name, x, y[:-1])


@pytest.mark.parametrize("name", ["mutual_knn", "cycle_knn", "cknna"])
def test_zero_rows_have_no_cosine(name):
    x, y = paired()
    x[7] = 0.0
    with pytest.raises(ConstantFeaturesError, match="all zeros"):
        measure(name, x, y)


def test_knn_needs_more_rows_than_k():
    x, y = paired(n=11)
    with pytest.raises(TooFewRowsError):
        mutual_knn(x, y, k=10)
    with pytest.raises(SimilarityInputError, match="k must be"):
        cknna(x, y, k=1)


def test_svcca_refuses_more_components_than_rows_allow():
    x, y = paired(n=20, d1=15, d2=15, noise=1.0)
    with pytest.raises(TooFewRowsError, match="components"):
        cca(x, y)


def test_unknown_metric_and_option():
    x, y = paired()
    with pytest.raises(UnknownMetricError, match="linear_cka"):
        measure("linear_ckaa", x, y)
    with pytest.raises(SimilarityInputError, match="no option"):
        measure("linear_cka", x, y, k=3)
    with pytest.raises(SimilarityInputError, match="2-D"):
        measure("linear_cka", x[:, 0], y)


@pytest.mark.parametrize("name", [m for m in ALL if METRICS[m].scorer is not None])
def test_scorer_matches_the_metric_on_every_pairing(name):
    """The permutation null relies on scorer(perm) == metric(x, y[perm]) with the same options."""
    x, y = paired()
    metric = METRICS[name]
    scorer_options = {p for p, v in inspect.signature(metric.scorer).parameters.items() if v.kind is v.KEYWORD_ONLY}
    assert scorer_options == metric.options()
    options = {"k": 4} if "k" in metric.options() else {}
    score = metric.scorer(x, y, **options)
    assert score(None) == pytest.approx(metric.fn(x, y, **options), rel=1e-7, abs=1e-9)
    for seed in range(3):
        p = np.random.default_rng(seed).permutation(N)
        assert score(torch.from_numpy(p)) == pytest.approx(metric.fn(x, y[p], **options), rel=1e-7, abs=1e-9)


def test_device_argument_and_float16_store_features():
    """Feature stores hold float16; an explicit device is honoured (CPU here, the same code on GPU)."""
    x, y = paired()
    for name in ALL:
        expected = measure(name, x, y)
        assert measure(name, x, y, device="cpu") == expected
        half = measure(name, x.astype(np.float16), y.astype(np.float16), device=torch.device("cpu"))
        assert half == pytest.approx(expected, abs=0.02)
