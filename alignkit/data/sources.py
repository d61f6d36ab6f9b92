"""One ``--data`` spec selects any image-caption source: ``SCHEME:LOCATION[?key=value&...]``.

    wds:/data/shards-{000..009}.tar          webdataset shards (img2dataset layout); fsspec URLs work
    csv:/data/pairs.csv?image=path&caption=text        (also tsv:, parquet:; key=COLUMN, root=DIR)
    parquet:/data/pairs.parquet?image=file&caption=captions
    folder:/data/images?captions=captions.jsonl        an image folder with a captions file
    hf:/data/saved_dataset?image=image&text=caption&split=train   (a hub name where a hub answers)
    builtin:emoji?split=train                built-in offline sets (``alignkit data list``)
    subset:runs/curated/subset.json          the pairs a curation run chose from its pool
    builtin:emoji?split=train + builtin:clipart   several sources as one (keys prefixed 0:, 1:, ...)

A spec without a scheme is guessed: ``*.tar`` (brace patterns too) -> wds, ``*.csv|tsv|parquet``
-> that table, ``*.json|jsonl`` -> folder (the captions file; images relative to it), a folder
saved by ``datasets`` -> hf, another folder -> folder with its captions.jsonl/json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl

from alignkit.data.base import PairSource
from alignkit.errors import AlignkitError
from alignkit.lazy import load

SCHEMES = ("wds", "csv", "tsv", "parquet", "folder", "hf", "builtin", "subset")
SEPARATOR = " + "  # joins several sources into one


def parse_data_spec(spec: str, schemes: tuple[str, ...] = SCHEMES) -> tuple[str | None, str, dict[str, str]]:
    """Split ``SCHEME:LOCATION?k=v`` into (scheme or None, location, params)."""
    spec = spec.strip()
    if not spec:
        raise AlignkitError("empty data spec; see `alignkit data --help` for the syntax")
    body, _, query = spec.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    scheme, sep, rest = body.partition(":")
    if sep and scheme in schemes:
        return scheme, rest, params
    return None, body, params


def guess_scheme(location: str) -> str:
    """The scheme a plain path most likely means (see the module docstring)."""
    low = location.lower()
    if low.endswith(".tar") or (".tar" in low and "{" in low):
        return "wds"
    for ext in ("csv", "tsv", "parquet"):
        if low.endswith("." + ext):
            return ext
    if low.endswith((".json", ".jsonl")):
        return "folder"
    p = Path(location)
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists():
            return "hf"
        return "folder"
    if not p.exists() and "://" not in location:
        raise AlignkitError(f"no such file or folder: {location}")
    raise AlignkitError(
        f"cannot tell what kind of source {location!r} is; prefix it with one of "
        f"{', '.join(s + ':' for s in SCHEMES)} (see `alignkit data --help`)"
    )


def _take(params: dict[str, str], allowed: tuple[str, ...], spec: str) -> dict[str, str]:
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise AlignkitError(f"{spec}: unknown option(s) {extra}; this source accepts {list(allowed)}")
    return params


def _open_wds(loc: str, p: dict[str, str], spec: str) -> PairSource:
    from alignkit.data.webdataset import WebDatasetSource

    _take(p, (), spec)
    return WebDatasetSource(loc)


def _open_table(fmt: str) -> Callable[[str, dict[str, str], str], PairSource]:
    def open_(loc: str, p: dict[str, str], spec: str) -> PairSource:
        from alignkit.data.table_files import TableSource

        p = _take(p, ("image", "caption", "text", "key", "root"), spec)
        caption = p.get("caption") or p.get("text") or "caption"
        return TableSource(loc, image=p.get("image", "image"), caption=caption, key=p.get("key"), root=p.get("root"), fmt=fmt)

    return open_


def _open_folder(loc: str, p: dict[str, str], spec: str) -> PairSource:
    from alignkit.data.folder import FolderSource

    p = _take(p, ("captions",), spec)
    path = Path(loc)
    if path.suffix.lower() in (".json", ".jsonl") and "captions" not in p:
        return FolderSource(path.parent, captions=path)
    return FolderSource(path, captions=p.get("captions"))


def _open_hf(loc: str, p: dict[str, str], spec: str) -> PairSource:
    from alignkit.data.hf import HFDatasetSource

    p = _take(p, ("image", "text", "caption", "split", "key"), spec)
    text = p.get("text") or p.get("caption") or "text"
    return HFDatasetSource(loc, image=p.get("image", "image"), text=text, split=p.get("split"), key=p.get("key"))


# Sources that open other sources themselves (built-in sets, curated subsets, concatenations)
# are lazy "module:object" references, so this module never imports a module that imports it.
LAZY_OPENERS: dict[str, str] = {
    "builtin": "alignkit.data.builtin:open_builtin_source",
    "subset": "alignkit.data.subset:SubsetSource",
    "concat": "alignkit.data.concat:ConcatSource",
}


def _open_builtin(loc: str, p: dict[str, str], spec: str) -> PairSource:
    return load(LAZY_OPENERS["builtin"])(loc, p)


def _open_subset(loc: str, p: dict[str, str], spec: str) -> PairSource:
    _take(p, (), spec)
    return load(LAZY_OPENERS["subset"])(loc)


_OPENERS: dict[str, Callable[[str, dict[str, str], str], PairSource]] = {
    "wds": _open_wds,
    "csv": _open_table("csv"),
    "tsv": _open_table("tsv"),
    "parquet": _open_table("parquet"),
    "folder": _open_folder,
    "hf": _open_hf,
    "builtin": _open_builtin,
    "subset": _open_subset,
}


def open_source(spec: str) -> PairSource:
    """The pair source a ``--data`` spec names (syntax in this module's docstring)."""
    if SEPARATOR in spec:
        return load(LAZY_OPENERS["concat"])([part.strip() for part in spec.split(SEPARATOR)])
    scheme, loc, params = parse_data_spec(spec)
    scheme = scheme or guess_scheme(loc)
    if not loc:
        raise AlignkitError(f"{spec}: nothing after '{scheme}:'; give a path, pattern or name")
    return _OPENERS[scheme](loc, params, spec)
