"""The built-in ``emoji`` set: the same concepts drawn in several styles, with human-written names.

Fetched with ``npm pack`` (no node code runs): Google and Twitter 64 px PNGs with
``emoji.json`` (names, short names, categories) from emoji-datasource; Fluent 3D WebPs; and
OpenMoji SVGs (rendered to PNG) whose CLDR names and keywords enrich the captions.

Two deterministic held-out tests:

* **unseen style**: train on Google + Twitter drawings of the training concepts; evaluate on
  Fluent 3D (or OpenMoji) drawings of the same concepts, a style never seen in training.
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
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from alignkit.data.base import Pair, PairSource, Skip
from alignkit.atomic import atomic_write_bytes
from alignkit.data.builtin.cache import extract_members, is_ready, mark_ready, npm_pack, set_dir
from alignkit.data.checks import PairChecker
from alignkit.data.tasks import ClassificationTask, LabeledItem, RetrievalTask, bundled_json
from alignkit.errors import AlignkitError, NotInstalledError

NAME = "emoji"
PACKAGES = {
    "google": "emoji-datasource-google@16.0.0",
    "twitter": "emoji-datasource-twitter@16.0.0",
    "fluent": "@lobehub/fluent-emoji-3d@1.1.0",
    "openmoji": "openmoji@17.0.0",
}
TRAIN_STYLES = ("google", "twitter")
HELDOUT_STYLES = ("fluent", "openmoji")
STYLES = TRAIN_STYLES + HELDOUT_STYLES
SUFFIX = {"google": ".png", "twitter": ".png", "fluent": ".webp", "openmoji": ".png"}
OPENMOJI_PX = 72
HELDOUT_FRACTION = 0.2
SPLIT_SALT = "alignkit-emoji-split-v1"
LICENCE = "MIT data; images: Google Apache-2.0, Twemoji CC-BY-4.0, Fluent MIT, OpenMoji CC-BY-SA-4.0"

# code points that only vary the person in a ZWJ sequence: gender signs, skin tones, VS16, ZWJ, facing right
_VARIANT_CODES = {"2640", "2642", "fe0f", "200d", "27a1", "1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"}
_PERSON = {"1f468": "P", "1f469": "P", "1f9d1": "P", "1f466": "C", "1f467": "C", "1f9d2": "C", "1f474": "O", "1f475": "O", "1f9d3": "O"}


@dataclass(frozen=True)
class Concept:
    code: str  # unified code point sequence, lower case ("1f600", "1f3c3-200d-2640-fe0f")
    name: str  # human-readable name (CLDR annotation where known)
    unicode_name: str
    short_names: tuple[str, ...]
    keywords: tuple[str, ...]
    category: str
    subcategory: str
    image: str  # emoji-datasource file name of the base image
    non_qualified: str | None = None

    @property
    def group(self) -> str:
        return twin_group(self.code, self.subcategory)


def twin_group(code: str, subcategory: str) -> str:
    """The near-twin family of an emoji: all its person/gender/skin variants; all flags together."""
    if subcategory in ("country-flag", "subdivision-flag"):
        return "flags"
    parts = [_PERSON.get(p, p) for p in code.lower().split("-") if p not in _VARIANT_CODES]
    people = sum(p in ("P", "C", "O") for p in parts)
    if "2764" in parts and people >= 2:
        return "couple"
    if people >= 2:
        return "family" if "1f91d" not in parts else "holding-hands"
    if code.lower().split("-")[0] in ("1f46a", "1f46b", "1f46c", "1f46d", "1f48f", "1f491"):
        return {"1f46a": "family", "1f48f": "couple", "1f491": "couple"}.get(code.lower().split("-")[0], "holding-hands")
    return "-".join(parts)


def _article(text: str) -> str:
    return "an" if text[:1].lower() in "aeiou" else "a"


def captions_of(c: Concept) -> list[str]:
    """Several human-written descriptions: the name, an emoji phrasing, the Unicode name,
    the short names (underscores as spaces), and the name with its keywords."""
    caps = [c.name, f"an emoji of {_article(c.name)} {c.name}"]
    uname = c.unicode_name.lower()
    if uname and uname != c.name.lower():
        caps.append(uname)
    for s in c.short_names:
        words = re.sub(r"[_\-]+", " ", s).strip()
        if words and not re.fullmatch(r"flag \w{2}", words) and words not in (x.lower() for x in caps):
            caps.append(words)
    kws = [k for k in c.keywords if k.lower() not in c.name.lower()][:6]
    if kws:
        caps.append(f"{c.name}: {', '.join(kws)}")
    return caps


# ---------------------------------------------------------------------------------------------
# fetch


def folder() -> Path:
    return set_dir(NAME)


def present() -> bool:
    return is_ready(folder())


def fetch(progress: Callable[[Iterator[Any], int, str], Iterator[Any]], limit: int | None = None) -> dict[str, Any]:
    """Download the four npm packages and keep only the base-emoji images (about 40 MB)."""
    root = folder()
    root.mkdir(parents=True, exist_ok=True)
    download = root / ".download"
    tgz = {style: npm_pack(pkg, download) for style, pkg in PACKAGES.items()}
    for target, data in extract_members(tgz["google"], lambda n: "emoji.json" if n == "package/emoji.json" else None):
        atomic_write_bytes(root / target, data)
    for target, data in extract_members(tgz["openmoji"], lambda n: "openmoji.csv" if n == "package/data/openmoji.csv" else None):
        atomic_write_bytes(root / target, data)
    concepts = load_concepts(root, use_cache=False)
    if limit:
        concepts = concepts[:limit]
    counts = {}
    for style in STYLES:
        counts[style] = _extract_style(style, tgz[style], root, concepts, progress)
    shutil.rmtree(download, ignore_errors=True)
    info = {"packages": PACKAGES, "concepts": len(concepts), "images": counts, "limit": limit}
    mark_ready(root, info)
    return info


def _extract_style(style: str, tgz: Path, root: Path, concepts: list[Concept], progress: Callable) -> int:
    out = root / style
    out.mkdir(exist_ok=True)
    # the member name each concept's image has in this style's tarball -> the concept code
    if style in TRAIN_STYLES:
        want = {f"package/img/{style}/64/{c.image}": c.code for c in concepts}
    elif style == "fluent":
        want = {}
        for c in concepts:  # Fluent names files by the lower-case code, with or without VS16
            for cand in (c.code, c.non_qualified, c.code.replace("-fe0f", "")):
                if cand:
                    want.setdefault(f"package/assets/{cand}.webp", c.code)
    else:
        want = {}
        for c in concepts:
            for cand in (c.code, c.non_qualified, c.code.replace("-fe0f", "")):
                if cand:
                    want.setdefault(f"package/color/svg/{cand.upper()}.svg", c.code)
    done: set[str] = set()
    members = extract_members(tgz, lambda n: want.get(n))
    for code, data in progress(members, len(set(want.values())), f"emoji {style}"):
        if code in done:
            continue
        path = out / f"{code}{SUFFIX[style]}"
        if not path.exists():
            if style == "openmoji":
                from alignkit.data.builtin.svg import render_svg

                try:
                    data = render_svg(data, OPENMOJI_PX)
                except AlignkitError:
                    continue
            atomic_write_bytes(path, data)
        done.add(code)
    return len(done)


# ---------------------------------------------------------------------------------------------
# concepts and splits


def load_concepts(root: Path | None = None, use_cache: bool = True) -> list[Concept]:
    """Every base emoji with a Google and a Twitter image, in emoji.json order (no skin-tone variants)."""
    root = root or folder()
    if use_cache:
        return list(_cached_concepts(str(root)))
    path = root / "emoji.json"
    if not path.exists():
        raise NotInstalledError(f"the emoji set is not fetched ({path} is missing); run `alignkit data fetch emoji`")
    cldr = _openmoji_names(root / "openmoji.csv")
    out = []
    for e in json.loads(path.read_text(encoding="utf-8")):
        if e.get("category") == "Component" or not (e.get("has_img_google") and e.get("has_img_twitter")):
            continue
        code = e["unified"].lower()
        nq = e.get("non_qualified")
        name, keywords = cldr.get(code) or cldr.get(code.replace("-fe0f", "")) or (None, ())
        uname = (e.get("name") or "").strip()
        out.append(
            Concept(
                code=code,
                name=name or uname.lower() or e["short_name"].replace("_", " "),
                unicode_name=uname,
                short_names=tuple(e.get("short_names") or ()),
                keywords=tuple(keywords),
                category=e["category"],
                subcategory=e["subcategory"],
                image=e["image"],
                non_qualified=nq.lower() if nq else None,
            )
        )
    return out


@lru_cache(maxsize=4)
def _cached_concepts(root: str) -> tuple[Concept, ...]:
    return tuple(load_concepts(Path(root), use_cache=False))


def _openmoji_names(path: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Code -> (CLDR English name, CLDR keywords), from OpenMoji's annotation table."""
    if not path.exists():
        return {}
    out = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            tags = tuple(t.strip() for t in (row.get("tags") or "").split(",") if t.strip())
            if row.get("annotation"):
                out[row["hexcode"].lower()] = (row["annotation"].strip(), tags)
    return out


