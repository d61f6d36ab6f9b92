"""Evaluation tasks: zero-shot classification (images, labels, class names, prompt templates)
and retrieval (images with one or more captions each).

Templates follow CLIP_benchmark's conventions: a list of strings with ``{c}`` for the class
name, or a per-class dict ``{classname: [prompts]}``. Task specs (``open_task``)::

    builtin:fashion-mnist?n=1000          built-in tasks (``alignkit data list``)
    folder-task:/data/pets?templates=my_templates.json   one sub-folder per class
    task:/data/pets.json                  a task file (format below); a plain *.json path works too
    retrieval:csv:/data/pairs.csv?image=path&caption=text   any pair source, as a retrieval task
    cb:mnist?root=/data/mnist&split=test  a CLIP_benchmark data set on disk, read by its own builder

A task file: ``{"name": ..., "classnames": [...], "templates": [...] | {...} | "FILE.json",
"items": [{"image": "rel/path.png", "label": 0 | "classname", "key": optional}], "root": optional}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union

import numpy as np

from alignkit.data.base import ImageRef, Pair, PairSource, Skip, caption_items, image_items
from alignkit.data.plain import IMAGE_EXTENSIONS
from alignkit.errors import AlignkitError
from alignkit.lazy import load

Templates = Union[list[str], dict[str, list[str]]]


@dataclass
class LabeledItem:
    key: str
    image: ImageRef
    label: int


@dataclass
class ClassificationTask:
    """Images with labels, the class names, and the prompt templates that name them."""

    name: str
    classnames: list[str]
    templates: Templates
    items: list[LabeledItem]
    skipped: list[Skip] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_templates(self.templates, self.classnames, self.name)
        if len(self.classnames) < 2:
            raise AlignkitError(f"task {self.name}: needs at least two classes, got {self.classnames}")
        bad = [it.key for it in self.items if not 0 <= it.label < len(self.classnames)]
        if bad:
            raise AlignkitError(f"task {self.name}: labels out of range for {len(self.classnames)} classes (e.g. {bad[:3]})")

    def prompts(self) -> list[list[str]]:
        """For each class, in class order, the prompts that describe it."""
        if isinstance(self.templates, dict):
            return [list(self.templates[c]) for c in self.classnames]
        return [[t.replace("{c}", c) for t in self.templates] for c in self.classnames]

    def prompt_items(self) -> list[tuple[str, str]]:
        """(``class<i>#<j>``, prompt) items, ready for the feature extractor (a list: its length
        gives progress bars their total)."""
        return [(f"class{i}#{j}", p) for i, prompts in enumerate(self.prompts()) for j, p in enumerate(prompts)]

    def image_items(self) -> list[tuple[str, ImageRef]]:
        return [(it.key, it.image) for it in self.items]

    def labels(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=np.int64)

    def label_of(self) -> dict[str, int]:
        """Key -> label: join labels to feature-store rows by key, never by position."""
        return {it.key: it.label for it in self.items}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "classification", "classes": len(self.classnames), "images": len(self.items), **self.meta}


@dataclass
class RetrievalTask:
    """Images with one or more captions each (text rows are keyed ``<pair key>#<i>``)."""

    name: str
    pairs: list[Pair]
    skipped: list[Skip] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_source(cls, name: str, source: PairSource, meta: dict[str, Any] | None = None) -> "RetrievalTask":
        pairs = list(source)
        return cls(name, pairs, list(source.skipped), {"source": source.describe(), **(meta or {})})

    def image_items(self) -> list[tuple[str, ImageRef]]:
        return list(image_items(self.pairs))

    def caption_items(self) -> list[tuple[str, str]]:
        return list(caption_items(self.pairs))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "retrieval", "images": len(self.pairs), "captions": sum(len(p.captions) for p in self.pairs), **self.meta}


Task = Union[ClassificationTask, RetrievalTask]


def check_templates(templates: Any, classnames: list[str], where: str) -> None:
    """Refuse templates that cannot name every class (missing ``{c}``, missing classes)."""
    if isinstance(templates, list):
        if not templates or not all(isinstance(t, str) and "{c}" in t for t in templates):
            raise AlignkitError(f"{where}: templates must be a non-empty list of strings containing '{{c}}'")
    elif isinstance(templates, dict):
        missing = [c for c in classnames if not templates.get(c)]
        if missing:
            raise AlignkitError(f"{where}: the per-class prompts have none for {missing[:5]}")
    else:
        raise AlignkitError(f"{where}: templates must be a list with '{{c}}' or a dict classname -> prompts")


def bundled_json(name: str) -> dict[str, Any]:
    """A JSON file from ``alignkit/data/templates`` (class names and prompts are data, not code)."""
    text = resources.files("alignkit.data").joinpath("templates").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


