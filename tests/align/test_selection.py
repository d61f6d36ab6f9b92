"""Recipe selection on splits of the training data: folds never leak, the better recipe is chosen."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.synthetic import PLAIN_HEADS, latent_pairs
from alignkit.align import AlignConfig
from alignkit.features.pairs import CachedPairs
from alignkit.align.workflow.folds import concept_fold, domain_folds, make_folds
from alignkit.align.workflow.recipe_selection import select_recipe
from alignkit.errors import AlignkitError


def two_style_pairs(concepts: int = 80, seed: int = 0) -> CachedPairs:
    """Each concept drawn in two styles ("a/", "b/"): the same latent, a style offset, its own noise;
    both renderings share their captions, so they form one concept group."""
    base = latent_pairs(concepts, captions=2, seed=seed)
    rng = np.random.default_rng(seed + 1)
    keys, image, text_keys, text = [], [], [], []
    for style, offset in (("a", 0.0), ("b", 0.8)):
        for i, k in enumerate(base["keys"]):
            keys.append(f"{style}/{k}")
            image.append(base["image"][i] + offset + 0.1 * rng.standard_normal(base["image"].shape[1]))
            for c in range(2):
                text_keys.append(f"{style}/{k}#{c}")
                text.append(base["text"][2 * i + c])
    return CachedPairs(keys, np.array(image, np.float32), text_keys, np.array(text, np.float32))


def test_folds_hold_out_what_they_say():
    data = two_style_pairs()
    groups = data.image_groups()
    assert len(set(groups.tolist())) == 80  # the two renderings of a concept are one group
    folds = domain_folds(data.image_keys, groups)
    assert [f.name for f in folds] == ["domain a held out", "domain b held out"]
    for f in folds:
        held = f.name.split()[1]
        assert all(data.image_keys[i].startswith(f"{held}/") for i in f.val)
        assert not any(data.image_keys[i].startswith(f"{held}/") for i in f.train)
        assert set(groups[f.val]) <= set(groups[f.train])  # known concepts, new style
    c = concept_fold(groups, 0.25, seed=3)
    assert not set(groups[c.val]) & set(groups[c.train])  # no concept on both sides
    assert 0.2 <= len(c.val) / len(groups) <= 0.35
    assert concept_fold(groups, 0.25, seed=4).val.tolist() != c.val.tolist()  # the seed moves it


def test_one_domain_data_gets_only_the_concept_fold_and_bad_kinds_are_refused():
    d = latent_pairs(60, seed=2)
    data = CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"])
    assert [f.name for f in make_folds(data)] == ["20% of concepts held out"]
    with pytest.raises(AlignkitError, match="unknown fold kind"):
        make_folds(data, kinds=("styles",))
    with pytest.raises(AlignkitError, match="none of the folds"):
        make_folds(data, kinds=("domain",))


@pytest.mark.slow
def test_selection_prefers_the_recipe_that_generalises_and_scores_baselines_on_the_same_folds(tmp_path):
    data = two_style_pairs()
    base = AlignConfig.from_dict({**PLAIN_HEADS}).with_overrides(dict(epochs=15, batch_size=32, lr=3e-3, embed_dim=16, style_shift=0.0, refit=False, val_fraction=0.0))
    candidates = {"one epoch": base.with_overrides({"epochs": 1, "lr": 1e-5}), "fifteen epochs": base}
    sel = select_recipe(candidates, data, tmp_path, baselines=("procrustes",))
    assert sel.chosen == "fifteen epochs"
    assert sel.scores["fifteen epochs"] > sel.scores["one epoch"] + 0.1
    folds = {r["fold"] for r in sel.rows}
    assert folds == {"domain a held out", "domain b held out", "20% of concepts held out"}
    assert {r["model"] for r in sel.rows} == {"one epoch", "fifteen epochs", "procrustes"}
    for (model, fold), hits in sel.hits.items():  # per-item hits for paired comparisons, one per validation image
        row = next(r for r in sel.rows if r["model"] == model and r["fold"] == fold)
        assert len(hits) == row["images"] and hits.mean() == pytest.approx(row["i2t_R@1"])
    assert (tmp_path / "fifteen-epochs" / "domain-a-held-out" / "model.safetensors").exists()
