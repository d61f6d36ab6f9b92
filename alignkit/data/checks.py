"""Checks shared by every source: usable captions, duplicate keys, missing files, each skip with its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from alignkit.data.base import ImageRef, Pair, Skip
from alignkit.errors import BadItemError


def clean_caption(raw: Any) -> str:
    """A caption as one clean line of text, or ``BadItemError`` saying why it is unusable.

    Bytes must be UTF-8; whitespace runs collapse to one space; empty results are refused.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadItemError("caption is not valid UTF-8") from None
    if raw is None:
        raise BadItemError("missing caption")
    if not isinstance(raw, str):
        raise BadItemError(f"caption is not text but {type(raw).__name__}")
    if "\ufffd" in raw or any("\ud800" <= ch <= "\udfff" for ch in raw):
        raise BadItemError("caption is not valid UTF-8 (undecodable bytes)")
    text = " ".join(raw.split())
    if not text:
        raise BadItemError("empty or whitespace-only caption")
    return text


def clean_captions(key: str, raws: Iterable[Any], skipped: list[Skip]) -> list[str]:
    """Keep the usable captions of one item (in order, without repeats); record each dropped one."""
    out: list[str] = []
    for i, raw in enumerate(raws):
        try:
            text = clean_caption(raw)
        except BadItemError as e:
            skipped.append(Skip(f"{key}#{i}", str(e)))
            continue
        if text not in out:
            out.append(text)
    return out


def as_caption_list(value: Any) -> list[Any]:
    """A caption cell may hold one string or a list of strings; always return a list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


class PairChecker:
    """Turns raw (key, image, captions) records into ``Pair`` or a recorded skip.

    Keeps the first of duplicate keys, drops unusable captions (and the pair when none are
    left), and refuses local image paths that do not exist, all recorded in ``skipped``.
    """

    def __init__(self, skipped: list[Skip]):
        self.skipped = skipped
        self.seen: set[str] = set()

    def check(self, key: str, image: ImageRef | None, raw_captions: Iterable[Any], meta: dict[str, Any] | None = None) -> Pair | None:
        if key in self.seen:
            self.skipped.append(Skip(key, "duplicate key: kept the first"))
            return None
        self.seen.add(key)
        if image is None:
            self.skipped.append(Skip(key, "no image"))
            return None
        if isinstance(image, (str, Path)) and not Path(image).is_file():
            self.skipped.append(Skip(key, f"missing file: {image}"))
            return None
        dropped: list[Skip] = []
        captions = clean_captions(key, raw_captions, dropped)
        if not captions:  # one skip for the pair, not one per caption as well: one bad row counts once
            why = f": {dropped[0].reason}" if dropped else ""
            self.skipped.append(Skip(key, f"no usable caption{why}"))
            return None
        self.skipped.extend(dropped)  # a kept pair's dropped captions, each recorded
        return Pair(key, image, captions, meta or {})