def load_templates(path: str | Path) -> Templates:
    """A templates file: a list, ``{"templates": [...]}``, or a per-class dict of prompts."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AlignkitError(f"cannot read templates file {path}: {e}") from None
    if isinstance(data, dict) and "templates" in data:
        data = data["templates"]
    if not isinstance(data, (list, dict)):
        raise AlignkitError(f"{path}: templates must be a JSON list or object")
    return data


def load_task_file(path: str | Path, templates: str | None = None, classnames: str | None = None) -> ClassificationTask:
    """A classification task from a JSON task file (format in the module docstring)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AlignkitError(f"cannot read task file {path}: {e}") from None
    if not isinstance(data, dict) or "items" not in data:
        raise AlignkitError(f"{path}: a task file is a JSON object with classnames, templates and items")
    names = _load_classnames(classnames) if classnames else data.get("classnames")
    if not isinstance(names, list) or not names:
        raise AlignkitError(f"{path}: needs a non-empty 'classnames' list (or ?classnames=FILE)")
    names = [str(c) for c in names]
    tmpl: Any = templates or data.get("templates") or bundled_json("generic.json")["templates"]
    if isinstance(tmpl, str):
        tmpl = load_templates(tmpl if Path(tmpl).is_absolute() else path.parent / tmpl)
    root = path.parent / data.get("root", ".")
    index = {c: i for i, c in enumerate(names)}
    items: list[LabeledItem] = []
    skipped: list[Skip] = []
    seen: set[str] = set()
    for n, rec in enumerate(data["items"]):
        label = rec.get("label") if isinstance(rec, dict) else None
        label = index.get(label) if isinstance(label, str) else label
        image = rec.get("image") if isinstance(rec, dict) else None
        key = str(rec.get("key") or image) if isinstance(rec, dict) else f"item{n}"
        if not isinstance(image, str) or not isinstance(label, int) or isinstance(label, bool):
            skipped.append(Skip(key, "item needs an image path and a label (class index or name)"))
        elif key in seen:
            skipped.append(Skip(key, "duplicate key: kept the first"))
        elif not (root / image).is_file():
            skipped.append(Skip(key, f"missing file: {root / image}"))
        else:
            seen.add(key)
            items.append(LabeledItem(key, str(root / image), label))
    return ClassificationTask(str(data.get("name") or path.stem), names, tmpl, items, skipped, {"source": str(path)})


def _load_classnames(path: str) -> list[str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AlignkitError(f"cannot read classnames file {path}: {e}") from None
    data = data.get("classnames") if isinstance(data, dict) else data
    if not isinstance(data, list):
        raise AlignkitError(f"{path}: classnames must be a JSON list (or an object with 'classnames')")
    return [str(c) for c in data]


def folder_task(root: str | Path, templates: str | None = None, classnames: str | None = None) -> ClassificationTask:
    """Any image folder laid out one sub-folder per class is a classification task.

    Classes are the sub-folders in sorted order; their names (``_``/``-`` read as spaces)
    are the class names unless a classnames file (same order) is given.
    """
    root = Path(root)
    if not root.is_dir():
        raise AlignkitError(f"task folder not found: {root}")
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(folders) < 2:
        raise AlignkitError(f"{root}: a folder task needs one sub-folder per class (found {len(folders)})")
    names = _load_classnames(classnames) if classnames else [d.name.replace("_", " ").replace("-", " ") for d in folders]
    if len(names) != len(folders):
        raise AlignkitError(f"{classnames}: {len(names)} class names for {len(folders)} class folders")
    items = [
        LabeledItem(f"{d.name}/{f.name}", str(f), label)
        for label, d in enumerate(folders)
        for f in sorted(d.iterdir())
        if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
    ]
    tmpl = load_templates(templates) if templates else bundled_json("generic.json")["templates"]
    return ClassificationTask(root.name, names, tmpl, items, [], {"source": str(root)})


# Task schemes whose modules build tasks from this module's containers: lazy "module:object"
# references, so this module never imports a module that imports it.
TASK_OPENERS: dict[str, str] = {
    "builtin": "alignkit.data.builtin:open_builtin_task",
    "cb": "alignkit.data.clip_benchmark:clip_benchmark_task",
}


def open_task(spec: str) -> Task:
    """The classification or retrieval task a spec names (syntax in the module docstring)."""
    from alignkit.data.sources import SCHEMES, open_source, parse_data_spec

    spec = spec.strip()
    if spec.startswith("retrieval:"):
        inner = spec[len("retrieval:") :]
        return RetrievalTask.from_source(inner, open_source(inner))
    scheme, loc, params = parse_data_spec(spec, SCHEMES + ("folder-task", "task", "cb"))
    if scheme in TASK_OPENERS:
        return load(TASK_OPENERS[scheme])(loc, params)
    opts = {k: params.pop(k) for k in ("templates", "classnames") if k in params}
    if params:
        raise AlignkitError(f"{spec}: unknown option(s) {sorted(params)}; tasks accept templates=FILE, classnames=FILE")
    if scheme == "folder-task":
        return folder_task(loc, **opts)
    if scheme == "task" or (scheme is None and loc.lower().endswith(".json")):
        return load_task_file(loc, **opts)
    raise AlignkitError(
        f"{spec!r} names no task. Use builtin:NAME, folder-task:DIR, task:FILE.json, cb:NAME?root=DIR "
        "(a CLIP_benchmark data set on disk), or retrieval:SOURCE for a retrieval task over any pair source"
    )
