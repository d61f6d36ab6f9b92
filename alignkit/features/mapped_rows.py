"""Row access to a store's pooled features without loading the store: memory-mapped shards.

A store larger than memory is read by gathering the rows a batch needs straight from its
float16 shard files (``mmap``), so resident memory stays near one batch whatever the store
size. Pages a gather touched are handed back to the kernel every few gathers
(``madvise(MADV_DONTNEED)``: they stay in the page cache, which is not this process's RSS).
Values are exactly the in-memory path's: float16 on disk converted to float32.
"""

from __future__ import annotations

import mmap
import resource
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from alignkit.errors import AlignkitError

_RELEASE_BYTES = 64 << 20  # mapped bytes gathers may touch before they are handed back


def map_npy(path: Path) -> tuple[mmap.mmap, np.ndarray]:
    """A read-only memory map of a ``.npy`` file (no pickle) and the array viewing it."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject or fortran:
            raise AlignkitError(f"{path}: not a plain C-ordered numeric array; re-embed this store")
        offset = f.tell()
        count = int(np.prod(shape))
        if count == 0:
            return None, np.zeros(shape, dtype)  # type: ignore[return-value]  (mmap refuses empty files)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return mm, np.frombuffer(mm, dtype=dtype, count=count, offset=offset).reshape(shape)


class MappedRows:
    """A store's pooled features as one (rows, dim) table read from its shards on demand.

    ``rows`` picks (and orders) the store rows this table exposes: table row ``i`` is store
    row ``rows[i]``. Shards are opened lazily and at most ``max_open`` stay mapped (each
    holds a file descriptor).
    """

    def __init__(self, store: Any, rows: np.ndarray | None = None, max_open: int | None = None):
        self.path = Path(store.path)
        self.dim = store.dim
        self._names = [s["name"] for s in store.manifest["shards"]]
        counts = np.array([s["rows"] for s in store.manifest["shards"]], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        total = int(self._starts[-1])
        self._rows = np.arange(total, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        self._open: OrderedDict[int, tuple[mmap.mmap | None, np.ndarray]] = OrderedDict()
        self._max_open = max_open or _open_file_budget()
        self._touched: set[int] = set()
        self._pending = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def nbytes_on_disk(self) -> int:
        return len(self._rows) * self.dim * 2

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Float32 features of table rows ``rows`` (any order, repeats allowed)."""
        store_rows = self._rows[np.asarray(rows, dtype=np.int64)]
        out = np.empty((len(store_rows), self.dim), dtype=np.float32)
        shard = np.searchsorted(self._starts, store_rows, side="right") - 1
        order = np.argsort(shard, kind="stable")
        bounds = np.flatnonzero(np.diff(shard[order])) + 1
        for part in np.split(order, bounds) if len(order) else []:
            s = int(shard[part[0]])
            out[part] = self._shard(s)[store_rows[part] - self._starts[s]]
            self._touched.add(s)
        self._pending += len(store_rows) * max(mmap.PAGESIZE, self.dim * 2)  # each row may touch a page
        if self._pending >= _RELEASE_BYTES:
            self.release()
        return out

    def release(self) -> None:
        """Hand the pages gathers touched back to the kernel (RSS drops; the page cache keeps them)."""
        for s in self._touched:
            mm = self._open.get(s, (None, None))[0]
            if mm is not None:
                mm.madvise(mmap.MADV_DONTNEED)
        self._touched.clear()
        self._pending = 0

    def _shard(self, s: int) -> np.ndarray:
        if s in self._open:
            self._open.move_to_end(s)
            return self._open[s][1]
        path = self.path / f"{self._names[s]}.npy"
        if not path.exists():
            raise AlignkitError(f"{path} is missing: the store is damaged; rerun `alignkit embed` to rebuild it")
        mm, arr = map_npy(path)
        expected = (int(self._starts[s + 1] - self._starts[s]), self.dim)
        if arr.shape != expected:
            raise AlignkitError(f"{path} holds {arr.shape}, the manifest says {expected}; rerun `alignkit embed` to rebuild it")
        self._open[s] = (mm, arr)
        while len(self._open) > self._max_open:
            old, _ = self._open.popitem(last=False)
            self._touched.discard(old)  # unmapped when its array is collected
        return arr


def _open_file_budget() -> int:
    """How many shards may stay mapped at once: half the open-file limit (raised to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(16, (soft if soft != resource.RLIM_INFINITY else 65536) // 2)
