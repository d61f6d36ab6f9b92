"""One writer per folder: the lock every writer of a feature store, run folder or output folder takes.

``folder_lock(folder, job)`` holds an OS file lock (``filelock``: ``flock`` on POSIX, released by
the kernel when the holder dies, so a killed run never leaves a stale lock) on ``<folder>/.alignkit.lock``
while the block runs, and writes who holds it (pid, host, command, start time) beside it in
``.alignkit.lock.json``. A second writer, in any process, fails at once with a one-line
``FolderBusyError`` naming that holder. Within one process the lock is re-entrant (a run that
locks its folder may call a writer that locks it again).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from alignkit.errors import AlignkitError

LOCK = ".alignkit.lock"
HOLDER = ".alignkit.lock.json"
F = TypeVar("F", bound=Callable[..., Any])
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


def locks_folder(arg: str, job: str) -> Callable[[F], F]:
    """Decorator: the function runs holding the folder given as its argument ``arg`` (``folder_lock``)."""
    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with folder_lock(signature.bind(*args, **kwargs).arguments[arg], job):
                return fn(*args, **kwargs)
        return locked  # type: ignore[return-value]
    return wrap


def _write_holder(path: Path) -> None:
    """Plain write, no fsync: the note is for people, and a reader that finds it half-written says "holder unknown"."""
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    (path / HOLDER).write_text(json.dumps(info), encoding="utf-8")


def _describe(info: dict[str, object] | None) -> str:
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')} on {info.get('host')}, since {info.get('started')}: {info.get('command')}"
