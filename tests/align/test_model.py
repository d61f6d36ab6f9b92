"""AlignedModel and the store path: stores -> train -> folder -> reload -> encode raw images and texts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.helpers.synthetic import FakeEncoder, caption_of, image_of, latent_pairs

from alignkit.align import AlignConfig, AlignedModel, ModelLoadError, as_open_clip, train
from alignkit.features.pairs import PairsError
from alignkit.features import embed_items


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Embed synthetic images and captions with fake encoders, then train on the stores."""
    root = tmp_path_factory.mktemp("align")
    d = latent_pairs(300, noise=0.3)
    images = [(k, image_of(v)) for k, v in zip(d["keys"], d["image"])]
    texts = [(k, caption_of(v)) for k, v in zip(d["text_keys"], d["text"])]
    enc_i, enc_t = FakeEncoder("image"), FakeEncoder("text")
    embed_items(enc_i, images, root / "img", progress=False, num_workers=0)
    embed_items(enc_t, texts, root / "txt", progress=False)
    cfg = AlignConfig(vision="fake-image", text="fake-text", embed_dim=16, epochs=8, batch_size=64, lr=3e-3, val_fraction=0.2,
                      image_head={"kind": "mlp"}, text_head={"kind": "mlp"}, memory=0.0, init="none")
    fps = {"image": enc_i.fingerprint(), "text": enc_t.fingerprint()}
    model = train(cfg, root / "img", root / "txt", root / "run", progress=False, expected_fingerprints=fps)
    return {"root": root, "data": d, "images": images, "texts": texts, "model": model, "cfg": cfg, "enc": (enc_i, enc_t)}


def test_run_folder_holds_model_recipe_and_log(run):
    out = run["root"] / "run"
    info = json.loads((out / "config.json").read_text())
    assert info["vision"]["spec"] == "fake-image" and info["text"]["spec"] == "fake-text"
    assert info["vision"]["fingerprint"] == run["enc"][0].fingerprint()
    assert info["image_head"]["kind"] == "mlp" and info["shared_dim"] == 16
    assert 0.0 < np.exp(-info["logit_scale"]) < 1.0
    assert json.loads((out / "recipe.json").read_text())["epochs"] == 8
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 8


def test_reloaded_model_encodes_raw_images_and_texts(run):
    model = AlignedModel.from_pretrained(run["root"] / "run")
    enc_i, enc_t = FakeEncoder("image"), FakeEncoder("text")
    model.attach_encoder("image", enc_i)
    model.attach_encoder("text", enc_t)
    n = 60
    zi = model.encode_image([img for _, img in run["images"][:n]])
    zt = model.encode_text([txt for _, txt in run["texts"][: 2 * n : 2]])
    assert zi.shape == (n, 16) and zt.shape == (n, 16)
    assert torch.allclose(zi.norm(dim=1), torch.ones(n), atol=1e-5)
    # the raw path equals the cached-feature path, and retrieval works
    feats = run["data"]["image"][:n]
    cached = model.encode_image_features(enc_i.encode([img for _, img in run["images"][:n]]).pooled)
    assert torch.allclose(zi, cached, atol=1e-6)
    assert not torch.allclose(zi, model.encode_image_features(feats[::-1].copy()), atol=1e-3)
    assert float(((zi @ zt.T).argmax(1) == torch.arange(n)).float().mean()) > 0.5


def test_image_paths_and_bad_images(run, tmp_path):
    model = AlignedModel.from_pretrained(run["root"] / "run")
    model.attach_encoder("image", FakeEncoder("image"))
    path = tmp_path / "a.png"
    run["images"][0][1].save(path)
    assert torch.allclose(model.encode_image([path]), model.encode_image([run["images"][0][1]]), atol=1e-6)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(Exception, match="bad.png"):
        model.encode_image([path, tmp_path / "bad.png"])


def test_an_encoder_with_another_fingerprint_is_refused(run):
    model = AlignedModel.from_pretrained(run["root"] / "run")
    with pytest.raises(ModelLoadError, match="fingerprint"):
        model.attach_encoder("image", FakeEncoder("image", salt="other weights"))
    model.attach_encoder("image", FakeEncoder("image", salt="other weights"), strict=False)


def test_wrong_feature_width_is_refused(run):
    with pytest.raises(ModelLoadError, match="expects"):
        run["model"].encode_image_features(np.zeros((3, 10), np.float32))


def test_store_from_another_encoder_is_refused(run):
    root, cfg = run["root"], run["cfg"]
    with pytest.raises(PairsError, match="fingerprint"):
        train(cfg, root / "img", root / "txt", root / "x", progress=False, expected_fingerprints={"image": "0" * 32})
    with pytest.raises(PairsError, match="recipe names"):
        train(cfg.with_overrides({"vision": "efficientnet-lite0"}), root / "img", root / "txt", root / "y", progress=False)
    assert not (root / "x").exists() and not (root / "y").exists()


def test_damaged_model_folder_is_refused(run, tmp_path):
    src = run["root"] / "run"
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    (tmp_path / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes()[:200])
    with pytest.raises(ModelLoadError, match="damaged or truncated"):
        AlignedModel.from_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="not an aligned model"):
        AlignedModel.from_pretrained(tmp_path / "nothing")


def test_open_clip_adapter_matches_encode(run):
    model = AlignedModel.from_pretrained(run["root"] / "run")
    model.attach_encoder("image", FakeEncoder("image"))
    model.attach_encoder("text", FakeEncoder("text"))
    clip, transform, tokenizer = as_open_clip(model)
    imgs = [img for _, img in run["images"][:5]]
    caps = [txt for _, txt in run["texts"][:5]]
    a = torch.nn.functional.normalize(clip.encode_image(torch.stack([transform(i) for i in imgs])), dim=-1)
    b = torch.nn.functional.normalize(clip.encode_text(tokenizer(caps)), dim=-1)
    assert torch.allclose(a, model.encode_image(imgs), atol=1e-6)
    assert torch.allclose(b, model.encode_text(caps), atol=1e-6)
    _, _, scale = clip(torch.stack([transform(i) for i in imgs]), tokenizer(caps))
    assert float(scale) == pytest.approx(1 / model.temperature, rel=1e-5)
