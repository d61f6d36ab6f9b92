"""webdataset tar shards in img2dataset's layout, read with ``tarfile`` in streaming mode.

A sample is the run of consecutive members sharing a key (the member name up to the first
dot of its file name): ``KEY.jpg|jpeg|png|webp`` the image, ``KEY.txt`` the caption, and an
optional ``KEY.json`` whose ``caption``/``captions`` add more and whose fields become meta.
Shard patterns use brace expansion (``shards-{000..009}.tar``); paths may be fsspec URLs.
"""

from __future__ import annotations

import json
import tarfile
from typing import Any, Iterator

from alignkit.data.base import Pair, PairSource, Skip
from alignkit.data.checks import PairChecker, as_caption_list
from alignkit.errors import AlignkitError

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")


def expand_shards(pattern: str) -> list[str]:
    """Every shard a brace pattern names, in order (``a-{00..02}.tar`` -> three names)."""
    from braceexpand import braceexpand

    shards = [s for part in pattern.split("::") for s in braceexpand(part)]
    if not shards:
        raise AlignkitError(f"shard pattern {pattern!r} names no files")
    return shards


def _split_member(name: str) -> tuple[str, str]:
    """``dir/000123.jpg`` -> (``dir/000123``, ``jpg``); the extension is lower-cased."""
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1 :].lower()


class WebDatasetSource(PairSource):
    """Pairs from webdataset shards; unreadable shards and incomplete samples are skipped."""

    name = "wds"

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern
        self.shards = expand_shards(pattern)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pattern": self.pattern, "shards": len(self.shards)}

    def __iter__(self) -> Iterator[Pair]:
        self.skipped = []
        checker = PairChecker(self.skipped)
        for shard in self.shards:
            yield from self._read_shard(shard, checker)

    def _read_shard(self, shard: str, checker: PairChecker) -> Iterator[Pair]:
        import fsspec

        try:
            with fsspec.open(shard, "rb") as f, tarfile.open(fileobj=f, mode="r|*") as tar:
                key: str | None = None
                parts: dict[str, bytes] = {}
                for member in tar:
                    if not member.isfile():
                        continue
                    mkey, ext = _split_member(member.name)
                    if mkey != key:
                        if key is not None:
                            pair = self._assemble(key, parts, checker, shard)
                            if pair is not None:
                                yield pair
                        key, parts = mkey, {}
                    data = tar.extractfile(member)
                    if ext not in parts:  # a repeated member inside one sample: keep the first
                        parts[ext] = data.read() if data is not None else b""
                if key is not None:
                    pair = self._assemble(key, parts, checker, shard)
                    if pair is not None:
                        yield pair
        except FileNotFoundError:
            self.skipped.append(Skip(shard, "missing shard"))
        except (tarfile.TarError, EOFError, OSError) as e:
            self.skipped.append(Skip(shard, f"unreadable shard (samples after the damage are lost): {e}"))

    def _assemble(self, key: str, parts: dict[str, bytes], checker: PairChecker, shard: str) -> Pair | None:
        image = next((parts[e] for e in IMAGE_EXTS if e in parts), None)
        raws: list[Any] = [parts["txt"]] if "txt" in parts else []
        meta: dict[str, Any] = {"shard": shard}
        if "json" in parts:
            try:
                info = json.loads(parts["json"].decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                self.skipped.append(Skip(f"{key}.json", "unreadable json sidecar: ignored"))
                info = None
            if isinstance(info, dict):
                raws += as_caption_list(info.get("caption")) + as_caption_list(info.get("captions"))
                meta.update({k: v for k, v in info.items() if k not in ("caption", "captions")})
        return checker.check(key, image, raws, meta)
