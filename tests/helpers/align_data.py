"""Small recipes and cached training pairs the align tests share, and a way to kill a run part-way."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from alignkit.align import AlignConfig
from alignkit.features.pairs import CachedPairs
from tests.helpers.synthetic import latent_pairs


def train_recipe(**kw) -> AlignConfig:
    base = {"embed_dim": 16, "epochs": 10, "batch_size": 64, "lr": 3e-3, "val_fraction": 0.25, "patience": 0, "refit": False,
            "memory": 0.0, "init": "none", "image_head": {"kind": "mlp"}, "text_head": {"kind": "mlp"}}  # the heads alone
    heads = {k: kw.pop(k) for k in ("image_head", "text_head") if k in kw}
    return AlignConfig.from_dict({**base, **heads, **kw})


def shift_recipe(**kw) -> AlignConfig:
    base = {"embed_dim": 16, "epochs": 6, "batch_size": 64, "lr": 3e-3, "val_fraction": 0.25, "patience": 0, "refit": False,
            "memory": 0.0, "init": "none", "image_head": {"kind": "mlp"}, "text_head": {"kind": "mlp"}}  # the heads alone
    return AlignConfig.from_dict({**base, **kw})


def latent_cached_pairs(n: int = 400, noise: float = 0.5, tokens: bool = False) -> CachedPairs:
    d = latent_pairs(n, noise=noise)
    extra = {}
    if tokens:
        extra = {
            "image_tokens": (d["image"].reshape(n, 4, -1), np.ones((n, 4), bool)),
            "text_tokens": (d["text"].reshape(len(d["text"]), 4, -1), np.ones((len(d["text"]), 4), bool)),
        }
    return CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"], **extra)


def styled_pairs(n: int = 200, strength: float = 4.0, seed: int = 0) -> tuple[CachedPairs, dict]:
    """n concepts, each drawn in two styles. A style adds strength * tanh(concept @ B_style) to
    the concept's features: a change of style moves features in a concept-dependent way, as a
    change of drawing style does. Every rendering of a concept has the concept's one caption.
    ``render(B)`` draws every concept in another style."""
    rng = np.random.default_rng(seed)
    concept = rng.standard_normal((n, 8))
    a = rng.standard_normal((8, 48)) / np.sqrt(8)
    text = concept @ rng.standard_normal((8, 24)) / np.sqrt(8)
    styles = [rng.standard_normal((8, 48)) for _ in range(2)]

    def render(b: np.ndarray) -> np.ndarray:
        return (concept @ a + strength * np.tanh(concept @ b / np.sqrt(8))).astype(np.float32)

    keys = [f"s{s}/c{i:04d}" for s in range(2) for i in range(n)]
    image = np.concatenate([render(b) for b in styles])
    data = CachedPairs(keys, image, [f"{k}#0" for k in keys], np.concatenate([text, text]).astype(np.float32))
    return data, {"render": render, "styles": styles, "text": text.astype(np.float32)}


class Crash(Exception):
    pass


@contextmanager
def killed_at_call(data: CachedPairs, n: int):
    """``data.image_batch`` raises Crash on its n-th call (a run killed part-way), restored after."""
    fetch, calls = data.image_batch, {"n": 0}

    def crashing(rows):
        calls["n"] += 1
        if calls["n"] == n:
            raise Crash()
        return fetch(rows)

    data.image_batch = crashing
    try:
        with pytest.raises(Crash):
            yield
    finally:
        data.image_batch = fetch