def _stable_hash(text: str) -> str:
    return hashlib.sha256(f"{SPLIT_SALT}:{text}".encode()).hexdigest()


def normalise_caption(text: str) -> str:
    """The form in which two captions count as the same: NFKC, lower case, punctuation and
    apostrophes as spaces, runs of spaces collapsed ("One O’Clock" -> "one o clock")."""
    return " ".join(re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).lower()).split())


# words that modify a name's head noun rather than name a thing: counts, and trailing generic parts
_NUMBER_WORDS = frozenset("zero one two three four five six seven eight nine ten eleven twelve thirty".split())
_TAIL_WORDS = frozenset({"face", "symbol", "sign", "facing", "right", "left", "up", "down"})


def name_stem(name: str) -> str | None:
    """The head noun of an emoji name, or None: "black cat" -> "cat", "monkey face" -> "monkey",
    "keycap: 9" -> "keycap", "house with garden" -> "house", "one o’clock" -> "clock",
    "CLOCK FACE ONE-THIRTY" -> "clock". Qualifiers after ':' or '(' and a 'with' clause are
    dropped, digits and number words are ignored, trailing generic words (face, symbol, sign,
    directions) are peeled off while another word is left."""
    words = normalise_caption(re.split(r"[:(]", name, maxsplit=1)[0]).split()
    if "with" in words[1:]:
        words = words[: words.index("with", 1)]
    words = [w for w in (re.sub(r"\d+", "", w) for w in words) if len(w) > 1 and w not in _NUMBER_WORDS]
    while len(words) > 1 and words[-1] in _TAIL_WORDS:
        words.pop()
    return words[-1] if words and len(words[-1]) > 2 else None


