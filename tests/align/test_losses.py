"""Losses against their textbook definitions; heads' shapes and masking; the recipe file."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from alignkit.align import AlignConfig, ConfigError
from alignkit.align.recipe import HeadConfig
from alignkit.align.model.heads import TokenHead, build_head
from alignkit.align.training.losses import InfoNCELoss, SigLIPLoss


def embeddings(n=6, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=1), F.normalize(torch.randn(n, d, generator=g), dim=1)


def test_infonce_equals_clip_cross_entropy_for_distinct_pairs():
    img, txt = embeddings()
    loss = InfoNCELoss(0.05, True, 100.0)
    logits = 20.0 * img @ txt.T
    ref = (F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.T, torch.arange(6))) / 2
    assert float(loss(img, txt, torch.arange(6)).detach()) == pytest.approx(float(ref), rel=1e-5)


def test_infonce_treats_rows_of_the_same_image_as_positives():
    img, txt = embeddings()
    img[1] = img[0]  # the same image seen with two captions
    ids = torch.tensor([0, 0, 2, 3, 4, 5])
    loss = InfoNCELoss(0.1, True, 100.0)
    logits = 10.0 * img @ txt.T
    target = torch.eye(6)
    target[0, 1] = target[1, 0] = 1
    target /= target.sum(1, keepdim=True)
    ref_i2t = -(target * F.log_softmax(logits, 1)).sum(1).mean()
    ref_t2i = -(target * F.log_softmax(logits.T, 1)).sum(1).mean()
    assert float(loss(img, txt, ids).detach()) == pytest.approx(float((ref_i2t + ref_t2i) / 2), rel=1e-5)


def test_siglip_equals_the_pairwise_sigmoid_sum():
    img, txt = embeddings()
    loss = SigLIPLoss(0.1, True, 100.0, bias_init=-3.0)
    total = 0.0
    for i in range(6):
        for j in range(6):
            z = 1.0 if i == j else -1.0
            total += -math.log(1 / (1 + math.exp(-z * (10.0 * float(img[i] @ txt[j]) - 3.0))))
    assert float(loss(img, txt, torch.arange(6)).detach()) == pytest.approx(total / 6, rel=1e-5)


def test_temperature_is_learnable_and_clamped():
    loss = InfoNCELoss(0.07, True, 50.0)
    img, txt = embeddings()
    loss(img, txt, torch.arange(6)).backward()
    assert loss.logit_scale.grad is not None and loss.logit_scale.grad != 0
    with torch.no_grad():
        loss.logit_scale.fill_(10.0)
    loss.clamp_()
    assert loss.temperature == pytest.approx(1 / 50.0, rel=1e-5)
    assert not InfoNCELoss(0.07, False, 50.0).logit_scale.requires_grad


def test_token_head_masks_padding_and_adds_the_cls_branch():
    torch.manual_seed(0)
    head = TokenHead(in_dim=6, token_dim=4, out_dim=3, hidden=8, dropout=0.0).eval()
    pooled, tokens = torch.randn(2, 6), torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = head(pooled, tokens, mask)
    changed = tokens.clone()
    changed[0, 3:] = 100.0  # padding must not matter
    assert torch.allclose(head(pooled, changed, mask), out, atol=1e-6)
    expected = head.per_token(tokens[0, :3]).mean(0) + head.cls(pooled[0])
    assert torch.allclose(out[0], expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "mlp", "identity"])
def test_pooled_heads_shapes(kind):
    head = build_head(HeadConfig(kind=kind), in_dim=7, out_dim=5)
    assert head(torch.randn(3, 7)).shape == (3, 7 if kind == "identity" else 5)


def test_recipe_yaml_with_overrides_and_bad_values(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("loss: siglip\nepochs: 3\nimage_head:\n  kind: linear\n")
    cfg = AlignConfig.from_file(path).with_overrides({"epochs": 7, "text_head.dropout": 0.0, "lr": None})
    assert (cfg.loss, cfg.epochs, cfg.image_head.kind, cfg.text_head.dropout, cfg.lr) == ("siglip", 7, "linear", 0.0, 1e-3)
    assert AlignConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown key"):
        AlignConfig.from_dict({"epochz": 3})
    with pytest.raises(ConfigError, match="unknown config key"):
        cfg.with_overrides({"image_head.kindd": "mlp"})
    with pytest.raises(ConfigError, match="loss must be one of"):
        AlignConfig(loss="triplet").validate()
    with pytest.raises(ConfigError, match="nothing would be trained"):
        AlignConfig(image_head=HeadConfig("identity"), text_head=HeadConfig("identity")).validate()
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        AlignConfig.from_file(path)
