"""Repeated captions reach the text encoder once per extraction, and the store is row for row
what embedding every caption would give: same keys in source order, same features, same skips."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from alignkit.encoders.base import EncoderOutput
from alignkit.features.extract import embed_items
from tests.helpers.fakes import FakeTextEncoder


class CountingText(FakeTextEncoder):
    """Letter histograms, counting every string the model is run on."""

    def __init__(self) -> None:
        super().__init__("counting-text")
        self.calls: list[str] = []

    def forward(self, batch: Sequence[str], tokens: bool = False) -> EncoderOutput:
        self.calls.extend(batch)
        out = super().forward(list(batch), tokens)
        if not tokens:  # "nan" makes a non-finite row, like a model that overflows on one input
            for i, text in enumerate(batch):
                if text == "nan":
                    out.pooled[i, 0] = float("nan")
        return out


ITEMS = [("a/0", "a red apple"), ("b/0", "dog"), ("a/1", "a red apple"), ("c/0", "   "), ("d/0", "nan"),
         ("e/0", "dog"), ("b/0", "dog"), ("f/0", "nan"), ("g/0", "a cat on a long mat"), ("h/0", "   ")]


def test_each_distinct_caption_is_embedded_once_and_rows_keep_their_keys(tmp_path):
    enc = CountingText()
    store = embed_items(enc, ITEMS, tmp_path / "s", shard_size=4, batch_size=2, num_workers=0, progress=False)
    # every distinct usable string once, though the shards split repeats apart
    assert sorted(enc.calls) == sorted(["a red apple", "dog", "nan", "a cat on a long mat"])
    keys, feats = store.load()
    assert keys == ["a/0", "b/0", "a/1", "e/0", "g/0"]
    reference = FakeTextEncoder().forward(["a red apple", "dog", "a red apple", "dog", "a cat on a long mat"]).pooled
    np.testing.assert_array_equal(feats, reference.numpy().astype(np.float16).astype(np.float32))
    reasons = {s["key"]: s["reason"] for s in store.skipped}
    assert reasons["b/0"] == "duplicate key"
    assert "non-finite" in reasons["d/0"] and "non-finite" in reasons["f/0"]
    assert set(reasons) == {"b/0", "c/0", "d/0", "f/0", "h/0"}


def test_token_extraction_still_runs_every_row(tmp_path):
    enc = CountingText()
    items = [("a/0", "dog"), ("a/1", "dog"), ("a/2", "cat")]
    embed_items(enc, items, tmp_path / "t", tokens=True, batch_size=8, num_workers=0, progress=False)
    assert sorted(enc.calls) == ["cat", "dog", "dog"]
