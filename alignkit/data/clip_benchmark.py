"""Standard benchmark data a user already has on disk, read through CLIP_benchmark's own dataset
builder, so ``cb:NAME?root=DIR`` gives exactly the images, class names and prompt templates
CLIP_benchmark evaluates on (``NAME`` is its dataset name: mnist, imagenet1k, dtd, ...).

Nothing is downloaded (the builder runs with ``download=False``, and a missing root is refused
before the builder could fetch one); data sets that torchvision stores as pickles (CIFAR) are
refused, because alignkit never unpickles files it did not write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignkit.errors import AlignkitError, NotInstalledError

PICKLED = {"cifar10", "cifar100"}  # torchvision reads these with pickle.load
OPTIONS = ("root", "split", "language", "n")


def clip_benchmark_task(name: str, params: dict[str, str]) -> Any:
    """The zero-shot classification task CLIP_benchmark builds for ``name`` from a local root."""
    from alignkit.data.tasks import ClassificationTask, LabeledItem

    unknown = sorted(set(params) - set(OPTIONS))
    if unknown:
        raise AlignkitError(f"cb:{name}: unknown option(s) {unknown}; cb: tasks accept {', '.join(OPTIONS)}")
    if name in PICKLED:
        raise AlignkitError(f"cb:{name} is stored as Python pickles, which alignkit does not load; "
                            "export it as an image folder and use folder-task:DIR")
    root = params.get("root")
    if not root or not Path(root).expanduser().is_dir():
        raise AlignkitError(f"cb:{name} needs ?root=DIR, an existing folder laid out as CLIP_benchmark reads {name} "
                            f"(got {root!r}); alignkit never downloads benchmark data")
    try:
        from clip_benchmark.datasets.builder import build_dataset, get_dataset_default_task
    except ImportError:
        raise NotInstalledError("cb: tasks need CLIP_benchmark: pip install clip-benchmark==1.6.2") from None
    if get_dataset_default_task(name) != "zeroshot_classification":
        raise AlignkitError(f"cb:{name} is a {get_dataset_default_task(name)} data set; cb: supports classification sets")
    split = params.get("split", "test")
    try:
        ds = build_dataset(name, root=str(Path(root).expanduser()), transform=None, split=split, download=False,
                           language=params.get("language", "en"), task="zeroshot_classification")
    except (RuntimeError, OSError, AssertionError, ValueError, KeyError) as e:
        raise AlignkitError(f"cb:{name}: CLIP_benchmark could not read {root} (split {split}): {type(e).__name__}: {e}") from None
    n = len(ds) if "n" not in params else min(len(ds), _positive(params["n"], name))
    paths = [p for p, _ in getattr(ds, "samples", [])]  # folder-backed sets: read lazily from their files
    items = []
    for i in range(n):
        image, label = (paths[i], ds.samples[i][1]) if paths else ds[i]
        items.append(LabeledItem(f"{i:07d}", image, int(label)))
    meta = {"source": f"CLIP_benchmark {name} ({split}) from {root}"}
    return ClassificationTask(name, list(ds.classes), ds.templates, items, [], meta)


def _positive(value: str, name: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise AlignkitError(f"cb:{name}: n must be a positive integer, got {value!r}")
    return n
