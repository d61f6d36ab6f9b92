"""Atomic file writes, the one helper every stage uses to put a file on disk.

A file is written to a per-process temporary name beside its target, flushed, fsynced and
renamed over the target, so a reader, a concurrent writer or a resumed run never sees a
partial file; each write returns the SHA-256 of what it wrote. A full disk becomes a
``DiskFullError`` naming the file, and nothing half-written is left behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from alignkit.errors import AlignkitError


class DiskFullError(AlignkitError):
    """The device ran out of space while a file was written; nothing half-written is left."""


class _Hashing:
    """A write-only file wrapper that hashes what passes through (so a digest costs no re-read)."""

    def __init__(self, f: Any):
        self.f, self.h = f, hashlib.sha256()

    def write(self, data: Any) -> int:
        self.h.update(data)
        return self.f.write(data)


def _atomic_write(path: Path, fill: Callable[[Any], None]) -> str:
    """Write through ``fill(file)`` to a temporary name, fsync, rename over ``path``; return the
    SHA-256 of the bytes. On any failure the temporary file is removed, and a full disk becomes a
    ``DiskFullError`` naming the file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            hashing = _Hashing(f)
            fill(hashing)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise DiskFullError(f"no space left on the device while writing {path}; free some space and rerun "
                                "(finished shards and checkpoints are kept)") from None
        raise
    return hashing.h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """Write to ``path`` so a reader (or a resumed run) never sees a partial file; return its SHA-256."""
    return _atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: Path, obj: Any) -> str:
    return atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def atomic_save_npy(path: Path, arr: np.ndarray) -> str:
    return _atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file read in chunks; None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()
