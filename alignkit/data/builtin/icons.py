"""The built-in ``icons`` set: Iconify icon sets from npm (``@iconify-json/*``), human-named drawings.

Why: curation needs a pool several times its budget, and the emoji styles plus clip art are
14,284 images. Iconify ships about 180 icon sets with hand-written names (``"fire-extinguisher"``)
and, for some, categories; a pinned handful of them adds tens of thousands of named drawings
offline. Each icon is rendered black on white at 224 px with cairosvg; its captions come from its
name and category.

What stays out, with the reason counted in READY.json:

* brand-logo sets and categories (trademarks), digits, letters and flags (near-copies of the test
  renderings, or concepts the emoji give in six styles), emoji sets (the held-out Fluent and
  OpenMoji styles and their sibling sets are never fetched);
* style variants of one icon (``home``, ``home-outline``, ``home-filled``: the first is kept) and
  drawings whose SVG is identical to one kept already;
* with ``split=train``, every icon whose name, caption or category names a concept the emoji
  split holds out (the clip-art filter, `rendered_set.heldout_match`).

Keys are content digests; `IconsSource.concept_of` names a training emoji's code where an icon's
name is that emoji's name, else ``icon:<name>``. Licences are per set (`ICON_SETS`), recorded in
READY.json and shown by ``alignkit data list``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from alignkit.atomic import atomic_write_bytes
from alignkit.data.base import PairSource
from alignkit.data.builtin.rendered_set import RenderedSetSource
from alignkit.data.builtin.set_storage import extract_members, is_ready, mark_ready, npm_pack, npm_note, ready_info, set_dir
from alignkit.errors import AlignkitError, BadItemError

NAME = "icons"
PX = 224
INDEX_VERSION = 1


@dataclass(frozen=True)
class IconSet:
    prefix: str  # the Iconify prefix: the npm package is @iconify-json/<prefix>
    version: str
    licence: str  # SPDX id, as the package's info.json states it

    @property
    def package(self) -> str:
        return f"@iconify-json/{self.prefix}@{self.version}"


# Pinned sets: general and thematic drawings of things, with names people wrote. Left out on
# purpose: brand sets (logos, simple-icons, devicon, ...), flag sets, emoji sets (noto, twemoji,
# openmoji, fluent-emoji*, emojione*, fxemoji, streamline-emojis), and sets that repeat one of
# these in another weight (fa6-regular beside fa6-solid, tabler's filled icons are variants).
ICON_SETS: tuple[IconSet, ...] = (
    IconSet("game-icons", "1.2.4", "CC-BY-3.0"),
    IconSet("mdi", "1.2.3", "Apache-2.0"),
    IconSet("tabler", "1.2.41", "MIT"),
    IconSet("icon-park-outline", "1.2.4", "Apache-2.0"),
    IconSet("healthicons", "1.2.13", "MIT"),
    IconSet("streamline", "1.2.5", "CC-BY-4.0"),
    IconSet("lucide", "1.2.137", "ISC"),
    IconSet("flat-color-icons", "1.2.3", "MIT"),
    IconSet("maki", "1.2.5", "CC0-1.0"),
)
LICENCE = "per set: " + ", ".join(f"{s.prefix} {s.licence}" for s in ICON_SETS) + " (each package's info.json)"

_DROP_CATEGORY = re.compile(r"brand|logo|alpha|numeric|number|letter|flag|emoji|social", re.I)
_DROP_WORDS = {"logo", "brand", "brands", "flag", "flags", "letter", "letters", "alpha", "alphabetical", "numeric",
               "number", "numbers", "digit", "digits", "roman", "emoji", "emoticon", "alphabet"}
# trailing name parts that make a style variant of the same drawing, not another thing
_VARIANT_WORDS = {"outline", "outlined", "filled", "fill", "solid", "rounded", "sharp", "bold", "thin", "light",
                  "duotone", "twotone", "regular", "negative", "remix", "alt", "variant", "line", "24px", "48px",
                  "circle", "box"}


def folder() -> Path:
    return set_dir(NAME)


def present() -> bool:
    try:
        info = ready_info(folder()) if is_ready(folder()) else {}
    except (OSError, ValueError):
        return False
    return info.get("index_version") == INDEX_VERSION and info.get("packages") == [s.package for s in ICON_SETS]


def next_step() -> str:
    return "run `alignkit data fetch icons` (downloads the pinned @iconify-json sets and renders them)" + npm_note()


def base_name(name: str) -> str:
    """An icon's name without its style-variant suffixes ("home-outline" -> "home")."""
    parts = name.split("-")
    while len(parts) > 1 and parts[-1] in _VARIANT_WORDS:
        parts.pop()
    return "-".join(parts)


