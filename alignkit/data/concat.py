"""``SPEC1 + SPEC2 [+ ...]``: several pair sources read one after the other as one source.

Keys are prefixed with the source's position (``0:``, ``1:``, ...) so two sources can never
claim the same key; each source's own skips are kept, with the prefixed key.
"""

from __future__ import annotations

from typing import Any, Iterator

from alignkit.data.base import Pair, PairSource, Skip

SEPARATOR = " + "


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
