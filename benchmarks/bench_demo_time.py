"""How long a new user waits for `alignkit demo`: the quick version, the first run, and a rerun.

Each first run starts from an empty derived-files cache (``$ALIGNKIT_CACHE`` in a temporary
folder: no unzipped models, ONNX exports or feature stores) while the data sets stay where
``scripts/setup.sh`` put them (fetching them is setup's job, not the demo's). Runs one after the
other, never side by side, each as the installed ``alignkit`` command in its own process:

1. ``alignkit demo --quick`` in a fresh cache;
2. ``alignkit demo`` in another fresh cache (the first run);
3. ``alignkit demo`` again on that cache and report folder (the rerun).

The wall time of each stage comes from the time stamps of the lines the demo prints. Writes
``benchmarks/results/demo_time.{md,json}``.

Usage: HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python benchmarks/bench_demo_time.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import ROOT, header, provenance, table

RESULTS = ROOT / "benchmarks" / "results"
ALIGNKIT = str(Path(sys.executable).with_name("alignkit"))
DATA = os.environ.get("ALIGNKIT_DATA") or str(Path.home() / ".cache" / "alignkit" / "data")


def timed(args: list[str], cache: Path, log: Path) -> float:
    """Run ``alignkit ARGS`` with ``cache`` as its derived-files cache; its output goes to ``log``."""
    env = {**os.environ, "ALIGNKIT_CACHE": str(cache), "ALIGNKIT_DATA": DATA, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run([ALIGNKIT, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"alignkit {' '.join(args)} failed (exit {done.returncode}); its output is in {log}")
    return round(seconds, 1)


def main() -> None:
    facts = provenance()
    work = Path(tempfile.mkdtemp(prefix="demo-time-"))
    runs = [("alignkit demo --quick (first run)", ["demo", "--quick", "--quiet", "--out", str(work / "quick")], work / "cache-quick"),
            ("alignkit demo (first run)", ["demo", "--quiet", "--out", str(work / "demo")], work / "cache-demo"),
            ("alignkit demo (rerun)", ["demo", "--quiet", "--out", str(work / "demo")], work / "cache-demo")]
    rows = []
    for i, (name, args, cache) in enumerate(runs):
        seconds = timed(args, cache, work / f"run{i}.log")
        rows.append({"run": name, "command": "alignkit " + " ".join(a if not a.startswith(str(work)) else "DIR" for a in args),
                     "wall seconds": seconds, "minutes": round(seconds / 60, 1)})
        print(rows[-1], flush=True)
    facts["wall_seconds"] = round(sum(r["wall seconds"] for r in rows), 1)
    (RESULTS / "demo_time.json").write_text(json.dumps({"provenance": facts, "runs": rows}, indent=1), encoding="utf-8")
    text = header("How long `alignkit demo` takes on this machine", facts)
    text += ("Each first run starts with an empty `$ALIGNKIT_CACHE` (no unzipped models, ONNX exports or feature "
             "stores); the data sets are where `scripts/setup.sh` fetched them. The three runs go one after the other, "
             "each the installed `alignkit` command in its own process, with the default engine (`auto`).\n\n")
    text += table(rows, ["run", "command", "wall seconds", "minutes"]) + "\n"
    (RESULTS / "demo_time.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
