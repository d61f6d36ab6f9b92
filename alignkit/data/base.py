"""The data contracts: image-caption pairs, what a source yields, and how items are skipped.

Every source yields ``Pair`` records in a deterministic order. A pair whose image or captions
cannot be used is not silently dropped: the source (or the feature extractor, for images that
fail to decode) records a ``Skip`` with the key and the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Union

from PIL import Image

# What an image reference may be: a path, raw encoded bytes, or an already-decoded image.
ImageRef = Union[str, Path, bytes, Image.Image]

CAPTION_SEP = "#"  # text rows are keyed "<pair key>#<caption index>"


@dataclass
class Pair:
    key: str
    image: ImageRef
    captions: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skip:
    key: str
    reason: str


class PairSource(ABC):
    """An iterable of ``Pair`` in a fixed order, plus the skips it made while reading."""

    name: str = "source"

    def __init__(self) -> None:
        self.skipped: list[Skip] = []

    @abstractmethod
    def __iter__(self) -> Iterator[Pair]:
        """Yield pairs in a deterministic order (resumable jobs rely on it)."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": type(self).__name__}

    def concept_of(self, key: str) -> str | None:
        """The concept a pair key shows (the same emoji in two styles: one concept), or None.

        Training groups images by concept where the source knows it (positives in the loss,
        hits in validation, style-shift pairs); without it, identical captions make a group.
        """
        return None


def image_items(pairs: Iterable[Pair]) -> Iterator[tuple[str, ImageRef]]:
    """(key, image) items for the feature extractor."""
    for p in pairs:
        yield p.key, p.image


def caption_items(pairs: Iterable[Pair]) -> Iterator[tuple[str, str]]:
    """(key#i, caption) items for the feature extractor: one row per caption."""
    for p in pairs:
        for i, c in enumerate(p.captions):
            yield f"{p.key}{CAPTION_SEP}{i}", c


def pair_key_of(text_key: str) -> str:
    """The pair key a text row belongs to."""
    return text_key.rsplit(CAPTION_SEP, 1)[0]


def summarize_skips(skips: Iterable[Skip | dict[str, str]]) -> dict[str, int]:
    """Count skips by reason (details after the first ':' are dropped), most frequent first."""
    counts: dict[str, int] = {}
    for s in skips:
        reason = s["reason"] if isinstance(s, dict) else s.reason
        head = reason.split(":", 1)[0].strip()
        counts[head] = counts.get(head, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