def concept_families(concepts: list[Concept]) -> dict[str, str]:
    """Code -> family id (the family's first code in emoji.json order).

    A family is a connected component of concepts linked by a shared normalised caption (any
    of `captions_of`), a shared name stem of the CLDR or Unicode name (a plural folded onto its
    singular when both occur: "two hearts" joins "red heart") or a shared twin group.
    """
    stems = {c.code: {s for s in (name_stem(c.name), name_stem(c.unicode_name)) if s} for c in concepts}
    known = set().union(*stems.values()) if stems else set()
    fold = lambda s: s[:-1] if s.endswith("s") and len(s) > 3 and s[:-1] in known else s  # noqa: E731
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for c in concepts:
        links = {"caption:" + normalise_caption(t) for t in captions_of(c)}
        links |= {"stem:" + fold(s) for s in stems[c.code]} | {"twin:" + c.group}
        for link in links:
            parent[find("code:" + c.code)] = find(link)
    first: dict[str, str] = {}
    for c in concepts:
        first.setdefault(find("code:" + c.code), c.code)
    return {c.code: first[find("code:" + c.code)] for c in concepts}


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


def _styles(value: str) -> list[str]:
    styles = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in styles if s not in STYLES]
    if bad or not styles:
        raise AlignkitError(f"unknown emoji style(s) {bad or value!r}; choose from {list(STYLES)}")
    return styles


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
        self.styles = _styles(styles or DEFAULT_STYLES.get(split, "google"))
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
        root = folder()
        for style in self.styles:
            for c in self.concepts:
                path = root / style / f"{c.code}{SUFFIX[style]}"
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
    if style and name.endswith("unseen-style") and style in TRAIN_STYLES:
        raise AlignkitError(f"{name}: style {style!r} is a training style; choose one of {list(HELDOUT_STYLES)}")
    if style is None and split == "unseen-concepts" and name != "emoji-unseen-concepts":
        style = ",".join(STYLES)  # classification: every drawing of a concept never trained on
    source = EmojiSource(split, style, int(n) if n and "animals" not in name else None)
    meta = {"split": split, "styles": source.styles, "licence": LICENCE}
    if name in ("emoji-unseen-style", "emoji-unseen-concepts"):
        return RetrievalTask.from_source(name, source, meta)
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
