"""Loading an aligned model by hub id from a hub cache laid out as huggingface_hub writes it
(blobs, snapshots/<commit> symlinks, refs/<branch>), offline, with every socket refused; and the
open_clip-style factory on top of it."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import alignkit
from alignkit.align.model.aligned_model import AlignedModel, ModelLoadError
from tests.helpers.color_models import COLORS, color_model, publish_to_hub_cache

COMMIT_OLD = "1" * 40
COMMIT_NEW = "2" * 40


@pytest.fixture()
def published(tmp_path, hub_cache):
    """org/colors with two commits: the old one tagged v1, main at the new one (other temperature)."""
    old = color_model().save_pretrained(tmp_path / "old")
    new = color_model(scale_bias=0.5).save_pretrained(tmp_path / "new")
    publish_to_hub_cache(old, hub_cache, "org/colors", COMMIT_OLD, refs=("v1",))
    publish_to_hub_cache(new, hub_cache, "org/colors", COMMIT_NEW, refs=("main",))
    return {"old": old, "new": new}


def _same(a: AlignedModel, b: AlignedModel) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return a.info == b.info and sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_hub_id_loads_from_the_cache_offline_at_each_revision(published):
    local_new = AlignedModel.from_pretrained(published["new"], device="cpu")
    local_old = AlignedModel.from_pretrained(published["old"], device="cpu")
    assert not _same(local_new, local_old)  # the two versions are distinguishable

    assert _same(AlignedModel.from_pretrained("org/colors", device="cpu"), local_new)  # refs/main
    assert _same(AlignedModel.from_pretrained("org/colors", revision="v1", device="cpu"), local_old)  # a tag
    assert _same(AlignedModel.from_pretrained("org/colors", revision=COMMIT_OLD, device="cpu"), local_old)  # a commit

    # and it encodes like the folder it was published from
    probe = [Image.new("RGB", (10, 10), rgb) for rgb in COLORS.values()]
    hub = AlignedModel.from_pretrained("org/colors", device="cpu")
    assert torch.equal(hub.encode_image(probe), local_new.encode_image(probe))


def test_unknown_ids_and_revisions_are_one_clear_error(published, tmp_path):
    with pytest.raises(ModelLoadError, match=r"org/missing is not an aligned model folder here.*hub cache.*HF_HUB_OFFLINE=1"):
        AlignedModel.from_pretrained("org/missing")
    with pytest.raises(ModelLoadError, match=r"revision 'v9'"):
        AlignedModel.from_pretrained("org/colors", revision="v9")
    with pytest.raises(ModelLoadError, match="nor a hub id"):
        AlignedModel.from_pretrained(tmp_path / "no" / "such" / "folder")
    with pytest.raises(ModelLoadError, match="applies to hub ids only"):
        AlignedModel.from_pretrained(published["new"], revision="v1")
    with pytest.raises(ModelLoadError, match="is a file"):
        AlignedModel.from_pretrained(published["new"] / "config.json")


def test_a_snapshot_without_the_weights_is_refused(tmp_path, hub_cache):
    folder = color_model().save_pretrained(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    publish_to_hub_cache(folder, hub_cache, "org/half", COMMIT_OLD)
    with pytest.raises(ModelLoadError, match="not an aligned model folder"):
        AlignedModel.from_pretrained("org/half")


def test_create_model_and_transforms_by_hub_id(published):
    model, preprocess, tokenizer = alignkit.create_model_and_transforms("org/colors", device="cpu")
    assert not model.training and _same(model.aligned, AlignedModel.from_pretrained(published["new"], device="cpu"))
    images = torch.stack([preprocess(Image.new("RGB", (12, 12), rgb)) for rgb in COLORS.values()])
    img = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
    txt = torch.nn.functional.normalize(model.encode_text(tokenizer([f"{c}" for c in COLORS])), dim=-1)
    assert (img @ txt.T).argmax(1).tolist() == [0, 1, 2]  # each colour finds its own word
    _, _, scale = model(images, tokenizer(list(COLORS)))
    assert float(scale) == pytest.approx(1 / model.aligned.temperature, rel=1e-5)
    # the old tagged version loads through the factory too
    old, _, _ = alignkit.create_model_and_transforms("org/colors", revision="v1", device="cpu")
    assert old.aligned.info["logit_scale"] != model.aligned.info["logit_scale"]
