"""The built-in ``emoji`` set: the same concepts drawn in several styles, with human-written names.

Fetched with ``npm pack`` (no node code runs): Google and Twitter 64 px PNGs with
``emoji.json`` (names, short names, categories) from emoji-datasource; Fluent 3D WebPs; and
OpenMoji SVGs (rendered to PNG) whose CLDR names and keywords enrich the captions.

Two deterministic held-out tests:

* **unseen style**: train on Google + Twitter drawings of the training concepts (and, where
  named with ``style=``, the extra training styles of `emoji_styles`: Apple, Facebook, Noto v1,
  EmojiOne); evaluate on Fluent 3D (or OpenMoji) drawings of the same concepts, a style never
  seen in training (the train and probe splits refuse those two styles).
* **unseen concepts**: a fifth of the concepts never appears in training, in any style.
  Concepts are held out by whole *concept family* (`concept_families`): union-find over every
  shared normalised caption, every shared name stem (the head noun: "black cat", "cat face"
  and "cat" are one family; so are the keycaps, the clock faces, the moon phases, the hearts)
  and every twin group (gender and person variants of one emoji, all flags). So no caption of
  a held-out concept is a training caption, and no near-twin of it is trained on (tested on
  the fetched data). Families are taken in the order of a stable hash until a fifth of the
  concepts is reached.

Each pair carries its concept id (the code point sequence) in ``meta["concept"]`` and
`EmojiSource.concept_of` maps a key back to it, so training groups the Google and Twitter
drawings of one emoji, and only those, as one concept (cat and cat face stay two).

This module holds the splits, the pair source and the tasks; fetching is ``emoji_fetch``,
concepts, captions and families are ``emoji_concepts`` (their names are importable from here).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

from alignkit.data.base import Pair, PairSource, Skip
from alignkit.data.builtin.emoji_concepts import (  # noqa: F401 (the set's public names, importable from here)
    Concept,
    captions_of,
    concept_families,
    folder,
    load_concepts,
    name_stem,
    normalise_caption,
)
from alignkit.data.builtin.emoji_fetch import HELDOUT_STYLES, LICENCE, PACKAGES, SUFFIX, TRAIN_STYLES, fetch, present  # noqa: F401
from alignkit.data.builtin.emoji_fetch import STYLES as CORE_STYLES
from alignkit.data.builtin import emoji_styles
from alignkit.data.checks import PairChecker
from alignkit.data.tasks import ClassificationTask, LabeledItem, RetrievalTask, bundled_json
from alignkit.errors import AlignkitError, NotInstalledError

# the styles a model may train on: the two fetched with the set, and the extra sets (`emoji_styles`)
TRAINING_STYLES = TRAIN_STYLES + tuple(emoji_styles.EXTRA_STYLES)
STYLES = TRAINING_STYLES + HELDOUT_STYLES
HELDOUT_FRACTION = 0.2
SPLIT_SALT = "alignkit-emoji-split-v1"


def _stable_hash(text: str) -> str:
    return hashlib.sha256(f"{SPLIT_SALT}:{text}".encode()).hexdigest()


def heldout_codes(concepts: list[Concept], family: dict[str, str] | None = None) -> set[str]:
    """The unseen-concept fifth: whole families (``family``: code -> family id, by default
    `concept_families`), in stable-hash order of the family id, up to the target count."""
    family = concept_families(concepts) if family is None else family
    groups: dict[str, list[str]] = {}
    for c in concepts:
        groups.setdefault(family[c.code], []).append(c.code)
    target = round(HELDOUT_FRACTION * len(concepts))
    held: set[str] = set()
    for g in sorted(groups, key=_stable_hash):
        if len(held) + len(groups[g]) <= target:
            held.update(groups[g])
    return held


def split_concepts(concepts: list[Concept]) -> tuple[list[Concept], list[Concept]]:
    """(training concepts, held-out concepts), both in emoji.json order."""
    held = heldout_codes(concepts)
    return [c for c in concepts if c.code not in held], [c for c in concepts if c.code in held]


# ---------------------------------------------------------------------------------------------
# sources and tasks

SPLITS = ("train", "probe", "unseen-style", "unseen-concepts")
DEFAULT_STYLES = {"train": "google,twitter", "probe": "google", "unseen-style": "fluent", "unseen-concepts": "google"}
PROBE_SIZE = 512


def _styles(value: str, split: str = "train") -> list[str]:
    """The styles named in ``value``; a training-side split (train, probe) refuses the held-out styles."""
    styles = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in styles if s not in STYLES]
    if bad or not styles:
        raise AlignkitError(f"unknown emoji style(s) {bad or value!r}; choose from {list(STYLES)}")
    held = [s for s in styles if s in HELDOUT_STYLES]
    if held and split in ("train", "probe"):
        raise AlignkitError(f"emoji style(s) {held} are held out (the unseen-style tests) and never in the {split} split; "
                            f"choose from {list(TRAINING_STYLES)}")
    return styles


def image_path(style: str, code: str) -> Path:
    """Where the drawing of concept ``code`` in ``style`` lives (an extra style has its own set folder)."""
    if style in emoji_styles.EXTRA_STYLES:
        return emoji_styles.image_path(style, code)
    return folder() / style / f"{code}{SUFFIX[style]}"


def extra_styles_in(value: str | None) -> list[str]:
    """The extra-style sets (``emoji-<style>``) a ``style=`` value needs."""
    return [s.strip() for s in (value or "").split(",") if s.strip() in emoji_styles.EXTRA_STYLES]


def select(split: str, n: int | None = None) -> list[Concept]:
    """The concepts of a split (``probe``: a fixed, hash-ordered subset of training concepts)."""
    if split not in SPLITS:
        raise AlignkitError(f"unknown emoji split {split!r}; choose from {list(SPLITS)}")
    train, held = split_concepts(load_concepts())
    chosen = held if split == "unseen-concepts" else train
    if split == "probe":
        chosen = sorted(chosen, key=lambda c: _stable_hash("probe:" + c.code))[: n or PROBE_SIZE]
    elif n:
        chosen = sorted(chosen, key=lambda c: _stable_hash("subset:" + c.code))[:n]
    order = {c.code: i for i, c in enumerate(load_concepts())}
    return sorted(chosen, key=lambda c: order[c.code])


class EmojiSource(PairSource):
    """Pairs (one per concept and style) for a split; keys are ``<style>/<code>``."""

    name = "builtin:emoji"

    def __init__(self, split: str = "train", styles: str | None = None, n: int | None = None):
        super().__init__()
        if not present():
            raise NotInstalledError(f"the emoji set is not fetched into {folder()}; run `alignkit data fetch emoji`")
        self.split = split
        self.styles = _styles(styles or DEFAULT_STYLES.get(split, "google"), split)
        missing = [s for s in self.styles if s in emoji_styles.EXTRA_STYLES and not emoji_styles.present(s)]
        if missing:
            raise NotInstalledError(f"emoji style(s) {missing} are not fetched; run `alignkit data fetch "
                                    + " ".join(emoji_styles.EXTRA_STYLES[s].set_name for s in missing) + "`")
        self.concepts = select(split, n)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "styles": self.styles, "concepts": len(self.concepts)}

    def concept_of(self, key: str) -> str | None:
        """The concept (code point sequence) a ``<style>/<code>`` key shows, for grouping in training."""
        style, _, code = key.partition("/")
        return code if style in STYLES and code else None

    def __iter__(self) -> Iterator[Pair]:
        self.skipped = []
        checker = PairChecker(self.skipped)
        for style in self.styles:
            for c in self.concepts:
                path = image_path(style, c.code)
                key = f"{style}/{c.code}"
                if not path.exists():
                    self.skipped.append(Skip(key, f"no {style} drawing of this emoji"))
                    continue
                meta = {"style": style, "category": c.category, "subcategory": c.subcategory, "concept": c.code}
                pair = checker.check(key, str(path), captions_of(c), meta)
                if pair is not None:
                    yield pair


def open_source(params: dict[str, str]) -> PairSource:
    p = dict(params)
    split = p.pop("split", "train")
    styles = p.pop("style", None) or p.pop("styles", None)
    n = p.pop("n", None)
    if p:
        raise AlignkitError(f"builtin:emoji: unknown option(s) {sorted(p)}; accepted: split, style, n")
    return EmojiSource(split, styles, int(n) if n else None)


def _category_name(category: str) -> str:
    return category.lower().replace("&", "and")


TASKS = {
    "emoji-unseen-style": "retrieval: Fluent 3D drawings of training concepts (style never trained on)",
    "emoji-unseen-concepts": "retrieval: Google drawings of the held-out fifth of concepts",
    "emoji-animals-unseen-style": "classification: Fluent 3D animals over the names of the training animals",
    "emoji-animals-unseen-concepts": "classification: held-out animals (all four styles) over their names",
    "emoji-category-unseen-concepts": "classification: held-out concepts (all four styles) over the 9 emoji categories",
}


def open_task(name: str, params: dict[str, str]) -> ClassificationTask | RetrievalTask:
    p = dict(params)
    style = p.pop("style", None)
    n = p.pop("n", None)
    if p:
        raise AlignkitError(f"builtin:{name}: unknown option(s) {sorted(p)}; accepted: style, n")
    split = "unseen-style" if name.endswith("unseen-style") else "unseen-concepts"
    if style and name.endswith("unseen-style") and set(style.split(",")) & set(TRAINING_STYLES):
        raise AlignkitError(f"{name}: style {style!r} is a training style; choose one of {list(HELDOUT_STYLES)}")
    if style is None and split == "unseen-concepts" and name != "emoji-unseen-concepts":
        style = ",".join(CORE_STYLES)  # classification: every drawing (in the set's own four styles) of a concept never trained on
    if n and "animals" in name:  # never silently ignored: these tasks hold every animal concept of their split
        raise AlignkitError(f"builtin:{name}: ?n= is not accepted (the task holds every animal concept of its split)")
    source = EmojiSource(split, style, int(n) if n else None)
    meta = {"split": split, "styles": source.styles, "licence": LICENCE}
    if name in ("emoji-unseen-style", "emoji-unseen-concepts"):
        # another style is another task: its name says so, so results of two styles never merge
        label = name if style in (None, DEFAULT_STYLES[split]) else f"{name}-{style.replace(',', '+')}"
        return RetrievalTask.from_source(label, source, meta)
    prompts = bundled_json("emoji.json")
    if "animals" in name:
        source.concepts = [c for c in source.concepts if c.subcategory.startswith("animal-")]
        names = [c.name for c in source.concepts]
        label = {c.code: i for i, c in enumerate(source.concepts)}
        templates = prompts["concept_templates"]
    else:
        names = sorted({_category_name(c.category) for c in load_concepts()})  # all categories, not only held-out ones
        label = {c.code: names.index(_category_name(c.category)) for c in source.concepts}
        templates = prompts["category_templates"]
    items = [LabeledItem(p.key, p.image, label[p.key.split("/", 1)[1]]) for p in source]
    return ClassificationTask(name, names, templates, items, list(source.skipped), meta)
