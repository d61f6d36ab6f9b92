"""One entry point that regenerates the files under ``benchmarks/results/``.

Each entry names the results files it writes and the committed command that writes them; every
writer records the command, the git commit, the recipe digest (where a recipe is involved), the
machine and its load in the file itself (``benchmarks/provenance.py``).

Usage: HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python benchmarks/regenerate.py [--only NAME,NAME] [--list]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# name -> (results files, command). Order matters: the demo reuses the features the selection embedded.
ENTRIES: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "recipe_selection": (("recipe_selection.md", "recipe_selection.json"), [PY, "benchmarks/bench_recipe_selection.py"]),
    "demo": (("demo.md", "demo.json", "crossover.md", "crossover.json"), [PY, "benchmarks/bench_demo.py"]),
    "curation": (("curation.md", "curation.json"), [PY, "benchmarks/bench_curation.py"]),
    "demo_time": (("demo_time.md", "demo_time.json"), [PY, "benchmarks/bench_demo_time.py"]),
    "selection_study": (("selection_study.md", "selection_study.json"), [PY, "benchmarks/bench_study.py"]),
    "rank": (("rank.json",), [PY, "benchmarks/bench_rank.py"]),
    "encoders": (("encoders.json",), [PY, "benchmarks/bench_encoders.py"]),
    "streaming": (("streaming.md", "streaming.json"), [PY, "benchmarks/bench_streaming.py"]),
    "engines": (("engines.md", "engines.json"), [PY, "benchmarks/bench_engines.py", "--images", "192", "--captions", "384", "--repeats", "3"]),
    "ray_extract": (("ray_extract.md", "ray_extract.json"), [PY, "benchmarks/bench_ray.py"]),
    "memory": (("memory.md", "memory.json"), [PY, "benchmarks/bench_memory.py"]),
    "train_speed": (("train_speed.md", "train_speed.json"), [PY, "benchmarks/bench_train.py"]),
    "extract": (("extract.json", "extract.md"), [PY, "benchmarks/bench_extract.py", "--images", "192", "--captions", "2048"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help=f"comma-separated entries ({', '.join(ENTRIES)})")
    ap.add_argument("--list", action="store_true", help="print the entries, their files and commands, and stop")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(ENTRIES)
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        sys.exit(f"unknown entries {unknown}; choose from {', '.join(ENTRIES)}")
    for name in names:
        files, cmd = ENTRIES[name]
        shown = " ".join(["python", *cmd[1:]])
        if args.list:
            print(f"{name}: {', '.join(files)}  <-  {shown}")
            continue
        print(f"== {name}: {shown}", flush=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)


if __name__ == "__main__":
    main()
