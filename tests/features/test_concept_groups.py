"""Training groups come from the source's concept ids where it names them, not from caption
identity: cat and cat face share the caption "cat" but are two concepts; the Google
and Twitter drawings of one emoji are one."""

from __future__ import annotations

import numpy as np
import pytest

from alignkit.features.pairs import CachedPairs, PairsError
from alignkit.features.groups import groups_from_concepts
from alignkit.bench.train_runs import subset


def cat_data(concepts):
    """Four images: cat and cat face in two styles; every image's only caption is "cat"."""
    keys = ["google/1f408", "google/1f431", "twitter/1f408", "twitter/1f431"]
    rng = np.random.default_rng(0)
    text = np.repeat(rng.standard_normal((1, 6)), 4, axis=0).astype(np.float32)  # one caption string, four times
    return CachedPairs(keys, rng.standard_normal((4, 5)), [f"{k}#0" for k in keys], text, concepts=concepts)


def test_identical_captions_no_longer_merge_two_concepts():
    by_caption = cat_data(None).image_groups()
    assert len(set(by_caption.tolist())) == 1  # the old rule: one caption, one group
    by_concept = cat_data(["1f408", "1f431", "1f408", "1f431"]).image_groups()
    assert by_concept.tolist() == [0, 1, 0, 1]  # each emoji in both styles; cat apart from cat face


def test_rows_without_a_concept_fall_back_to_captions_among_themselves():
    owner = np.array([0, 1, 2, 3])
    ids = np.array([7, 7, 7, 8])  # rows 0-2 share a caption
    groups = groups_from_concepts(["a", None, None, "a"], owner, ids)
    assert groups.tolist() == [0, 1, 1, 0]  # row 0's caption does not pull the concept-less rows in


def test_concepts_follow_rows_through_the_join_and_the_bench_subset():
    data = cat_data(["1f408", "1f431", "1f408", "1f431"])
    assert data.concepts == ["1f408", "1f431", "1f408", "1f431"]
    small = subset(data, 3, seed=0)
    assert small.concepts == [c for k, c in zip(data.image_keys, data.concepts) if k in small.image_keys]
    with pytest.raises(PairsError, match="3 concept ids for 4 image keys"):
        cat_data(["a", "b", "c"])