def drop_reason(name: str, category: str) -> str | None:
    """Why an icon never enters the pool (brand, digit, letter, flag, emoji), or None."""
    if category and _DROP_CATEGORY.search(category):
        return f"category {category!r} (logos, digits, letters, flags and emoji stay out)"
    words = name.split("-")
    if any(w in _DROP_WORDS for w in words):
        return "its name marks a logo, digit, letter, flag or emoji"
    if any(w.isdigit() or len(w) == 1 for w in words):
        return "its name holds a digit or a single letter (near-copies of the digit and letter test renderings)"
    if not re.search(r"[a-z]{3}", name):
        return "its name is not words"
    return None


def captions_for(name: str, category: str) -> list[str]:
    """The icon's name as words, an icon phrasing, and the name with its category where it has one."""
    words = " ".join(base_name(name).split("-"))
    caps = [words, f"an icon of {words}"]
    if category:  # "MoneyShopping" -> "money shopping"
        caps.append(f"{words}, {re.sub(r'(?<=[a-z])(?=[A-Z])', ' ', category).lower()}")
    return caps


def _categories(metadata: dict[str, Any]) -> dict[str, str]:
    """icon name -> its first category (metadata.json's ``categories``; empty where the set has none)."""
    out: dict[str, str] = {}
    for cat, names in (metadata.get("categories") or {}).items():
        if isinstance(names, list):
            for n in names:
                if isinstance(n, str):
                    out.setdefault(n, cat)
    return out


def _read_json(tgz: Path, member: str, package: str, required: bool) -> dict[str, Any]:
    raw = next((data for _, data in extract_members(tgz, lambda n: "x" if n == f"package/{member}" else None)), None)
    if raw is None:
        if required:
            raise AlignkitError(f"{package}: the tarball has no package/{member}")
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise AlignkitError(f"{package}: package/{member} is not JSON ({e})") from None
    return value if isinstance(value, dict) else {}


