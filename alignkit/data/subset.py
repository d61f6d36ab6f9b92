"""``subset:PATH/subset.json``: the pairs of another source whose keys a curation run chose.

The manifest names the pool's own ``--data`` spec and the chosen keys; pairs are read from the
pool in its own order and filtered, so images, captions and keys are exactly the pool's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from alignkit.data.base import Pair, PairSource, Skip
from alignkit.errors import AlignkitError

SUBSET_FORMAT = "alignkit-subset/1"


class SubsetSource(PairSource):
    def __init__(self, manifest: str | Path):
        super().__init__()
        path = Path(manifest)
        if path.is_dir():
            path = path / "subset.json"
        if not path.is_file():
            raise AlignkitError(f"subset manifest not found: {path} (write one with `alignkit curate`)")
        meta = _read_manifest(path)
        self.path = path
        self.pool_spec: str = meta["source"]
        self.keys: list[str] = list(meta["keys"])
        self.name = f"subset-{path.parent.name}"

    def __iter__(self) -> Iterator[Pair]:
        from alignkit.data.sources import open_source

        want = set(self.keys)
        pool = open_source(self.pool_spec)
        found = set()
        for pair in pool:
            if pair.key in want:
                found.add(pair.key)
                yield pair
        self.skipped = [s for s in pool.skipped if s.key in want]
        self.skipped += [Skip(k, "selected key not found in the pool") for k in self.keys if k not in found]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": "SubsetSource", "pool": self.pool_spec, "pairs": len(self.keys), "manifest": str(self.path)}

    def concept_of(self, key: str) -> str | None:
        """The pool's concept for a chosen key."""
        from alignkit.data.sources import open_source

        if not hasattr(self, "_pool"):
            self._pool = open_source(self.pool_spec)
        return self._pool.concept_of(key)


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest, its shape checked: a truncated file, a missing field or ``"keys": "k8"`` (a
    string, which would be read character by character) is an error naming the file, never a guess."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AlignkitError(f"{path} is not valid JSON ({e}); it may be truncated: rerun `alignkit curate` to write it again") from None
    if not isinstance(meta, dict) or meta.get("format") != SUBSET_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise AlignkitError(f"{path} is not an alignkit subset manifest (format {found!r})")
    if not isinstance(meta.get("source"), str) or not meta["source"].strip():
        raise AlignkitError(f"{path}: 'source' must be the pool's --data spec (a string), got {meta.get('source')!r}")
    keys = meta.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise AlignkitError(f"{path}: 'keys' must be a list of key strings, got {keys!r}"[:300])
    return meta
