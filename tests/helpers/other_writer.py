"""A second process that holds a folder's lock (``alignkit.locks.folder_lock``) while a test runs
the writer that must refuse it: two writers in two processes, deterministically."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_HOLD = ("import sys, time\n"
         "from alignkit.locks import folder_lock\n"
         "with folder_lock(sys.argv[1], 'test folder'):\n"
         "    print('held', flush=True)\n"
         "    time.sleep(120)\n")


@contextmanager
def held_by_another_process(folder: Path) -> Iterator[int]:
    """Yield the pid of a process holding ``folder``'s lock; it is killed afterwards."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder), "--other-writer"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()
