"""What the two rendered drawing sets (clip art, icons) share: an ``index.jsonl`` of records
beside ``png/<key>.png``, ``split=all|train``, and the train split's held-out-concept filter.

Why one place: the leak filter is what keeps a held-out emoji concept out of training through a
drawing set, so every such set must apply the same rule (`heldout_match`), and the way a missing
render or a held-out drawing is recorded as a skip must not drift between them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from alignkit.data.base import Pair, PairSource, Skip
from alignkit.data.builtin.set_storage import ready_info
from alignkit.data.checks import PairChecker
from alignkit.errors import AlignkitError, NotInstalledError

SPLITS = ("all", "train")
Held = tuple[dict[str, str], dict[str, str], set[str]]


def clean_title(title: str) -> str:
    """A title without underscores and trailing serial numbers ("Red hammer2" -> "Red hammer")."""
    return re.sub(r"(?<=[a-zA-Z])[\d_]+$", "", title.replace("_", " ")).strip()


def heldout_terms(concepts: list[Any]) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """What a clip-art drawing must not name to be trained on, from the held-out emoji concepts:
    (names: every caption and short name, normalised -> the concept's name; the same plus every
    CLDR keyword; the name stems the held-out concept families were built on)."""
    from alignkit.data.builtin.emoji import split_concepts
    from alignkit.data.builtin.emoji_concepts import captions_of, name_stem, normalise_caption

    _, held = split_concepts(concepts)
    names: dict[str, str] = {}
    words: dict[str, str] = {}
    stems: set[str] = set()
    for c in held:
        for n in captions_of(c) + [s.replace("_", " ") for s in c.short_names]:
            names.setdefault(normalise_caption(n), c.name)
        for k in c.keywords:
            words.setdefault(normalise_caption(k), c.name)
        stems |= {s for s in (name_stem(c.name), name_stem(c.unicode_name)) if s}
    names.pop("", None)
    words.pop("", None)
    return names, {**words, **names}, stems


def heldout_match(rec: dict[str, Any], held: tuple[dict[str, str], dict[str, str], set[str]]) -> str | None:
    """Why a clip-art record must stay out of training, or None. It is out when its title is a
    held-out concept's name, short name or keyword, or has a held-out family's head noun; when any
    of its captions is a held-out caption; or when one of its keywords is a held-out concept's name."""
    from alignkit.data.builtin.emoji_concepts import name_stem, normalise_caption

    names, terms, stems = held
    title = normalise_caption(clean_title(rec["title"]))
    if title in terms:
        return f"title names held-out emoji concept {terms[title]!r}: {rec['title'][:60]!r}"
    stem = name_stem(clean_title(rec["title"]))
    if stem and (stem in stems or (stem.endswith("s") and stem[:-1] in stems)):
        return f"title's head noun {stem!r} is a held-out emoji concept family: {rec['title'][:60]!r}"
    for text in [*rec["captions"], *rec.get("keywords", [])]:
        norm = normalise_caption(text)
        if norm in names:
            return f"caption or keyword names held-out emoji concept {names[norm]!r}: {text[:60]!r}"
    return None


class RenderedSetSource(PairSource):
    """A rendered drawing set as pairs; subclasses say where it lives, what a pair's meta holds
    and how a record names its concept. ``split="train"`` leaves out every drawing `heldout_match`
    finds (needs the emoji set)."""

    set_name = ""

    def __init__(self, n: int | None = None, split: str = "all"):
        super().__init__()
        if split not in SPLITS:
            raise AlignkitError(f"unknown {self.set_name} split {split!r}; choose from {list(SPLITS)}")
        if not self._present():
            raise NotInstalledError(f"the {self.set_name} set is not rendered into {self._folder()} (or was by an older "
                                    "alignkit); " + self._next_step())
        self.n = n
        self.split = split
        self._concepts: dict[str, str] | None = None

    # ---- what a subclass says ----
    def _folder(self) -> Path:
        raise NotImplementedError

    def _present(self) -> bool:
        raise NotImplementedError

    def _next_step(self) -> str:
        raise NotImplementedError

    def _meta(self, rec: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _concept(self, rec: dict[str, Any], emoji_names: dict[str, str]) -> str:
        raise NotImplementedError

    # ---- shared ----
    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split}

    def _emoji(self) -> tuple[Held, dict[str, str]]:
        """(`heldout_terms`, normalised training emoji name -> code); empty for split=all."""
        if self.split != "train":
            return ({}, {}, set()), {}
        from alignkit.data.builtin.emoji import load_concepts, split_concepts
        from alignkit.data.builtin.emoji_concepts import normalise_caption

        concepts = load_concepts()
        train, _ = split_concepts(concepts)
        names: dict[str, str] = {}
        for c in train:
            names.setdefault(normalise_caption(c.name), c.code)
        return heldout_terms(concepts), names

    def _records(self) -> Iterator[dict[str, Any]]:
        with open(self._folder() / "index.jsonl", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    def concept_of(self, key: str) -> str | None:
        if self._concepts is None:
            names = self._emoji()[1]
            self._concepts = {r["key"]: self._concept(r, names) for r in self._records()}
        return self._concepts.get(key)

    def __iter__(self) -> Iterator[Pair]:
        self.skipped = []
        checker = PairChecker(self.skipped)
        root = self._folder()
        failed = {f["key"]: f["reason"] for f in ready_info(root).get("render_failures", [])}
        held, _ = self._emoji()
        count = 0
        for rec in self._records():
            if self.n is not None and count >= self.n:
                return
            png = root / "png" / f"{rec['key']}.png"
            if not png.exists():
                why = failed.get(rec["key"], f"not rendered (run `alignkit data fetch {self.set_name}` without --limit)")
                self.skipped.append(Skip(rec["key"], why))
                continue
            if self.split == "train":
                why = heldout_match(rec, held)
                if why:
                    self.skipped.append(Skip(rec["key"], f"held out: {why}"))
                    continue
            pair = checker.check(rec["key"], str(png), rec["captions"], self._meta(rec))
            if pair is not None:
                count += 1
                yield pair
