"""Compute accounting: wall time and memory of each stage of a benchmark run.

Two memory figures, because neither alone tells the story: the process's peak resident set
(``resource.getrusage``; a high-water mark over the whole process so far, so it never goes
down) and the peak of Python-tracked allocations during the stage (``tracemalloc``; covers
numpy arrays, not torch's own allocator).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from contextlib import contextmanager
from typing import Any, Iterator


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class Meter:
    """Times stages and records their memory; ``rows`` are tidy, one per stage."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._started_tracing = not tracemalloc.is_tracing()
        if self._started_tracing:
            tracemalloc.start()

    @contextmanager
    def stage(self, name: str, **labels: Any) -> Iterator[dict[str, Any]]:
        """Measure the block; the yielded dict takes extra fields (e.g. ``reused=True``)."""
        extra: dict[str, Any] = {}
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        try:
            yield extra
        finally:
            seconds = time.perf_counter() - t0
            py_peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
            self.rows.append({"stage": name, **labels, "seconds": round(seconds, 3),
                              "python_peak_mb": round(py_peak, 1), "process_peak_rss_mb": round(peak_rss_mb(), 1), **extra})

    def close(self) -> None:
        if self._started_tracing and tracemalloc.is_tracing():
            tracemalloc.stop()
