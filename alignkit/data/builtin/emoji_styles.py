"""More training styles of the emoji concepts, each its own fetchable set (``emoji-<style>``).

Two kinds of npm package carry them (``npm pack``, no node code runs):

* emoji-datasource PNGs (Apple, Facebook): 64 px files named by code point, the same
  ``emoji.json`` as the Google and Twitter packages, so every image maps to its concept exactly.
* Iconify JSON sets (Noto v1 "blob" era, EmojiOne 2): SVG bodies in ``icons.json`` named by the
  CLDR English name ("grinning-face"); their ``chars.json`` is empty, so an icon is joined to a
  concept only where its name is the concept's own CLDR name, Unicode name or a short name,
  written the Iconify way (lower case, hyphens). Matched drawings are rendered to 64 px PNGs.

Each set keeps only drawings of the base concepts of the ``emoji`` set (fetched first when
missing) in ``$ALIGNKIT_DATA/emoji-<style>/<code>.png``. Files are written atomically and kept
on a rerun; ``READY.json`` (written last) records the package and the tarball's SHA-256, and a
set fetched from another package version is not "present", so it is fetched again, cleanly.

Sets checked and left out (docs/data.md): ``@svgmoji/blob@3.2.0`` ships no drawings (its
sprite lives on a CDN); ``@svgmoji/noto@3.2.0`` and ``@iconify-json/noto`` are Noto Color Emoji,
the art of the Google style; ``@svgmoji/twemoji`` is Twitter's; ``@svgmoji/openmoji`` and the
Iconify ``openmoji`` / ``fluent-emoji*`` sets are the held-out styles' art and must never train.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from alignkit.atomic import atomic_write_bytes
from alignkit.data.builtin.set_storage import extract_members, is_ready, mark_ready, npm_pack, ready_info, set_dir
from alignkit.data.builtin.emoji_concepts import Concept, load_concepts
from alignkit.errors import AlignkitError, BadItemError

PX = 64  # the size of the Google and Twitter files


@dataclass(frozen=True)
class ExtraStyle:
    style: str  # the style name in ``builtin:emoji?style=...`` and in pair keys
    package: str  # npm NAME@VERSION
    kind: str  # "datasource" (PNG by code point) or "iconify" (SVG by CLDR name)
    licence: str  # as the tarball's own package.json / LICENSE / README / info.json state it
    title: str

    @property
    def set_name(self) -> str:
        return f"emoji-{self.style}"


EXTRA_STYLES: dict[str, ExtraStyle] = {
    s.style: s
    for s in (
        ExtraStyle("apple", "emoji-datasource-apple@16.0.0", "datasource",
                   "package MIT (emoji-datasource); images Copyright Apple Inc., not licensed for commercial use (its README)",
                   "Apple emoji, 64 px PNG"),
        ExtraStyle("facebook", "emoji-datasource-facebook@16.0.0", "datasource",
                   "package MIT (emoji-datasource); images (c) Facebook, Inc., 'no clear licensing' (its README)",
                   "Facebook emoji, 64 px PNG"),
        ExtraStyle("noto-v1", "@iconify-json/noto-v1@1.2.5", "iconify",
                   "Apache-2.0 (package.json and info.json: Google noto-emoji v1)",
                   "Noto Emoji v1 (the 'blob' design), SVG"),
        ExtraStyle("emojione", "@iconify-json/emojione@1.2.3", "iconify",
                   "CC-BY-4.0 (package.json and info.json: Emoji One, via EmojiTwo)",
                   "EmojiOne 2 (colour), SVG"),
    )
}


def folder(style: str) -> Path:
    return set_dir(EXTRA_STYLES[style].set_name)


def image_path(style: str, code: str) -> Path:
    return folder(style) / f"{code}.png"


def present(style: str) -> bool:
    root = folder(style)
    if not is_ready(root):
        return False
    try:
        return ready_info(root).get("package") == EXTRA_STYLES[style].package
    except (OSError, ValueError):
        return False


def iconify_slug(text: str) -> str:
    """A name as Iconify writes it: ASCII, lower case, non-alphanumeric runs as one hyphen
    ("Japanese “free of charge” button" -> "japanese-free-of-charge-button")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def iconify_names(c: Concept) -> list[str]:
    """The Iconify names a concept's drawing may have, most specific first."""
    names = [iconify_slug(c.name), iconify_slug(c.unicode_name)] + [iconify_slug(s) for s in c.short_names]
    if c.name.startswith("flag: "):  # CLDR "flag: France" is Iconify's "flag-for-france"
        names.insert(1, "flag-for-" + iconify_slug(c.name[len("flag: "):]))
    return [n for i, n in enumerate(names) if n and n not in names[:i]]


