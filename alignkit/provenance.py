"""Where an output came from: package versions, the git commit alignkit runs from, the time, the
command and a digest of the data it was made from.

One helper for every writer: model folders (``provenance.json`` beside ``config.json``), report
pages and their results files, and ``benchmarks/provenance.py`` for the recorded results.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable

PACKAGES = ("alignkit", "torch", "transformers", "sentence-transformers", "onnxruntime")
CHECKOUT = Path(__file__).resolve().parents[1]  # the repository root when alignkit runs from a checkout


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when it is not installed)."""
    out: dict[str, str | None] = {}
    for pkg in packages:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


@functools.lru_cache(maxsize=8)
def git_commit(root: Path = CHECKOUT, short: int = 12) -> str | None:
    """The checkout's commit, with ``+dirty`` when tracked files differ from it; None outside a
    checkout (an installed wheel) or without git. Asked once per process: the code that runs was
    read when it started (and a model saved every epoch asks no git each time)."""
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "rev-parse", f"--short={short}", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def run_provenance(command: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The facts every output records: versions, commit, UTC time, python, the command, the data digest."""
    return {"versions": package_versions(), "python": platform.python_version(), "commit": git_commit(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": command, "data": data}


def provenance_line(facts: dict[str, Any]) -> str:
    """One line for a page: alignkit and torch versions, the commit, the time."""
    v = facts.get("versions", {})
    parts = [f"{k} {v[k]}" for k in PACKAGES if v.get(k)]
    return ", ".join(parts) + f"; commit {facts.get('commit') or 'none (not a checkout)'}; {facts.get('time')}"


def digest_of(value: Any, length: int = 16) -> str:
    """A short digest of any JSON-able value, the same in any key order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:length]
