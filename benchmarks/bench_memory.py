"""Peak resident memory of alignkit's commands, per command and per stage.

Each command runs alone, as the installed ``alignkit`` in its own process, and
``benchmarks/rss_sampler.py`` reads its resident set from ``/proc`` ten times a second (the
process and its children: torch, ONNX Runtime and Python all count). A sample is charged to the
stage the command last printed. Cases, in order (later ones reuse the earlier ones' cache):

- ``quick``: ``alignkit demo --quick`` from an empty ``$ALIGNKIT_CACHE`` (exports included);
- ``rank40`` / ``align40`` / ``eval40``: ``rank-encoders``, ``align`` and ``eval`` on a 40-image
  CSV made from the emoji set, on the quick demo's cache (exports cached, features not);
- ``demo``: the full ``alignkit demo`` (first run, on the quick demo's cache: exports cached);
- ``eval-baselines``: ``alignkit eval`` of the demo's model on one held-out task with the five
  training-free baselines fitted on the demo's full training set, every feature cached.

Writes ``benchmarks/results/memory.{md,json}``; targets from issue "Lean" are shown beside each
figure. Usage: ``HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_memory.py [--cases quick,rank40]``
(a partial run prints its rows and writes nothing unless every case ran).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

from provenance import ROOT, header, provenance, table
from rss_sampler import env_with, measure

RESULTS = ROOT / "benchmarks" / "results"
ALIGNKIT = str(Path(sys.executable).with_name("alignkit"))
DATA = os.environ.get("ALIGNKIT_DATA") or str(Path.home() / ".cache" / "alignkit" / "data")
CASES = ("quick", "rank40", "align40", "eval40", "demo", "eval-baselines")
# peak RSS targets in MiB (issue "Lean": GB read as 1,000 MB, rounded down to MiB)
TARGET_MB = {"quick": 2384, "rank40": 1430, "align40": 1430, "eval40": 1430, "demo": 3337, "eval-baselines": 2384}


def forty_images(folder: Path) -> str:
    """A 40-pair CSV source (emoji images with their names), made from the fetched emoji set."""
    meta = json.loads((Path(DATA) / "emoji" / "emoji.json").read_text(encoding="utf-8"))
    rows = [m for m in meta if m.get("has_img_google") and (Path(DATA) / "emoji" / "google" / m["image"]).exists()][:40]
    path = folder / "pairs40.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "text"])
        for m in rows:
            w.writerow([str(Path(DATA) / "emoji" / "google" / m["image"]), f"an emoji of {m['name'].lower()}"])
    return f"csv:{path}?image=path&caption=text"


def commands(work: Path, pairs: str) -> dict[str, list[str]]:
    """Each case's arguments; ``eval-baselines`` evaluates the model the ``demo`` case trained."""
    from alignkit.data.builtin import TRAIN_SPEC

    demo_model = next((work / "demo" / "runs").glob("*/*"), None) if (work / "demo" / "runs").exists() else None
    return {
        "quick": ["demo", "--quick", "--out", str(work / "quick")],
        "rank40": ["rank-encoders", "--probe", pairs, "--n", "40", "--bootstrap", "10", "--permutations", "10", "--out", str(work / "rank40")],
        "align40": ["align", "--vision", "efficientnet-lite0", "--text", "minilm-l6", "--data", pairs, "--epochs", "5", "--out", str(work / "align40")],
        "eval40": ["eval", str(work / "align40"), "--task", f"retrieval:{pairs}", "--out", str(work / "eval40")],
        "demo": ["demo", "--out", str(work / "demo")],
        "eval-baselines": ["eval", str(demo_model), "--task", "builtin:emoji-unseen-concepts",
                           "--baseline", "asif,asif-centred,procrustes,ridge,cca", "--train", TRAIN_SPEC,
                           "--out", str(work / "eval-baselines")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES))
    parser.add_argument("--work", help="work folder (default: a new temporary one); its cache/ is $ALIGNKIT_CACHE")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; choose from {CASES}")
    facts = provenance()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    env = env_with(ALIGNKIT_CACHE=str(work / "cache"), ALIGNKIT_DATA=DATA)
    rows, stages = [], []
    pairs = forty_images(work)
    for case in cases:
        argv = commands(work, pairs)[case]
        res = measure([ALIGNKIT, *argv], env=env, cwd=ROOT, log=work / f"{case}.log")
        if res["returncode"] != 0:
            sys.exit(f"{case}: alignkit {' '.join(argv)} failed (exit {res['returncode']}); see {work / (case + '.log')}")
        shown = " ".join("DIR" + a[len(str(work)):] if a.startswith(str(work)) else a for a in argv)
        rows.append({"case": case, "command": f"alignkit {shown}"[:160], "peak RSS MiB": res["peak_rss_mb"],
                     "target MiB": TARGET_MB[case], "within target": res["peak_rss_mb"] <= TARGET_MB[case],
                     "wall seconds": res["seconds"]})
        stages += [{"case": case, **s} for s in res["stages"]]
        print(rows[-1], flush=True)
        for st in res["stages"]:
            print(f"    {st['peak_rss_mb']:8.1f}  {st['stage']}", flush=True)
    if cases != list(CASES):
        print("partial run: results files not written")
        return
    (RESULTS / "memory.json").write_text(json.dumps({"provenance": facts, "commands": rows, "stages": stages}, indent=1), encoding="utf-8")
    text = header("Peak memory of alignkit's commands", facts)
    text += ("Resident set of the whole process tree, sampled from /proc ten times a second "
             "(benchmarks/rss_sampler.py); each command alone, one after the other, in one cache.\n\n")
    text += table(rows, ["case", "command", "peak RSS MiB", "target MiB", "within target", "wall seconds"]) + "\n\n"
    text += "## Per stage (the stage is the last line the command printed)\n\n"
    text += table(stages, ["case", "stage", "peak_rss_mb"]) + "\n"
    (RESULTS / "memory.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
