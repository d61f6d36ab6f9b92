"""Training from memory-mapped shards (and from float16 features held on the device) gives
bit-identical results to the in-RAM path, resumes exactly, and is chosen by size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.helpers.synthetic import FakeEncoder, caption_of, image_of, latent_pairs
from safetensors.torch import load_file
from tests.helpers.align_data import killed_at_call

from alignkit.align import AlignConfig, train

from alignkit.align.training.loop import train_pairs
from alignkit.features.pairs import CachedPairs, PairsError
from alignkit.features import placement
from alignkit.features import FeatureStore, embed_items
from alignkit.features.mapped_rows import MappedRows

PATHS = ("ram", "mmap", "device")


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Synthetic stores in many small shards; pairs 0-39 share a caption two by two (groups,
    so style shift acts), and one caption is empty (skipped)."""
    root = tmp_path_factory.mktemp("stream")
    d = latent_pairs(240, captions=2, noise=0.5)
    text = d["text"].copy()
    for i in range(0, 40, 2):  # image i+1's first caption is image i's first caption
        text[2 * (i + 1)] = text[2 * i]
    images = [(k, image_of(v)) for k, v in zip(d["keys"], d["image"])]
    texts = [(k, caption_of(v)) for k, v in zip(d["text_keys"], text)]
    texts[7] = (texts[7][0], "   ")
    embed_items(FakeEncoder("image"), images, root / "img", shard_size=37, progress=False, num_workers=0)
    embed_items(FakeEncoder("text"), texts, root / "txt", shard_size=29, progress=False)
    return root


def recipe(**kw) -> AlignConfig:
    head = {"kind": "mlp", "dropout": 0.2, "standardize": True}
    base = {"vision": "fake-image", "text": "fake-text", "image_head": head, "text_head": head, "embed_dim": 16, "epochs": 4,
            "batch_size": 64, "lr": 3e-3, "val_fraction": 0.2, "refit": False, "style_shift": 0.5, "device": "cpu"}
    return AlignConfig.from_dict({**base, **kw})


def weights(run) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints/last/weights.safetensors"))


def log(run) -> list[dict]:
    drop = ("seconds", "pairs_per_s")
    return [{k: v for k, v in json.loads(x).items() if k not in drop} for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_the_three_feature_paths_hold_the_same_pairs(stores):
    sets = {p: CachedPairs.from_stores(stores / "img", stores / "txt", features_in=p) for p in PATHS}
    ram = sets["ram"]
    assert len(ram.text_keys) == 479  # one empty caption skipped
    assert len(set(ram.image_groups().tolist())) == 240 - 20
    rows = np.array([5, 0, 239, 5, 100, 36, 37])  # repeats, shard edges, any order
    for p, data in sets.items():
        assert data.image_keys == ram.image_keys and data.text_keys == ram.text_keys, p
        assert np.array_equal(data.text_owner, ram.text_owner), p
        assert np.array_equal(data.image_groups(), ram.image_groups()), p
        assert torch.equal(data.image_batch(rows).pooled, ram.image_batch(rows).pooled), p
        assert torch.equal(data.text_batch(rows).pooled, ram.text_batch(rows).pooled), p
        assert data.image_batch(rows).pooled.dtype == torch.float32
    assert isinstance(sets["mmap"].pooled_rows("image"), placement.MappedTable)
    assert sets["device"].pooled_rows("image").table.dtype == torch.float16


@pytest.mark.slow
def test_mmap_and_device_training_is_bit_identical_to_ram(stores, tmp_path):
    for p in PATHS:
        train(recipe(features_in=p), stores / "img", stores / "txt", tmp_path / p, progress=False)
    ref = weights(tmp_path / "ram")
    for p in ("mmap", "device"):
        got = weights(tmp_path / p)
        assert got.keys() == ref.keys()
        for k in ref:
            assert torch.equal(got[k], ref[k]), (p, k)
        assert log(tmp_path / p) == log(tmp_path / "ram"), p
    assert log(tmp_path / "ram")[-1]["val_i2t_r1"] > 5 * log(tmp_path / "ram")[-1]["val_chance_r1"]  # it learned


def test_mmap_run_resumes_exactly(stores, tmp_path):
    cfg = recipe(epochs=4)
    train(cfg.with_overrides({"features_in": "ram"}), stores / "img", stores / "txt", tmp_path / "full", progress=False)
    cut = CachedPairs.from_stores(stores / "img", stores / "txt", features_in="mmap")
    with killed_at_call(cut, 10):
        train_pairs(cfg, cut, tmp_path / "cut", progress=False)
    done = json.loads((tmp_path / "cut/checkpoints/last/state.json").read_text())["epoch"]
    assert 1 <= done < 4
    train(cfg.with_overrides({"features_in": "mmap"}), stores / "img", stores / "txt", tmp_path / "cut", resume=True, progress=False)
    a, b = weights(tmp_path / "full"), weights(tmp_path / "cut")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["epoch"] for r in log(tmp_path / "cut")] == [1, 2, 3, 4]


def test_mapped_rows_gather_any_rows_with_few_shards_open(stores):
    store = FeatureStore(stores / "img")
    _, full = store.load()
    pick = np.array([239, 3, 3, 36, 37, 74, 0, 150])
    table = MappedRows(store, pick, max_open=2)  # 7 shards, at most 2 mapped at once
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows = rng.integers(0, len(pick), size=5)
        assert np.array_equal(table.take(rows), full[pick[rows]])
        assert len(table._open) <= 2
    table.release()


def test_non_finite_rows_in_a_shard_are_refused_with_their_key(stores, tmp_path):
    import shutil

    img = tmp_path / "img"
    shutil.copytree(stores / "img", img)
    shard = np.load(img / "shard-00001.npy")
    shard[2, 0] = np.nan
    np.save(img / "shard-00001.npy", shard)
    key = json.loads((img / "shard-00001.json").read_text())["keys"][2]
    for p in ("mmap", "device"):
        with pytest.raises(PairsError, match=key):
            CachedPairs.from_stores(img, stores / "txt", features_in=p)


def test_auto_picks_ram_when_it_fits_else_mmap_and_says_so(stores, tmp_path, monkeypatch, capsys):
    cpu = torch.device("cpu")
    assert placement.choose("auto", 1000, cpu)[0] == "ram"
    monkeypatch.setattr(placement, "available_memory", lambda: 1 << 20)
    where, why = placement.choose("auto", 1 << 20, cpu)  # 4 MB as float32 > 1 MB available
    assert where == "mmap" and "would not fit" in why
    assert placement.choose("ram", 1 << 20, cpu)[0] == "ram"  # an explicit choice wins
    monkeypatch.setattr(placement, "available_memory", lambda: 100_000)  # these stores need ~180 kB as float32 (x2)
    train(recipe(epochs=1, features_in="auto"), stores / "img", stores / "txt", tmp_path / "run", progress=True)
    assert "features in mmap" in capsys.readouterr().out


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_resident_features_train_like_the_ram_path(stores, tmp_path):
    for p in ("ram", "device"):
        train(recipe(features_in=p, device="cuda", precision="fp32"), stores / "img", stores / "txt",
              tmp_path / p, progress=False)
    ref, got = weights(tmp_path / "ram"), weights(tmp_path / "device")
    for k in ref:  # the same float32 batches; only GPU kernels' own run-to-run noise may differ
        assert torch.allclose(got[k], ref[k], atol=1e-5, rtol=1e-4), k
