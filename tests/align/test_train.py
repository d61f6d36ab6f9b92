"""Trainer: it learns, it resumes exactly, it keeps the best epoch, and bad input fails early."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.helpers.synthetic import latent_pairs
from safetensors.torch import load_file

from alignkit.align import AlignConfig, AlignedModel

from alignkit.align.training.loop import train_pairs
from alignkit.features.pairs import CachedPairs, PairsError
from alignkit.align.training.checkpoint import CheckpointError
from alignkit.align.training.sampling import split_rows
from tests.helpers.align_data import latent_cached_pairs as pairs, train_recipe as recipe


def last_record(out) -> dict:
    return json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])


@pytest.mark.parametrize(
    "heads,loss",
    [
        ({"kind": "mlp"}, "infonce"),
        ({"kind": "linear"}, "infonce"),
        ({"kind": "mlp", "standardize": True}, "siglip"),
        ({"kind": "token"}, "infonce"),
    ],
)
@pytest.mark.slow
def test_training_raises_validation_r1_far_above_chance(tmp_path, heads, loss):
    data = pairs(tokens=heads["kind"] == "token")
    cfg = recipe(image_head=heads, text_head=heads, loss=loss, init_temperature=0.07 if loss == "infonce" else 0.1)
    model = train_pairs(cfg, data, tmp_path, progress=False)
    rec = last_record(tmp_path)
    chance = rec["val_chance_r1"]
    assert rec["val_images"] > 50 and chance < 0.02
    assert rec["val_i2t_r1"] > 20 * chance and rec["val_t2i_r1"] > 20 * chance
    # an untrained model (same recipe, zero epochs of learning) is near chance: the heads did the work
    untrained = AlignedModel.create(model.info["vision"], model.info["text"], cfg.image_head, cfg.text_head, model.info["shared_dim"])
    _, val = split_rows(data.image_keys, cfg.val_fraction, cfg.seed)
    kw = lambda b: {"pooled": b.pooled, "tokens": b.tokens, "mask": b.mask}  # noqa: E731
    first_caption = np.array([data.captions_of()[i][0] for i in val])
    with torch.no_grad():
        hits = lambda m: float(((m.encode_image_features(**kw(data.image_batch(val))) @ m.encode_text_features(**kw(data.text_batch(first_caption))).T).argmax(1) == torch.arange(len(val))).float().mean())  # noqa: E731
        assert hits(model) > 3 * hits(untrained.eval()) + 0.1


@pytest.mark.slow
def test_identity_head_on_one_side_maps_into_the_other_space(tmp_path):
    data = pairs()
    cfg = recipe(image_head={"kind": "mlp"}, text_head={"kind": "identity"}, epochs=8)
    model = train_pairs(cfg, data, tmp_path, progress=False)
    assert model.info["shared_dim"] == data.text_dim
    assert list(model.text_head.state_dict()) == []
    rec = last_record(tmp_path)
    assert rec["val_t2i_r1"] > 10 * rec["val_chance_r1"]


class Crash(Exception):
    pass


class CrashingPairs(CachedPairs):
    """Raises on the n-th image batch: a run killed half-way through an epoch."""

    def __init__(self, *a, crash_at: int, **kw):
        super().__init__(*a, **kw)
        self.crash_at, self.calls = crash_at, 0

    def image_batch(self, rows):
        self.calls += 1
        if self.calls == self.crash_at:
            raise Crash()
        return super().image_batch(rows)


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    d = latent_pairs(300)
    cfg = recipe(epochs=5, image_head={"kind": "mlp", "dropout": 0.2}, text_head={"kind": "mlp", "dropout": 0.2})
    train_pairs(cfg, CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"]), tmp_path / "full", progress=False)
    # 3 steps per epoch (225 pairs / 64) + validation batches: die during epoch 3
    crashing = CrashingPairs(d["keys"], d["image"], d["text_keys"], d["text"], crash_at=9)
    with pytest.raises(Crash):
        train_pairs(cfg, crashing, tmp_path / "cut", progress=False)
    done = json.loads((tmp_path / "cut/checkpoints/last/state.json").read_text())["epoch"]
    assert 1 <= done < 5
    train_pairs(cfg, CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"]), tmp_path / "cut", resume=True, progress=False)
    a = load_file(str(tmp_path / "full/checkpoints/last/weights.safetensors"))
    b = load_file(str(tmp_path / "cut/checkpoints/last/weights.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log = [json.loads(x) for x in (tmp_path / "cut/metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_resume_refuses_a_truncated_checkpoint(tmp_path):
    data = pairs(200)
    cfg = recipe(epochs=2)
    train_pairs(cfg, data, tmp_path, progress=False)
    w = tmp_path / "checkpoints/last/optimizer.safetensors"
    w.write_bytes(w.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        train_pairs(cfg.with_overrides({"epochs": 3}), data, tmp_path, resume=True, progress=False)


def test_resume_refuses_a_changed_recipe_and_a_missing_run(tmp_path):
    data = pairs(200)
    train_pairs(recipe(epochs=1), data, tmp_path / "a", progress=False)
    with pytest.raises(CheckpointError, match="lr"):
        train_pairs(recipe(epochs=2, lr=1e-2), data, tmp_path / "a", resume=True, progress=False)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train_pairs(recipe(epochs=1), data, tmp_path / "b", resume=True, progress=False)
    with pytest.raises(Exception, match="--resume"):
        train_pairs(recipe(epochs=1), data, tmp_path / "a", progress=False)


@pytest.mark.slow
def test_best_checkpoint_is_kept_and_early_stopping_stops(tmp_path):
    data = pairs(300)
    # a learning rate this high makes validation R@1 fall after the first epochs
    cfg = recipe(epochs=30, patience=2, lr=0.5, warmup_fraction=0.0)
    model = train_pairs(cfg, data, tmp_path, progress=False)
    log = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    scores = [(r["val_i2t_r1"] + r["val_t2i_r1"]) / 2 for r in log]
    best = int(np.argmax(scores)) + 1
    assert len(log) < 30 and len(log) == best + 2  # stopped two epochs after the best
    assert log[-1]["best_epoch"] == best
    saved = json.loads((tmp_path / "config.json").read_text())
    reloaded = AlignedModel.from_pretrained(tmp_path)
    for k, v in reloaded.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])
    assert saved["training"]["lr"] == 0.5


def test_non_finite_features_are_refused_with_their_keys():
    d = latent_pairs(50)
    d["image"][7, 3] = np.nan
    d["text"][11, 0] = np.inf
    with pytest.raises(PairsError, match="p00007"):
        CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"])
    d["image"][7, 3] = 0
    with pytest.raises(PairsError, match="p00005#1"):
        CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"])


def test_empty_or_unmatched_training_sets_are_refused(tmp_path):
    d = latent_pairs(20)
    with pytest.raises(PairsError, match="no caption row matches"):
        CachedPairs(d["keys"], d["image"], [f"other{i}#0" for i in range(40)], d["text"])
    one = CachedPairs(d["keys"][:1], d["image"][:1], d["text_keys"][:2], d["text"][:2])
    with pytest.raises(PairsError, match="at least 2"):
        train_pairs(recipe(val_fraction=0.0), one, tmp_path, progress=False)
    assert not (tmp_path / "checkpoints").exists()


def test_token_head_without_tokens_is_refused(tmp_path):
    with pytest.raises(PairsError, match="token"):
        train_pairs(recipe(image_head={"kind": "token"}), pairs(100), tmp_path, progress=False)


def test_split_is_deterministic_and_order_free():
    keys = [f"k{i}" for i in range(1000)]
    tr, va = split_rows(keys, 0.2, seed=3)
    assert 150 < len(va) < 250 and len(tr) + len(va) == 1000
    rev_tr, rev_va = split_rows(keys[::-1], 0.2, seed=3)
    assert {keys[::-1][i] for i in rev_va} == {keys[i] for i in va}
    assert {keys[i] for i in split_rows(keys, 0.2, seed=4)[1]} != {keys[i] for i in va}


@pytest.mark.slow
def test_all_captions_mode_uses_every_caption(tmp_path):
    data = pairs(200)
    train_pairs(recipe(captions="all", epochs=2, batch_size=50, val_fraction=0.0), data, tmp_path, progress=False)
    rec = last_record(tmp_path)
    assert rec["step"] == 2 * (400 // 50)  # 200 images x 2 captions per epoch


def test_images_sharing_a_caption_are_one_group_for_split_loss_and_scoring():
    # concept c drawn in two styles: both images carry the same caption features
    rng = np.random.default_rng(0)
    n = 200
    concept = rng.standard_normal((n, 24)).astype(np.float32)
    keys = [f"{s}/c{i}" for s in ("a", "b") for i in range(n)]
    image = np.concatenate([concept @ rng.standard_normal((24, 48)).astype(np.float32)] * 2) + 0.1 * rng.standard_normal((2 * n, 48)).astype(np.float32)
    text_keys = [f"{k}#0" for k in keys]
    data = CachedPairs(keys, image, text_keys, np.concatenate([concept, concept]))
    groups = data.image_groups()
    assert len(set(groups.tolist())) == n and (groups[:n] == groups[n:]).all()
    tr, va = split_rows(data.image_keys, 0.3, 0, groups)
    assert not {k.split("/")[1] for k in np.array(keys)[tr]} & {k.split("/")[1] for k in np.array(keys)[va]}
    # scored by group, a perfect model gets R@1 = 1 even though each caption string exists twice
    from alignkit.align.training.validation import retrieval_r1

    z = torch.nn.functional.normalize(torch.from_numpy(np.concatenate([concept, concept])), dim=1)
    r = retrieval_r1(z, z, np.arange(2 * n), groups)
    assert r["i2t_r1"] == 1.0 and r["t2i_r1"] == 1.0
    assert r["i2t_chance"] == pytest.approx(2 / (2 * n)) and r["t2i_chance"] == pytest.approx(2 / (2 * n))
    ungrouped = retrieval_r1(z, z, np.arange(2 * n))
    assert ungrouped["i2t_r1"] == pytest.approx(0.5)  # ties between the twins go to the first