def index_set(spec: IconSet, tgz: Path, seen: set[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One record per kept icon of one set (key, set, name, category, captions, svg); ``seen``
    holds the digests of drawings kept already (identical SVGs across sets count once)."""
    from alignkit.data.builtin.emoji_styles import iconify_svg

    icon_set = _read_json(tgz, "icons.json", spec.package, True)
    info = _read_json(tgz, "info.json", spec.package, False)
    cats = _categories(_read_json(tgz, "metadata.json", spec.package, False))
    counts = {"icons": 0, "dropped": 0, "variant": 0, "duplicate": 0, "unreadable": 0}
    records: list[dict[str, Any]] = []
    bases: set[str] = set()
    names = sorted(icon_set.get("icons") or {}, key=lambda n: (base_name(n), n != base_name(n), n))
    for name in names:  # aliases are other names of these same drawings: never read
        counts["icons"] += 1
        category = cats.get(name, "")
        if drop_reason(name, category):
            counts["dropped"] += 1
            continue
        base = base_name(name)
        if base in bases:
            counts["variant"] += 1
            continue
        svg = iconify_svg(icon_set, name)
        if svg is None:
            counts["unreadable"] += 1
            continue
        digest = hashlib.sha1(svg).hexdigest()[:16]
        if digest in seen:
            counts["duplicate"] += 1
            continue
        seen.add(digest)
        bases.add(base)
        records.append({"key": digest, "set": spec.prefix, "name": name, "category": category,
                        "title": " ".join(base.split("-")), "keywords": [category] if category else [],
                        "captions": captions_for(name, category), "svg": svg.decode("utf-8")})
    counts["kept"] = len(records)
    counts["licence_info_json"] = (info.get("license") or {}).get("spdx", "") if isinstance(info.get("license"), dict) else ""
    return records, counts


Progress = Callable[[Iterator[Any], int, str], Iterator[Any]]


def fetch(progress: Progress, limit: int | None = None) -> dict[str, Any]:
    """Download the pinned sets, index them and render every kept icon (resumable: finished PNGs are kept)."""
    from alignkit.data.builtin.svg import render_svg

    root = folder()
    (root / "png").mkdir(parents=True, exist_ok=True)
    download = root / ".download"
    records: list[dict[str, Any]] = []
    per_set: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for spec in ICON_SETS:
        recs, counts = index_set(spec, npm_pack(spec.package, download), seen)
        if counts["licence_info_json"] and counts["licence_info_json"] != spec.licence:
            raise AlignkitError(f"{spec.package}: info.json states licence {counts['licence_info_json']!r}, "
                                f"not the {spec.licence!r} alignkit records; check the set before using it")
        records += recs
        per_set[spec.prefix] = {"package": spec.package, "licence": spec.licence, **counts}
    todo = records[:limit] if limit else records
    failed: list[dict[str, str]] = []
    for rec in progress(iter(todo), len(todo), "render icons"):
        out = root / "png" / f"{rec['key']}.png"
        if out.exists():
            continue
        try:
            atomic_write_bytes(out, render_svg(rec["svg"].encode("utf-8"), PX))
        except BadItemError as e:
            failed.append({"key": rec["key"], "reason": str(e)})
    index = "".join(json.dumps({k: v for k, v in r.items() if k != "svg"}, ensure_ascii=False) + "\n" for r in records)
    atomic_write_bytes(root / "index.jsonl", index.encode("utf-8"))
    shutil.rmtree(download, ignore_errors=True)
    info = {"packages": [s.package for s in ICON_SETS], "sets": per_set, "icons": len(records),
            "rendered": len(todo) - len(failed), "render_failures": failed, "limit": limit, "px": PX,
            "index_version": INDEX_VERSION, "licence": LICENCE}
    mark_ready(root, info)
    return info


class IconsSource(RenderedSetSource):
    """Rendered Iconify icons with name/category captions; keys are content digests.

    ``split="all"``: every rendered icon; ``split="train"``: without the icons that name a concept
    the emoji split holds out (needs the emoji set)."""

    name = "builtin:icons"
    set_name = NAME

    _folder = staticmethod(folder)
    _present = staticmethod(present)
    _next_step = staticmethod(next_step)

    def _meta(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {"icon_set": rec["set"], "icon": rec["name"]}

    def _concept(self, rec: dict[str, Any], emoji_names: dict[str, str]) -> str:
        """A training emoji's code where the icon's name is that emoji's name, else ``icon:<name>``
        (the same thing drawn by two sets is one concept)."""
        from alignkit.data.builtin.emoji_concepts import normalise_caption

        norm = normalise_caption(rec["title"])
        return emoji_names.get(norm) or "icon:" + norm


def open_source(params: dict[str, str]) -> PairSource:
    p = dict(params)
    n = p.pop("n", None)
    split = p.pop("split", "all")
    if p:
        raise AlignkitError(f"builtin:icons: unknown option(s) {sorted(p)}; accepted: split, n")
    return IconsSource(int(n) if n else None, split)
