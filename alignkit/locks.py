"""One writer per folder: the lock every writer of a feature store, run folder or output folder takes.

``folder_lock(folder, job)`` holds an OS file lock (``filelock``: ``flock`` on POSIX, released by
the kernel when the holder dies, so a killed run never leaves a stale lock) on ``<folder>/.alignkit.lock``
while the block runs, and writes who holds it (pid, host, command, start time) beside it in
``.alignkit.lock.json``. A second writer, in any process, fails at once with a one-line
``FolderBusyError`` naming that holder. Within one process the lock is re-entrant (a run that
locks its folder may call a writer that locks it again).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from alignkit.errors import AlignkitError

LOCK = ".alignkit.lock"
HOLDER = ".alignkit.lock.json"
_held: dict[Path, int] = {}  # folders this process holds, with their nesting depth


class FolderBusyError(AlignkitError):
    """Another process is writing the folder."""


def holder(folder: str | Path) -> dict[str, object] | None:
    """Who holds (or last held) the folder's lock: pid, host, command, started; None when unknown."""
    try:
        return json.loads((Path(folder) / HOLDER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def folder_lock(folder: str | Path, job: str = "written") -> Iterator[Path]:
    """Hold ``folder`` (created if needed) for one writer while the block runs; ``job`` says what
    the folder is (e.g. "feature store", "run folder") in the error a second writer gets."""
    import filelock

    path = Path(folder).expanduser().absolute()
    if path in _held:
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AlignkitError(f"cannot create the {job} {path}: {e.strerror or e}") from None
    lock = filelock.FileLock(str(path / LOCK), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise FolderBusyError(f"the {job} {path} is being written by another process ({_describe(holder(path))}); "
                              "wait for it to finish, or use another folder") from None
    _held[path] = 1
    try:
        _write_holder(path)
        yield path
    finally:
        del _held[path]
        (path / HOLDER).unlink(missing_ok=True)
        lock.release()


@contextmanager
def folder_locks(folders: Iterable[str | Path], job: str = "written") -> Iterator[None]:
    """``folder_lock`` on several folders at once (all or none)."""
    with ExitStack() as stack:
        for folder in folders:
            stack.enter_context(folder_lock(folder, job))
        yield


def _write_holder(path: Path) -> None:
    from alignkit.atomic import atomic_write_json

    atomic_write_json(path / HOLDER, {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                                      "started": time.strftime("%Y-%m-%d %H:%M:%S")})


def _describe(info: dict[str, object] | None) -> str:
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')} on {info.get('host')}, since {info.get('started')}: {info.get('command')}"
