"""Peak resident memory of a command, per stage, measured from outside the process.

The command runs in its own process; a sampler reads the resident set (``VmRSS``) of it and of
every process it started, ten times a second, from ``/proc``. Each sample is charged to the
stage the command last announced: the last line it printed that is not a progress bar. So the
figures include everything the process holds (torch, ONNX Runtime, Python), not only what
tracemalloc can see, and need no hook inside alignkit. Linux only (``/proc``).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

_BAR = re.compile(r"\d+%\||it/s|s/it|file/s|\[\d\d:\d\d")


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_rss_mb(pid: int) -> float:
    """Resident set of ``pid`` and all its descendants, in MiB (0 when it is gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
        todo += _children(p)
    return total / 1024


def measure(args: list[str], env: dict[str, str] | None = None, cwd: str | Path | None = None,
            log: Path | None = None, interval: float = 0.1) -> dict[str, Any]:
    """Run ``args``; return its exit code, wall seconds, overall peak RSS and peak RSS per stage
    (stages in the order they were first seen)."""
    stage = ["start"]
    peaks: dict[str, float] = {}
    lines: list[str] = []

    def read(stream: Any) -> None:
        buf = ""
        for chunk in iter(lambda: stream.read(1), ""):
            if chunk not in "\r\n":
                buf += chunk
                continue
            text = buf.strip()
            buf = ""
            if text and not _BAR.search(text):
                stage[0] = text[:120]
                lines.append(text)

    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    reader = threading.Thread(target=read, args=(proc.stdout,), daemon=True)
    reader.start()
    while proc.poll() is None:
        rss = tree_rss_mb(proc.pid)
        key = stage[0]
        peaks[key] = max(peaks.get(key, 0.0), rss)
        time.sleep(interval)
    reader.join(timeout=5)
    seconds = time.perf_counter() - t0
    if log is not None:
        log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"returncode": proc.returncode, "seconds": round(seconds, 1),
            "peak_rss_mb": round(max(peaks.values(), default=0.0), 1),
            "stages": [{"stage": k, "peak_rss_mb": round(v, 1)} for k, v in peaks.items()]}


def env_with(**extra: str) -> dict[str, str]:
    """This process's environment plus ``extra`` (offline hubs always)."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}
