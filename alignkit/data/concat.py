"""``SPEC1 + SPEC2 [+ ...]``: several pair sources read one after the other as one source.

Keys are prefixed with the source's position (``0:``, ``1:``, ...) so two sources can never
claim the same key; each source's own skips are kept, with the prefixed key.
"""

from __future__ import annotations

from typing import Any, Iterator

from alignkit.data.base import Pair, PairSource, Skip


class ConcatSource(PairSource):
    def __init__(self, specs: list[str]):
        super().__init__()
        self.specs = specs
        self.name = "+".join(specs)

    def __iter__(self) -> Iterator[Pair]:
        from alignkit.data.sources import open_source

        self.skipped = []
        for i, spec in enumerate(self.specs):
            source = open_source(spec)
            for pair in source:
                yield Pair(f"{i}:{pair.key}", pair.image, pair.captions, pair.meta)
            self.skipped += [Skip(f"{i}:{s.key}", s.reason) for s in source.skipped]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "ConcatSource", "sources": self.specs}

    def concept_of(self, key: str) -> str | None:
        """The concept of ``<i>:<key>`` as source i names it (one emoji in two sources stays one concept)."""
        from alignkit.data.sources import open_source

        index, sep, rest = key.partition(":")
        if not sep or not index.isdigit() or int(index) >= len(self.specs):
            return None
        if not hasattr(self, "_parts"):
            self._parts: dict[int, PairSource] = {}
        part = self._parts.get(int(index)) or self._parts.setdefault(int(index), open_source(self.specs[int(index)]))
        return part.concept_of(rest)
