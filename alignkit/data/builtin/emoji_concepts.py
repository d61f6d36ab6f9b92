"""The emoji concepts and their captions: emoji.json (+ OpenMoji's CLDR names) -> `Concept`s,
several human-written captions per concept, and the concept families (shared captions, name
stems, person/flag twins) that the held-out split keeps whole."""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alignkit.data.builtin.set_storage import set_dir
from alignkit.errors import NotInstalledError

NAME = "emoji"


def folder() -> Path:
    """Where the fetched set lives (``$ALIGNKIT_DATA/emoji``)."""
    return set_dir(NAME)


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
