"""Several layers of one encoder from one pass: one store per layer, each equal to its own run."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest
from PIL import Image

from alignkit.encoders import create_encoder
from alignkit.errors import AlignkitError
from alignkit.features.cache import cached_features, cached_layer_features
from alignkit.features.extract import embed_items, embed_layers


def _images(n: int) -> list[tuple[str, object]]:
    rng = np.random.default_rng(0)
    items = [(f"img{i}", Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))) for i in range(n)]
    return items[:3] + [("broken", b"not an image"), ("img0", items[0][1])] + items[3:]  # a bad item and a duplicate key


def _same_store(a, b) -> None:
    ka, fa = a.load()
    kb, fb = b.load()
    assert list(ka) == list(kb)
    np.testing.assert_array_equal(fa, fb)
    assert a.fingerprint == b.fingerprint
    assert [s["skipped"] for s in a.manifest["shards"]] == [s["skipped"] for s in b.manifest["shards"]]


@pytest.mark.slow
def test_lite_layers_in_one_pass_equal_separate_runs(tmp_path, monkeypatch):
    specs = ["efficientnet-lite0", "efficientnet-lite0?layer=4", "efficientnet-lite0?layer=-3"]
    encoders = [create_encoder(s, engine="torch") for s in specs]  # counts torch's own passes
    items = _images(7)
    calls = []
    real = type(encoders[0]).feature_maps

    def counting(self, x, stops):
        calls.append(len(x))
        return real(self, x, stops)

    monkeypatch.setattr(type(encoders[0]), "feature_maps", counting)
    together = embed_layers(encoders, items, [tmp_path / f"one-{i}" for i in range(3)], shard_size=4,
                            batch_size=3, num_workers=0, progress=False)
    assert sum(calls) == 7  # 7 good items, each through the network once for all three layers
    for i, (enc, store) in enumerate(zip(encoders, together)):
        alone = embed_items(create_encoder(specs[i], engine="torch"), items, tmp_path / f"alone-{i}", shard_size=4, batch_size=3,
                            num_workers=0, progress=False)
        _same_store(store, alone)
        assert store.fingerprint == enc.fingerprint()
        assert store.load()[1].shape == (7, enc.dim)
    assert together[1].load()[1].shape[1] != together[0].load()[1].shape[1]  # a block's width, not the head's


@pytest.mark.slow
def test_a_rerun_reuses_every_layer_and_recomputes_only_what_is_missing(tmp_path):
    encoders = [create_encoder("efficientnet-lite0?layer=2"), create_encoder("efficientnet-lite0?layer=5")]
    items = _images(5)
    first = cached_layer_features(encoders, items, "layers-test", root=tmp_path, num_workers=0, progress=False)
    again = cached_layer_features(encoders, items, "layers-test", root=tmp_path, num_workers=0, progress=False)
    assert [s.manifest["last_run"]["items_computed"] for s in again] == [0, 0]
    # the single-encoder cache serves the same folder
    single = cached_features(encoders[1], items, "layers-test", root=tmp_path, num_workers=0, progress=False)
    assert single.path == first[1].path and single.manifest["last_run"]["items_computed"] == 0
    # a third layer joins: only it is computed, the others are reused
    third = create_encoder("efficientnet-lite0?layer=7")
    out = cached_layer_features([*encoders, third], items, "layers-test", root=tmp_path, num_workers=0, progress=False)
    assert [s.manifest["last_run"]["items_computed"] for s in out] == [0, 0, len(items)]


@pytest.mark.slow
def test_sentence_encoder_layers_in_one_pass(tmp_path):
    specs = ["minilm-l6", "minilm-l6?layer=3", "minilm-l6?layer=1"]
    captions = [(f"c{i}", t) for i, t in enumerate(["a cat", "a red car on a road", "", "two dogs playing", "a tree"])]
    together = embed_layers([create_encoder(s) for s in specs], captions, [tmp_path / f"t{i}" for i in range(3)],
                            batch_size=2, progress=False)
    for i, store in enumerate(together):
        alone = embed_items(create_encoder(specs[i]), captions, tmp_path / f"a{i}", batch_size=2, progress=False)
        _same_store(store, alone)
        assert len(store.load()[0]) == 4  # the empty caption is skipped in every layer


def test_different_models_never_share_a_pass(tmp_path):
    with pytest.raises(AlignkitError, match="not one model"):
        embed_layers([create_encoder("efficientnet-lite0"), create_encoder("efficientnet-lite1")], _images(2),
                     [tmp_path / "a", tmp_path / "b"], progress=False)
    with pytest.raises(AlignkitError, match="one layer per run"):
        embed_layers([create_encoder("efficientnet-lite0"), create_encoder("efficientnet-lite0?layer=3")], _images(2),
                     [tmp_path / "a", tmp_path / "b"], tokens=True, progress=False)
