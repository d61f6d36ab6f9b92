"""Fetching the emoji set: four npm packages (``npm pack``, no node code runs), of which only the
base-emoji images are kept, one folder per style (OpenMoji's SVGs rendered to PNG)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

from alignkit.atomic import atomic_write_bytes
from alignkit.data.builtin.set_storage import extract_members, is_ready, mark_ready, npm_pack
from alignkit.data.builtin.emoji_concepts import Concept, folder, load_concepts
from alignkit.errors import AlignkitError

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
LICENCE = "MIT data; images: Google Apache-2.0, Twemoji CC-BY-4.0, Fluent MIT, OpenMoji CC-BY-SA-4.0"


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