def iconify_svg(icon_set: dict[str, Any], name: str) -> bytes | None:
    """The standalone SVG of one icon (aliases followed to their parent), or None."""
    icons, aliases = icon_set.get("icons") or {}, icon_set.get("aliases") or {}
    for _ in range(8):  # alias chains are short; a loop in bad data ends here
        if name in icons or name not in aliases:
            break
        alias = aliases[name]
        if set(alias) - {"parent"}:  # flips and rotations are not applied: leave such aliases out
            return None
        name = alias.get("parent", "")
    icon = icons.get(name)
    if not isinstance(icon, dict) or not isinstance(icon.get("body"), str):
        return None
    w = icon.get("width", icon_set.get("width", 16))
    h = icon.get("height", icon_set.get("height", 16))
    left, top = icon.get("left", icon_set.get("left", 0)), icon.get("top", icon_set.get("top", 0))
    if not all(isinstance(v, (int, float)) for v in (w, h, left, top)):
        return None
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{left} {top} {w} {h}" width="{w}" height="{h}">{icon["body"]}</svg>').encode("utf-8")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


Progress = Callable[[Iterator[Any], int, str], Iterator[Any]]


def fetch(style: str, progress: Progress, limit: int | None = None) -> dict[str, Any]:
    """Download one style's package and keep the drawings of the emoji set's base concepts."""
    from alignkit.data.builtin.emoji_concepts import folder as emoji_folder

    spec = EXTRA_STYLES[style]
    root = folder(style)
    root.mkdir(parents=True, exist_ok=True)
    if is_ready(root) and not present(style):  # fetched from another package version: start clean
        shutil.rmtree(root)
        root.mkdir(parents=True)
    concepts = load_concepts(emoji_folder(), use_cache=False)
    if limit:
        concepts = concepts[:limit]
    download = root / ".download"
    tgz = npm_pack(spec.package, download)
    digest = _sha256(tgz)
    if spec.kind == "datasource":
        written, missing = _extract_datasource(style, tgz, root, concepts, progress)
    else:
        written, missing = _extract_iconify(style, tgz, root, concepts, progress)
    shutil.rmtree(download, ignore_errors=True)
    info = {"package": spec.package, "tarball_sha256": digest, "style": style, "concepts": len(concepts),
            "images": written, "missing": len(missing), "missing_sample": missing[:20], "licence": spec.licence,
            "limit": limit, "px": PX}
    mark_ready(root, info)
    return info


def _extract_datasource(style: str, tgz: Path, root: Path, concepts: list[Concept], progress: Progress) -> tuple[int, list[str]]:
    want = {f"package/img/{style}/64/{c.image}": c.code for c in concepts}
    done: set[str] = set()
    for code, data in progress(extract_members(tgz, want.get), len(want), f"emoji {style}"):
        path = root / f"{code}.png"
        if not path.exists():
            atomic_write_bytes(path, data)
        done.add(code)
    return len(done), [c.code for c in concepts if c.code not in done]


def _extract_iconify(style: str, tgz: Path, root: Path, concepts: list[Concept], progress: Progress) -> tuple[int, list[str]]:
    from alignkit.data.builtin.svg import render_svg

    raw = next((data for _, data in extract_members(tgz, lambda n: "icons" if n == "package/icons.json" else None)), None)
    if raw is None:
        raise AlignkitError(f"{EXTRA_STYLES[style].package}: the tarball has no package/icons.json")
    try:
        icon_set = json.loads(raw)
    except ValueError as e:
        raise AlignkitError(f"{EXTRA_STYLES[style].package}: package/icons.json is not JSON ({e})") from None
    written, missing = 0, []
    for c in progress(iter(concepts), len(concepts), f"emoji {style}"):
        path = root / f"{c.code}.png"
        if path.exists():
            written += 1
            continue
        svg = next((s for s in (iconify_svg(icon_set, n) for n in iconify_names(c)) if s is not None), None)
        if svg is None:
            missing.append(c.code)
            continue
        try:
            atomic_write_bytes(path, render_svg(svg, PX))
        except BadItemError:
            missing.append(c.code)
            continue
        written += 1
    return written, missing
