"""The caption memory: saved and loaded with the heads, text side untouched, and a new rendering of a
known concept finds that concept through its training neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignkit.align import AlignConfig, AlignedModel

from alignkit.align.training.loop import train_pairs
from alignkit.align.recipe import ConfigError
from alignkit.align.training.validation import retrieval_r1
from tests.helpers.align_data import shift_recipe as recipe, styled_pairs


def i2t(model: AlignedModel, image: np.ndarray, text: np.ndarray) -> float:
    with torch.no_grad():
        zi, zt = model.encode_image_features(image), model.encode_text_features(text)
    return retrieval_r1(zi, zt, np.arange(len(text)))["i2t_r1"]


def test_memory_round_trips_and_leaves_text_alone(tmp_path):
    data, _ = styled_pairs(60)
    model = train_pairs(recipe(epochs=2, val_fraction=0.0, memory=0.5, memory_k=4), data, tmp_path / "m")
    assert model.info["memory"] == {"size": 120, "k": 4, "temperature": 0.05, "weight": 0.5}
    again = AlignedModel.from_pretrained(tmp_path / "m")
    x, y = data.pooled_features("image")[:10], data.pooled_features("text")[:10]
    assert torch.allclose(again.encode_image_features(x), model.encode_image_features(x), atol=1e-5)
    heads_only = AlignedModel.from_pretrained(tmp_path / "m")
    heads_only.memory = None
    assert torch.allclose(again.encode_text_features(y), heads_only.encode_text_features(y))  # text untouched
    assert not torch.allclose(again.encode_image_features(x), heads_only.encode_image_features(x), atol=1e-3)


def test_memory_finds_known_concepts_in_a_new_style(tmp_path):
    data, world = styled_pairs(200, strength=4.0)
    # a third style, never trained on: a perturbed version of one of the two training styles
    new_style = world["render"](world["styles"][0] + 0.5 * np.random.default_rng(9).standard_normal((8, 48)))
    scores = {}
    for weight in (0.0, 0.6):
        model = train_pairs(recipe(epochs=6, val_fraction=0.0, memory=weight, style_shift=0.0), data, tmp_path / f"w{weight}")
        scores[weight] = i2t(model, new_style, world["text"])
    assert scores[0.6] > scores[0.0] + 0.1, scores  # measured: 0.78 -> 1.00


def test_memory_settings_are_checked():
    for bad in ({"memory": 1.5}, {"memory_k": 0}, {"memory_temperature": 0.0}, {"memory_size": 0}):
        with pytest.raises(ConfigError):
            AlignConfig(**bad).validate()


def test_procrustes_init_starts_where_the_baseline_ends(tmp_path):
    from alignkit.evaluate import Procrustes, paired_rows

    data, _ = styled_pairs(120)
    cfg = recipe(epochs=1, lr=1e-9, val_fraction=0.0, style_shift=0.0, init="procrustes",
                 image_head={"kind": "residual"}, text_head={"kind": "identity", "center": True})
    model = train_pairs(cfg, data, tmp_path / "p")
    x, y = paired_rows(data.pooled_features("image").numpy(), data.pooled_features("text").numpy(), data.text_owner)
    base = Procrustes().fit(x, y)
    probe = data.pooled_features("image")[:20].numpy()
    with torch.no_grad():
        mine = model.encode_image_features(probe).numpy()
    theirs_in_text_space = base.encode_image_features(probe) @ base._py.T  # the baseline's image side, in raw text coordinates
    cos = (mine * theirs_in_text_space).sum(1) / np.linalg.norm(theirs_in_text_space, axis=1)
    assert cos.min() > 0.98  # untrained (lr ~ 0), the head is the closed-form map
    with pytest.raises(ConfigError, match="init 'procrustes' needs"):
        recipe(init="procrustes").validate()
