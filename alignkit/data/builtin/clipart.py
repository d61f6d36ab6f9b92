"""The built-in ``clipart`` set: Open Clip Art Library drawings (Debian openclipart-svg, public domain).

Captions are each drawing's title and keywords (Dublin Core metadata inside the SVG), kept
only for English titles (an ASCII + stopword heuristic). Drawings are rendered with cairosvg
to 224 px PNGs on white at fetch time; rendering is resumable (finished files are kept) and
``--limit`` renders only the first N. Identical files filed under two folders count once.

``split=train`` is the part that may train a model beside the emoji set: every drawing whose
title, keywords or captions name a concept held out by the emoji split (`heldout_terms`) is left
out, with the reason recorded, so a held-out concept family never enters training through
clip art. `ClipartSource.concept_of` names each drawing's concept: a training emoji's code
where the title is that emoji's name (so the clip-art cat and the emoji cat are one concept),
else ``clipart:<normalised title>``.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable, Iterator

from alignkit.atomic import atomic_write_bytes
from alignkit.data.base import PairSource, Skip
from alignkit.data.builtin.rendered_set import SPLITS, RenderedSetSource, clean_title, heldout_match, heldout_terms  # noqa: F401  (re-exported)
from alignkit.data.builtin.set_storage import debian_hint, is_ready, mark_ready, ready_info, set_dir
from alignkit.errors import AlignkitError, NotInstalledError

NAME = "clipart"
SVG_ROOT = Path("/usr/share/openclipart/svg")
PX = 224
NS = {"dc": "http://purl.org/dc/elements/1.1/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
_FOREIGN = {  # frequent function words of other languages in the library's titles
    "der", "die", "das", "und", "mit", "ein", "eine", "le", "la", "les", "des", "du", "et", "un", "une",
    "el", "los", "las", "y", "con", "il", "di", "della", "het", "een", "van", "och", "em", "um", "uma", "com",
}
_JUNK_KEYWORDS = {"clip art", "clipart", "image", "media", "png", "svg", "public domain", "externalsource", "inkscape", "drawing", "openclipart"}
_JUNK_WORD = re.compile(r"^hash(\(0x[0-9a-f]+\))?$", re.I)  # Perl artefacts in the library's metadata
_JUNK_TITLE = re.compile(r"^(untitled|drawing|image|svg|new document|layer)\b|\.(svg|png)$|^[\W\d_]+$", re.I)


def english_title(title: str) -> bool:
    """ASCII, has letters, no filename/placeholder look, and no foreign function words."""
    if not title or not title.isascii() or not re.search(r"[a-zA-Z]{3}", title) or _JUNK_TITLE.search(title.strip()):
        return False
    words = re.findall(r"[a-z]+", title.lower())
    return not any(w in _FOREIGN for w in words)


def read_metadata(svg: bytes) -> tuple[str, list[str], str]:
    """(title, keywords, description) from an SVG's Dublin Core metadata ('' / [] when absent)."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        return "", [], ""
    work = next(root.iter("{http://web.resource.org/cc/}Work"), None) or next(root.iter("{http://creativecommons.org/ns#}Work"), None)
    if work is None:
        return "", [], ""
    title = " ".join((work.findtext("dc:title", "", NS) or "").split())
    desc = " ".join((work.findtext("dc:description", "", NS) or "").split())
    keywords = [" ".join((li.text or "").split()) for li in work.iterfind("dc:subject/rdf:Bag/rdf:li", NS)]
    return title, [k for k in keywords if k], desc


def captions_for(title: str, keywords: list[str], desc: str) -> list[str]:
    """Title, a drawing phrasing, the title with its keywords, and a short English description."""
    t = clean_title(title)
    kws = [k for k in keywords if k.isascii() and k.lower() not in _JUNK_KEYWORDS and not _JUNK_WORD.match(k) and k.lower() != t.lower()][:8]
    caps = [t, f"a drawing of {t}"]
    if kws:
        caps.append(f"{t}: {', '.join(kws)}")
    if desc and len(desc) <= 200 and english_title(desc) and not _JUNK_WORD.match(desc):
        caps.append(desc)
    return caps


def folder() -> Path:
    return set_dir(NAME)


INDEX_VERSION = 2  # 2: records carry the title and keywords (the train split's leak filter reads them)


