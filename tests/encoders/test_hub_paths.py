"""hf:, timm: and st: specs on tiny random models saved in each library's hub format: the
code path a downloaded hub model takes, checked against the original in-memory model."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch
from PIL import Image

from tests.helpers import tiny_models as F
from alignkit.encoders import create_encoder
from alignkit.errors import AlignkitError, UnknownEncoderError

TEXTS = ["a cat", "a photo of the red car on grass", "stock market report"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    bert = F.save_bert(root / "bert", seed=0)
    return {
        "dinov2": F.save_dinov2(root / "dinov2"),
        "dinov2_reg": F.save_dinov2(root / "dinov2_reg", registers=2),
        "vit": F.save_vit(root / "vit"),
        "clip": F.save_clip(root / "clip"),
        "timm": F.save_timm_vit(root / "timm"),
        "bert": bert,
        "bert_other": F.save_bert(root / "bert_other", seed=1),
        "st": F.save_st(root / "st", bert),
    }


@pytest.fixture(scope="module")
def images():
    rng = torch.Generator().manual_seed(0)
    sizes = [(50, 40), (31, 64), (640, 427)]
    return [Image.fromarray((torch.rand(h, w, 3, generator=rng) * 255).to(torch.uint8).numpy()) for w, h in sizes]


def _pixels(enc, images):
    return enc.collate([enc.preprocess(im) for im in images])


# ---- hf: vision ---------------------------------------------------------------------------


def test_hf_preprocessing_matches_the_models_own_image_processor(folders, images):
    from transformers import AutoImageProcessor

    for key in ("dinov2", "vit", "clip"):
        path, _ = folders[key]
        enc = create_encoder(f"hf:{path}")
        ours = _pixels(enc, images)
        theirs = AutoImageProcessor.from_pretrained(path)(images, return_tensors="pt")["pixel_values"]
        assert ours.shape == theirs.shape
        # one 8-bit rounding step (1/255 / std) is the only allowed difference
        assert (ours - theirs).abs().max() < 0.03, key
    desc = create_encoder(f"hf:{folders['dinov2'][0]}").preprocessing()["image"]
    assert desc["resize"] == 32 and desc["crop"] == [28, 28] and desc["mean"] == [0.5, 0.4, 0.3]
    assert desc["interpolation"] == "bicubic"


def test_hf_dinov2_pooling_variants_match_the_original_model(folders, images):
    path, model = folders["dinov2"]
    cls = create_encoder(f"hf:{path}")
    assert cls.modality == "image" and cls.options.pooling == "cls"
    x = _pixels(cls, images)
    with torch.no_grad():
        hidden = model(pixel_values=x).last_hidden_state
    torch.testing.assert_close(cls.forward(x).pooled, hidden[:, 0], atol=1e-5, rtol=1e-4)
    mean = create_encoder(f"hf:{path}?pool=mean").forward(x).pooled
    torch.testing.assert_close(mean, hidden[:, 1:].mean(1), atol=1e-5, rtol=1e-4)
    both = create_encoder(f"hf:{path}?pool=cls+mean")
    assert both.dim == 2 * cls.dim == 64
    torch.testing.assert_close(both.forward(x).pooled, torch.cat([hidden[:, 0], hidden[:, 1:].mean(1)], 1), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(cls.forward(x).pooled, mean)


def test_hf_register_tokens_are_left_out_of_the_patch_mean(folders, images):
    path, model = folders["dinov2_reg"]
    enc = create_encoder(f"hf:{path}?pool=mean")
    assert enc.prefix_tokens == 3  # CLS + 2 registers
    x = _pixels(enc, images)
    with torch.no_grad():
        hidden = model(pixel_values=x).last_hidden_state
    torch.testing.assert_close(enc.forward(x).pooled, hidden[:, 3:].mean(1), atol=1e-5, rtol=1e-4)


def test_hf_layer_selects_hidden_states(folders, images):
    path, model = folders["dinov2"]
    enc1 = create_encoder(f"hf:{path}?layer=1")
    assert enc1.num_layers == 3  # embeddings + 2 blocks
    x = _pixels(enc1, images)
    with torch.no_grad():
        states = model(pixel_values=x, output_hidden_states=True).hidden_states
    torch.testing.assert_close(enc1.forward(x).pooled, states[1][:, 0], atol=1e-5, rtol=1e-4)
    last = create_encoder(f"hf:{path}?layer=-1").forward(x).pooled
    torch.testing.assert_close(last, states[-1][:, 0], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(enc1.forward(x).pooled, last)
    with pytest.raises(AlignkitError, match="out of range"):
        create_encoder(f"hf:{path}?layer=3")


def test_hf_tokens_and_mask_for_images(folders, images):
    path, _ = folders["vit"]
    out = create_encoder(f"hf:{path}").encode(images, tokens=True, batch_size=2)
    assert out.pooled.shape == (3, 32)
    assert out.tokens.shape == (3, 1 + 16, 32) and out.mask.shape == (3, 17) and out.mask.all()
    assert out.pooled.dtype == torch.float32 and out.tokens.device.type == "cpu"


def test_hf_two_tower_model_gives_either_tower(folders, images):
    path, model = folders["clip"]
    vision = create_encoder(f"hf:{path}")
    assert vision.modality == "image" and vision.dim == 40 and vision.num_layers == 4
    text = create_encoder(f"hf:{path}?modality=text")
    assert text.modality == "text" and text.dim == 32
    batch = text.collate(TEXTS)
    with torch.no_grad():
        hidden = model.text_model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(text.forward(batch).pooled, (hidden * m).sum(1) / m.sum(1), atol=1e-5, rtol=1e-4)


# ---- hf: text ------------------------------------------------------------------------------


def test_hf_text_pooling_and_padding_mask(folders):
    from transformers import AutoModel, AutoTokenizer

    path = folders["bert"]
    enc = create_encoder(f"hf:{path}")
    assert enc.modality == "text" and enc.options.pooling == "mean" and enc.dim == 32
    out = enc.encode(TEXTS, tokens=True)
    tok = AutoTokenizer.from_pretrained(path)(TEXTS, padding=True, return_tensors="pt")
    assert torch.equal(out.mask, tok["attention_mask"].bool())
    assert not out.mask.all()  # the short captions really were padded
    with torch.no_grad():
        hidden = AutoModel.from_pretrained(path)(**tok).last_hidden_state
    m = tok["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(out.pooled, (hidden * m).sum(1) / m.sum(1), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.tokens, hidden, atol=1e-5, rtol=1e-4)
    cls = create_encoder(f"hf:{path}?pool=cls").encode(TEXTS).pooled
    torch.testing.assert_close(cls, hidden[:, 0], atol=1e-5, rtol=1e-4)
    assert create_encoder(f"hf:{path}?pool=cls+mean").dim == 64


def test_hf_text_layer_equals_manual_hidden_state_pooling(folders):
    from transformers import AutoModel, AutoTokenizer

    path = folders["bert"]
    tok = AutoTokenizer.from_pretrained(path)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = AutoModel.from_pretrained(path)(**tok, output_hidden_states=True).hidden_states
    m = tok["attention_mask"].unsqueeze(-1).float()
    got = create_encoder(f"hf:{path}", layer=1).encode(TEXTS).pooled
    torch.testing.assert_close(got, (states[1] * m).sum(1) / m.sum(1), atol=1e-5, rtol=1e-4)


def test_fingerprint_is_stable_and_tracks_every_choice(folders):
    path = folders["bert"]
    base = create_encoder(f"hf:{path}").fingerprint()
    assert create_encoder(f"hf:{path}").fingerprint() == base  # a second load
    others = {
        "layer": create_encoder(f"hf:{path}?layer=1").fingerprint(),
        "pooling": create_encoder(f"hf:{path}?pool=cls").fingerprint(),
        "dtype": create_encoder(f"hf:{path}", dtype="bfloat16").fingerprint(),
        "max_length": create_encoder(f"hf:{path}?max_length=8").fingerprint(),
    }
    assert all(fp != base for fp in others.values()), others
    # same config and tokenizer, other weights: the spec differs too, so compare digests
    a = create_encoder(f"hf:{path}").weights_digest()
    b = create_encoder(f"hf:{folders['bert_other']}").weights_digest()
    assert a != b and a.startswith("sha256:")


def test_reduced_precision_still_returns_float32(folders):
    out = create_encoder(f"hf:{folders['bert']}", dtype="bfloat16").encode(TEXTS, tokens=True)
    assert out.pooled.dtype == torch.float32 and out.tokens.dtype == torch.float32
    ref = create_encoder(f"hf:{folders['bert']}").encode(TEXTS).pooled
    cos = torch.nn.functional.cosine_similarity(out.pooled, ref)
    assert (cos > 0.98).all()


# ---- timm: ---------------------------------------------------------------------------------


def test_timm_local_folder_loads_the_saved_weights(folders, images):
    path, model = folders["timm"]
    enc = create_encoder(f"timm:{path}")
    assert enc.modality == "image" and enc.dim == 48
    assert enc.preprocessing()["input_size"] == [3, 32, 32]
    x = _pixels(enc, images)
    assert x.shape == (3, 3, 32, 32)
    with torch.no_grad():
        expected = model.forward_head(model.forward_features(x), pre_logits=True)
    torch.testing.assert_close(enc.forward(x).pooled, expected, atol=1e-5, rtol=1e-4)


def test_timm_layers_pooling_and_tokens(folders, images):
    path, model = folders["timm"]
    enc = create_encoder(f"timm:{path}?layer=1")
    assert enc.num_layers == 3
    x = _pixels(enc, images)
    with torch.no_grad():
        inter = model.forward_intermediates(x, indices=[1], intermediates_only=True)[0]
    torch.testing.assert_close(enc.forward(x).pooled, inter.mean(dim=(2, 3)), atol=1e-5, rtol=1e-4)
    default = create_encoder(f"timm:{path}")
    avg = create_encoder(f"timm:{path}?pool=avg")
    assert not torch.allclose(default.forward(x).pooled, avg.forward(x).pooled)
    assert default.fingerprint() != avg.fingerprint() != enc.fingerprint()
    out = default.forward(x, tokens=True)
    assert out.tokens.shape == (3, 17, 48) and out.mask.all()


def test_timm_unknown_name_suggests_a_close_one():
    with pytest.raises(UnknownEncoderError, match="vit_tiny_patch16_224"):
        create_encoder("timm:vit_tiny_patch16_22")


# ---- st: -----------------------------------------------------------------------------------


def test_st_matches_sentence_transformers_encode(folders):
    from sentence_transformers import SentenceTransformer

    path = folders["st"]
    enc = create_encoder(f"st:{path}")
    assert enc.modality == "text" and enc.dim == 32 and enc.num_layers == 3
    out = enc.encode(TEXTS, tokens=True)
    expected = SentenceTransformer(str(path), device="cpu").encode(TEXTS, convert_to_tensor=True)
    torch.testing.assert_close(out.pooled, expected, atol=1e-5, rtol=1e-4)
    assert out.tokens.shape[:2] == out.mask.shape and out.tokens.shape[2] == 32
    assert out.mask.sum(1).tolist()[0] < out.mask.shape[1]  # "a cat" is padded


def test_st_layer_mean_pools_that_hidden_state(folders):
    from transformers import AutoModel, AutoTokenizer

    bert = folders["bert"]
    tok = AutoTokenizer.from_pretrained(bert)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = AutoModel.from_pretrained(bert)(**tok, output_hidden_states=True).hidden_states
    m = tok["attention_mask"].unsqueeze(-1).float()
    enc = create_encoder(f"st:{folders['st']}?layer=1")
    torch.testing.assert_close(enc.encode(TEXTS).pooled, (states[1] * m).sum(1) / m.sum(1), atol=1e-5, rtol=1e-4)
    assert enc.fingerprint() != create_encoder(f"st:{folders['st']}").fingerprint()


# ---- errors ---------------------------------------------------------------------------------


def test_bad_specs_give_clear_errors(folders, tmp_path):
    with pytest.raises(UnknownEncoderError, match="Did you mean .*efficientnet-lite0"):
        create_encoder("efficientnet-lite9")
    with pytest.raises(AlignkitError, match="unknown option.*layr"):
        create_encoder(f"hf:{folders['bert']}?layr=2")
    with pytest.raises(AlignkitError, match="pooling 'max'"):
        create_encoder(f"hf:{folders['bert']}?pool=max")
    with pytest.raises(AlignkitError, match="modality must be image or text"):
        create_encoder(f"hf:{folders['bert']}?modality=audio")
    with pytest.raises(AlignkitError, match="could not load hf:"):
        create_encoder("hf:no-such-org/no-such-model")
    with pytest.raises(AlignkitError, match="config.json"):
        create_encoder(f"timm:{tmp_path}")
    no_processor = tmp_path / "vit_without_processor"
    folders["vit"][1].save_pretrained(no_processor)
    with pytest.raises(AlignkitError, match="preprocessor_config.json"):
        create_encoder(f"hf:{no_processor}")
