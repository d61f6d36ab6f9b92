"""Where a results file came from: the command, the git commit, the recipe digest, the machine, the load.

Every writer under ``benchmarks/`` puts ``provenance(...)`` into its JSON and ``header(...)``
at the top of its Markdown, so a figure in ``benchmarks/results/`` can always be traced to the
command (and commit) that regenerates it.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from alignkit import provenance as alignkit_provenance

ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The checkout's commit, with ``+dirty`` when tracked files differ from it (``alignkit.provenance``)."""
    return alignkit_provenance.git_commit(ROOT) or "unknown"


def recipe_digest(recipe: dict[str, Any] | None) -> str | None:
    """A short digest of a recipe (an AlignConfig dict), the same for the same knobs in any key order."""
    return None if recipe is None else alignkit_provenance.digest_of(recipe, 12)


def machine() -> dict[str, Any]:
    """What the numbers were measured on: timings depend on it, accuracies should not."""
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(), "python": platform.python_version()}


def provenance(recipe: dict[str, Any] | None = None, command: str | None = None) -> dict[str, Any]:
    """The facts every results file records."""
    return {"command": command or current_command(), "commit": git_commit(), "recipe_digest": recipe_digest(recipe),
            "machine": machine(), "load_average_at_start": round(os.getloadavg()[0], 2),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "versions": alignkit_provenance.package_versions()}


def current_command() -> str:
    """This process's command line, relative to the repository root."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return "python " + " ".join(shlex.quote(a) for a in [str(script), *sys.argv[1:]])


def header(title: str, facts: dict[str, Any]) -> str:
    """The Markdown opening of a results file: title, command, commit, recipe, machine, load."""
    m = facts["machine"]
    lines = [f"# {title}", "",
             f"Command: `{facts['command']}`  ",
             f"Commit: `{facts['commit']}`; recipe digest: `{facts['recipe_digest'] or '-'}`; date: {facts['date']}  ",
             f"Machine: {m['cpus']} CPUs ({m['cpu']}), torch {m['torch']} ({m['torch_threads']} threads), "
             f"CUDA {'yes' if m['cuda'] else 'no'}; load average at start {facts['load_average_at_start']}", ""]
    return "\n".join(lines) + "\n"


def table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    """A Markdown table of ``rows`` (floats to 3 decimals, None blank)."""
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def _cell(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v))
