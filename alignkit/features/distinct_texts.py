"""Each distinct caption through the text encoder once per extraction.

Built-in and web data repeat captions a lot: the emoji training set gives every drawing style of
a concept the same names and keywords, so 49k caption rows hold about a quarter as many
distinct strings. A text encoder's pooled output depends on the string alone, so the rows that
share a string share its features; the store still gets one row per key, in the source's order.
The distinct strings go to the model longest first, so a batch pads to captions of about its
own length instead of the longest in a mixed batch.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from alignkit.encoders.base import Encoder
from alignkit.features.loading import first_of_each_key

ChunkResult = tuple[list[str], np.ndarray, Any, Any, list[dict[str, str]]]
ChunkRunner = Callable[..., list[ChunkResult]]


class DistinctTexts:
    """A chunk runner that embeds only strings it has not met in this extraction (through
    ``runner``) and answers the rest from memory; results are what ``runner`` would return."""

    def __init__(self, runner: ChunkRunner):
        self.runner = runner
        # text -> per encoder, its float16 row or the reason it was skipped
        self.known: dict[str | bytes, list[np.ndarray | str]] = {}

    def __call__(self, encoders: Sequence[Encoder], chunk: list[tuple[str, Any]], seen: set[str], batch_size: int,
                 workers: int, tokens: bool, bar: Any) -> list[ChunkResult]:
        if tokens or not all(isinstance(text, (str, bytes)) for _, text in chunk):
            return self.runner(encoders, chunk, seen, batch_size, workers, tokens, bar)
        todo, common_skips = first_of_each_key(chunk, seen)
        new: dict[str | bytes, str] = {}
        for key, text in todo:
            if text not in self.known and text not in new:
                new[text] = key
        ordered = sorted(new.items(), key=lambda kv: -len(kv[0]))
        bar.update(len(chunk) - len(ordered))
        if ordered:
            results = self.runner(encoders, [(key, text) for text, key in ordered], set(), batch_size, workers, tokens, bar)
            self._remember(ordered, results)
        return [self._rows_for(j, enc, todo, common_skips) for j, enc in enumerate(encoders)]

    def _remember(self, ordered: list[tuple[str | bytes, str]], results: list[ChunkResult]) -> None:
        per_encoder = []
        for keys, feats, _, _, skipped in results:
            found: dict[str, np.ndarray | str] = {s["key"]: s["reason"] for s in skipped}
            found.update(zip(keys, feats))
            per_encoder.append(found)
        for text, key in ordered:
            self.known[text] = [found[key] for found in per_encoder]

    def _rows_for(self, j: int, encoder: Encoder, todo: list[tuple[str, Any]],
                  common_skips: list[dict[str, str]]) -> ChunkResult:
        keys: list[str] = []
        feats: list[np.ndarray] = []
        skipped = list(common_skips)
        for key, text in todo:
            row = self.known[text][j]
            if isinstance(row, str):
                skipped.append({"key": key, "reason": row})
            else:
                keys.append(key)
                feats.append(row)
        out = np.stack(feats) if feats else np.zeros((0, encoder.dim), dtype=np.float16)
        return keys, out, None, None, skipped
