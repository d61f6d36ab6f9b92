"""The selection protocol behind alignkit's default recipe, on the demo's training pairs only.

Runs ``alignkit align --select benchmarks/recipes/candidates.yaml`` on the demo's chosen pair
(EfficientNet-Lite0 + mpnet-base) and the emoji training split: every candidate recipe and every
training-free baseline is trained or fitted on folds of the training data (leave one drawing
style out; 20% of the concept families held out) and scored there. No test task is scored.
Writes ``benchmarks/results/recipe_selection.{md,json}`` with the command, commit and machine.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_recipe_selection.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from provenance import ROOT, header, provenance

CANDIDATES = ROOT / "benchmarks" / "recipes" / "candidates.yaml"


def main() -> None:
    from alignkit.align import AlignConfig
    from alignkit.align.workflow.from_specs import train_from_specs as align
    from alignkit.align.workflow.recipe_selection import SELECTION_DIR
    from alignkit.bench.demo import demo_config

    ap = argparse.ArgumentParser()
    ap.add_argument("--vision", default="efficientnet-lite0")
    ap.add_argument("--text", default="mpnet-base")
    ap.add_argument("--candidates", type=Path, default=CANDIDATES)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "recipe-selection", help="run folder (fold runs are reused)")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "recipe_selection")
    args = ap.parse_args()
    candidates = yaml.safe_load(args.candidates.read_text(encoding="utf-8"))
    base = AlignConfig(vision=args.vision, text=args.text, data=demo_config().train)
    t0 = time.perf_counter()
    facts = provenance(base.to_dict())
    if not (args.out / "model.safetensors").exists():
        align(base, args.out, candidates=candidates, progress=False, resume=(args.out / "checkpoints").exists())
    sel = json.loads((args.out / SELECTION_DIR / "selection.json").read_text(encoding="utf-8"))
    facts["recipe_digest"] = provenance(sel["recipes"][sel["chosen"]])["recipe_digest"]
    facts["wall_seconds"] = round(time.perf_counter() - t0, 1)
    args.results.with_suffix(".json").write_text(json.dumps({"provenance": facts, "candidates": candidates, **sel}, indent=1), encoding="utf-8")
    table = sel["table"]
    cols = list(table[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in table]
    text = header("Recipe selection on folds of the training data (no test task scored)", facts)
    text += (f"Pair: {args.vision} + {args.text}; training pairs `{base.data}`. Candidates: "
             f"`{args.candidates.relative_to(ROOT)}` (overrides of `AlignConfig`'s defaults at that commit). Folds: each "
             "drawing style held out in turn (validated on its drawings of concepts the other style trained), and 20% of "
             "the concept groups held out (both styles). Score: image-to-text R@1 on the fold's validation drawings against "
             "their captions; a caption of the query's concept group counts as a hit.\n\n")
    text += "\n".join(lines) + f"\n\nChosen: **{sel['chosen']}** (highest mean). Wall time {facts['wall_seconds']} s.\n"
    args.results.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
