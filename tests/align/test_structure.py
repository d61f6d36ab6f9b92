"""The STRUCTURE regulariser: zero for geometry-preserving maps, larger the more a map scrambles
neighbourhoods, differentiable, and in training it keeps the heads nearer the frozen geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alignkit.align import AlignConfig, ConfigError
from alignkit.align.training.losses import structure_divergence
from alignkit.align.training.loop import train_pairs
from tests.helpers.align_data import latent_cached_pairs as pairs, train_recipe as recipe


def _x(n=32, d=12, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("levels", [1, 3])
def test_a_rotation_and_rescaling_keep_the_structure(levels):
    x = _x()
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(1)))
    assert float(structure_divergence(x, 3.0 * x @ q, levels)) < 1e-6


def test_the_divergence_grows_as_neighbourhoods_are_scrambled():
    x = _x()
    g = torch.Generator().manual_seed(2)
    noisy = [structure_divergence(x, x + s * torch.randn(x.shape, generator=g)) for s in (0.1, 0.5, 2.0)]
    shuffled = structure_divergence(x, x[torch.randperm(len(x), generator=g)])
    assert 0 < noisy[0] < noisy[1] < noisy[2] < float(shuffled) + 1e-6
    assert float(shuffled) <= np.log(2) + 1e-6  # Jensen-Shannon is bounded by log 2


def test_the_divergence_has_gradients_for_the_aligned_side_only():
    x, y = _x(), _x(seed=3).requires_grad_()
    structure_divergence(x, y, levels=2).backward()
    assert y.grad is not None and float(y.grad.abs().sum()) > 0


def test_bad_structure_settings_are_refused():
    with pytest.raises(ConfigError, match="structure_levels"):
        AlignConfig(structure_levels=0).validate()
    with pytest.raises(ConfigError, match="structure must"):
        AlignConfig(structure=-1.0).validate()


def _image_structure(model, data) -> float:
    rows = np.arange(len(data.image_keys))
    b = data.image_batch(rows)
    with torch.no_grad():
        z = model.encode_image_features(b.pooled, b.tokens, b.mask)
    return float(structure_divergence(torch.as_tensor(b.pooled), z))


@pytest.mark.slow
def test_training_with_the_regulariser_keeps_the_frozen_neighbourhoods(tmp_path):
    data = pairs()
    runs = {}
    for weight in (0.0, 50.0):
        cfg = recipe(image_head={"kind": "mlp"}, text_head={"kind": "mlp"}, epochs=6, structure=weight, style_shift=0.0)
        runs[weight] = _image_structure(train_pairs(cfg, data, tmp_path / str(weight), progress=False), data)
    assert runs[50.0] < 0.75 * runs[0.0], runs
