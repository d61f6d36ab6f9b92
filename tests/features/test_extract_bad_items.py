"""A source with bad images in the middle, through the real feature extractor: decode failures
are recorded with their reasons and every stored row keeps its own key (its mean colour is the
colour its key was drawn with)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alignkit.data import caption_items, image_items, open_source, summarize_skips
from alignkit.features import embed_items
from tests.helpers.images import colour_of, index_of_colour, png_bytes, write_tar
from tests.helpers.fakes import FakeImageEncoder  # pooled feature starts with the mean colour


def test_decode_failures_recorded_rows_aligned(tmp_path: Path) -> None:
    members: list[tuple[str, bytes]] = []
    bad = {3: b"", 4: png_bytes(4)[:40], 7: b"GIF89a garbage", 9: png_bytes(9)[:-30]}
    for i in range(12):
        members += [(f"{i:04d}.png", bad.get(i, png_bytes(i))), (f"{i:04d}.txt", f"item {i}".encode())]
    write_tar(tmp_path / "s.tar", members)
    source = open_source(f"wds:{tmp_path}/s.tar")
    pairs = list(source)
    assert len(pairs) == 12 and not source.skipped  # the source cannot know; decoding finds out

    store = embed_items(FakeImageEncoder(), image_items(pairs), tmp_path / "feats", shard_size=5, batch_size=3, num_workers=0, progress=False)
    keys, feats = store.load()
    reasons = {s["key"]: s["reason"] for s in store.skipped}
    assert set(reasons) == {f"{i:04d}" for i in bad}
    assert "0 bytes" in reasons["0003"] and "not a recognised" in reasons["0007"]
    assert "corrupt" in reasons["0009"], reasons  # truncated stream
    assert summarize_skips(store.skipped)  # counts by reason for the run summary
    assert keys == [f"{i:04d}" for i in range(12) if i not in bad]
    for key, row in zip(keys, feats):
        mean_rgb = tuple(np.asarray(row[:3], dtype=np.float64) * 255.0)
        assert index_of_colour(mean_rgb) == int(key), key
        assert np.allclose(mean_rgb, colour_of(int(key)), atol=1.5)

    texts = dict(caption_items(pairs))
    assert texts["0005#0"] == "item 5" and len(texts) == 12
