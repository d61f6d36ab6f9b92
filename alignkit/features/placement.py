"""Where cached features live while the heads train: in RAM, memory-mapped, or on the device.

``ram``     every pooled feature as float32 in process memory (the fastest CPU path).
``mmap``    batches gathered from the store's memory-mapped float16 shards: stores larger
            than memory train with RSS bounded by a few batches.
``device``  every pooled feature as float16 on the training device, batches indexed there
            (no loader at all: on a GPU, the fastest path when the features fit).

All three hand the trainer identical float32 batches (float16 from disk, converted once), so
a run is bit-identical whichever path holds its features. ``auto`` picks the device when the
features fit in half of its free memory, else RAM when twice their float32 size fits in
most of the available memory, else mmap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

class TensorRows:
    """A (rows, dim) tensor (float32 in RAM, or float16 on a device) gathered by row."""

    def __init__(self, table: torch.Tensor):
        self.table = table
        self.dim = int(table.shape[1])

    def __len__(self) -> int:
        return int(self.table.shape[0])

    def take(self, rows: np.ndarray) -> torch.Tensor:
        idx = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.table.device, non_blocking=True)
        return self.table[idx].float()

    def all(self) -> torch.Tensor:
        return self.table.float()


class MappedTable:
    """A memory-mapped store table (``alignkit.features.mapped_rows.MappedRows``) handing out CPU tensors."""

    def __init__(self, mapped: Any):
        self.mapped = mapped
        self.dim = mapped.dim

    def __len__(self) -> int:
        return len(self.mapped)

    def take(self, rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.mapped.take(rows))

    def all(self) -> torch.Tensor:
        return self.take(np.arange(len(self.mapped)))


def choose(requested: str, n_values: int, device: torch.device) -> tuple[str, str]:
    """(path, why) for ``n_values`` pooled feature values (both sides) trained on ``device``."""
    size = _gb(n_values * 2)
    if requested != "auto":
        return requested, f"--features-in {requested} ({size} as float16)"
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if n_values * 2 <= free // 2:
            return "device", f"{size} as float16 fit in half of the GPU's {_gb(free)} free"
    available = available_memory()
    if n_values * 8 <= available * 0.8:
        return "ram", f"{_gb(n_values * 4)} as float32 fit in the {_gb(available)} of available memory"
    return "mmap", f"{_gb(n_values * 4)} as float32 would not fit in the {_gb(available)} of available memory"


def available_memory() -> int:
    """Bytes this process could still allocate: MemAvailable, capped by a cgroup memory limit."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 8 << 30
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(0, avail)


def chunk_rows(dim: int) -> int:
    """Rows per chunk when a whole table is scanned (about 8M values, 32 MB as float32)."""
    return max(1, (8 << 20) // max(1, dim))


def scan(take: Callable[[np.ndarray], torch.Tensor], rows: np.ndarray, dim: int) -> Iterator[tuple[int, torch.Tensor]]:
    """(offset into ``rows``, features) over ``rows`` in order, in chunks of bounded size."""
    size = chunk_rows(dim)
    for s in range(0, len(rows), size):
        yield s, take(rows[s : s + size])


def fit_standardize(standardize: Any, take: Callable[[np.ndarray], torch.Tensor], rows: np.ndarray, dim: int, scale: bool = True) -> None:
    """Set a ``Standardize`` module's mean and (with ``scale``, else std stays 1) unbiased std
    from ``rows``, in float64 chunks, so a store larger than memory is fitted like one in RAM."""
    total = torch.zeros(dim, dtype=torch.float64)
    for _, x in scan(take, rows, dim):
        total += x.double().sum(0).cpu()
    mean = total / len(rows)
    standardize.mean.copy_(mean.float())
    if not scale:
        return
    squares = torch.zeros(dim, dtype=torch.float64)
    for _, x in scan(take, rows, dim):
        squares += ((x.double().cpu() - mean) ** 2).sum(0)
    std = (squares / max(1, len(rows) - 1)).sqrt()
    standardize.std.copy_(std.float().clamp(min=1e-6))


def _gb(n: int) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**27 else f"{n / 2**20:.1f} MB"