def present() -> bool:
    try:
        return is_ready(folder()) and ready_info(folder()).get("index_version") == INDEX_VERSION
    except (OSError, ValueError):
        return False


def installed() -> bool:
    return SVG_ROOT.is_dir()


def next_step() -> str:
    """What to do while the set is not rendered: the fetch where the drawings are installed,
    else the Debian package first."""
    fetch = "`alignkit data fetch clipart` (renders the drawings into the cache)"
    if installed():
        return "run " + fetch
    return f"{debian_hint('openclipart-svg', SVG_ROOT)}, then {fetch}"


def build_index(svg_root: Path | None = None) -> tuple[list[dict[str, Any]], list[Skip]]:
    """One record per distinct English-titled drawing: key, source file, captions."""
    svg_root = svg_root or SVG_ROOT
    if not svg_root.is_dir():
        raise NotInstalledError(f"Open Clip Art is missing ({svg_root}); {debian_hint('openclipart-svg', svg_root)}")
    records: list[dict[str, Any]] = []
    skipped: list[Skip] = []
    seen: set[str] = set()
    for path in sorted(svg_root.rglob("*.svg")):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        digest = hashlib.sha1(data).hexdigest()[:16]
        rel = str(path.relative_to(svg_root))
        if digest in seen:
            skipped.append(Skip(rel, "duplicate drawing: kept the first"))
            continue
        seen.add(digest)
        title, keywords, desc = read_metadata(data)
        if not english_title(title):
            skipped.append(Skip(rel, f"no English title: {title[:40]!r}"))
            continue
        records.append({"key": digest, "svg": rel, "title": title, "keywords": keywords,
                        "captions": captions_for(title, keywords, desc)})
    return records, skipped


def fetch(progress: Callable[[Iterator[Any], int, str], Iterator[Any]], limit: int | None = None) -> dict[str, Any]:
    """Index the drawings and render them to PNG; already rendered files are kept (resumable)."""
    from alignkit.data.builtin.svg import render_svg

    root = folder()
    (root / "png").mkdir(parents=True, exist_ok=True)
    records, skipped = build_index(SVG_ROOT)
    todo = records[:limit] if limit else records
    failed: list[dict[str, str]] = []
    for rec in progress(iter(todo), len(todo), "render clipart"):
        out = root / "png" / f"{rec['key']}.png"
        if out.exists():
            continue
        try:
            atomic_write_bytes(out, render_svg((SVG_ROOT / rec["svg"]).read_bytes(), PX))
        except AlignkitError as e:
            failed.append({"key": rec["key"], "reason": str(e)})
    atomic_write_bytes(root / "index.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
    info = {"drawings": len(records), "rendered": len(todo) - len(failed), "render_failures": failed,
            "not_english_or_duplicate": len(skipped), "limit": limit, "px": PX, "index_version": INDEX_VERSION}
    mark_ready(root, info)
    return info




def _concept_id(title: str, emoji_names: dict[str, str]) -> str:
    from alignkit.data.builtin.emoji_concepts import normalise_caption

    norm = normalise_caption(clean_title(title))
    return emoji_names.get(norm) or "clipart:" + " ".join(re.sub(r"\d+", " ", norm).split())


class ClipartSource(RenderedSetSource):
    """Rendered clip-art drawings with their title/keyword captions; keys are content digests.

    ``split="all"``: every rendered drawing; ``split="train"``: without the drawings that name a
    concept the emoji split holds out (needs the emoji set)."""

    name = "builtin:clipart"
    set_name = NAME

    _folder = staticmethod(folder)
    _present = staticmethod(present)
    _next_step = staticmethod(next_step)

    def _meta(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {"svg": rec["svg"], "title": rec["title"]}

    def _concept(self, rec: dict[str, Any], emoji_names: dict[str, str]) -> str:
        """A training emoji's code where the title is that emoji's name, else ``clipart:<normalised
        title without digits>`` (drawings titled alike, or numbered parts of one series such as
        "arrow08_4" and "arrow08_5", are one concept)."""
        return _concept_id(rec["title"], emoji_names)


def open_source(params: dict[str, str]) -> PairSource:
    p = dict(params)
    n = p.pop("n", None)
    split = p.pop("split", "all")
    if p:
        raise AlignkitError(f"builtin:clipart: unknown option(s) {sorted(p)}; accepted: split, n")
    return ClipartSource(int(n) if n else None, split)
