"""Recipes on the demo's held-out tasks, over several seeds, beside the training-free baselines.

Why this exists: the demo's verdict rests on one seed of one recipe. This runs each named
recipe over ``--seeds`` on the demo's chosen pair and training pairs, and scores every model
and the four baselines with the bench's own scoring code on the same cached task features.
The held-out tasks are the demo's five plus a confirmation task (OpenMoji drawings of the
training concepts: another unseen style) that was never looked at while choosing recipes.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_recipe_tasks.py [--seeds 0,1,2]
       [--only "NAME;NAME"] [--out benchmarks/results/recipe_tasks]
       (RECIPES run by default; the one-knob KNOBS only when named in --only)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_align import machine_info

# name -> overrides of the recipe the demo trains with (AlignConfig's defaults at the time of the run)
RECIPES: dict[str, dict] = {
    "previous default": {"epochs": 20, "patience": 5, "refit": False, "style_shift": 0.0},
    "refit, 40 epochs": {"epochs": 40, "patience": 0, "refit": True, "style_shift": 0.0},
    "refit, 40 epochs, style shift 1": {"epochs": 40, "patience": 0, "refit": True, "style_shift": 1.0},
    "... + ensemble of 3": {"epochs": 40, "patience": 0, "refit": True, "style_shift": 1.0, "ensemble": 3},
}
# one-knob variations of "no validation split, 40 epochs, style shift 1" (what the default's refit
# trains when it picks 40 epochs), for --only; not run by default
_BASE = {"epochs": 40, "patience": 0, "refit": False, "val_fraction": 0.0, "style_shift": 1.0}
KNOBS: dict[str, dict] = {
    "all pairs, 40 epochs, style shift 1": _BASE,
    "... hidden 4096": {**_BASE, "image_head.hidden": 4096, "text_head.hidden": 4096},
    "... 80 epochs": {**_BASE, "epochs": 80},
    "... temperature 0.03": {**_BASE, "init_temperature": 0.03, "max_logit_scale": 200.0},
    "... style shift 0.5": {**_BASE, "style_shift": 0.5},
    "... style shift 1.5": {**_BASE, "style_shift": 1.5},
}
CONFIRM = "builtin:emoji-unseen-style?style=openmoji&n=500"


def main() -> None:
    from alignkit.align import AlignConfig, train_pairs
    from alignkit.bench.demo import demo_config
    from alignkit.bench.features import task_features, training_pairs
    from alignkit.bench.scoring import HEADLINE, score
    from alignkit.data import open_source
    from alignkit.data.base import caption_items, image_items
    from alignkit.data.tasks import open_task
    from alignkit.encoders import create_encoder
    from alignkit.evaluate import make_baseline, paired_rows
    from alignkit.features.cache import cached_features

    ap = argparse.ArgumentParser()
    ap.add_argument("--vision", default="efficientnet-lite0")
    ap.add_argument("--text", default="mpnet-base")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--only", default="", help="recipe names separated by ';' (names contain commas)")
    ap.add_argument("--out", default="benchmarks/results/recipe_tasks", help="stem of the .json and .md results")
    args = ap.parse_args()
    demo = demo_config()
    vision, text = create_encoder(args.vision), create_encoder(args.text)
    source = open_source(demo.train)
    stores = {"image": cached_features(vision, image_items(source), demo.train),
              "text": cached_features(text, caption_items(open_source(demo.train)), demo.train)}
    data = training_pairs(stores["image"], stores["text"])
    specs = list(demo.tasks) + [CONFIRM]
    feats = {spec: task_features(open_task(spec), spec, vision, text, progress=True) for spec in specs}

    def headline(model, name: str) -> dict[str, float]:
        out = {}
        for spec, tf in feats.items():
            res = score(model, tf, name)
            out[spec] = next(r["value"] for r in res.rows if r["metric"] == HEADLINE[tf.kind])
        return out

    x, y = paired_rows(data.pooled_features("image"), data.pooled_features("text"), data.text_owner)
    rows = [{"model": b, "seed": None, **headline(make_baseline(b).fit(x, y), b)} for b in ("asif", "procrustes", "ridge", "cca")]
    only = [s.strip() for s in args.only.split(";") if s.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in {**RECIPES, **KNOBS}.items():
            if (only and name not in only) or (not only and name in KNOBS):
                continue
            for seed in [int(s) for s in args.seeds.split(",")]:
                cfg = AlignConfig(vision=args.vision, text=args.text, data=demo.train).with_overrides({**overrides, "seed": seed})
                t0 = time.perf_counter()
                model = train_pairs(cfg, data, Path(tmp) / f"{len(rows)}", progress=False)
                rows.append({"model": name, "seed": seed, "overrides": overrides, "seconds": round(time.perf_counter() - t0, 1),
                             **headline(model, name)})
                print(json.dumps(rows[-1]), flush=True)
    stem = Path(args.out)
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    stem.with_suffix(".md").write_text(markdown(rows, specs, " ".join(["python", *sys.argv])))
    print(stem.with_suffix(".md").read_text())


def markdown(rows: list[dict], specs: list[str], command: str) -> str:
    short = [s.split(":", 1)[1] for s in specs]
    lines = ["# Recipes on the held-out tasks (mean over seeds, with min-max), beside the baselines", "",
             f"Command: `{command}`  ", f"Machine: {machine_info()}", "",
             "Headline metric per task (retrieval: image-to-text R@1; classification: top-1). The last column is the "
             f"confirmation task `{CONFIRM}`, not used while choosing recipes.", "",
             "| model | " + " | ".join(short) + " | s/run |", "|---|" + "---|" * (len(specs) + 1)]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["model"], []).append(r)
    for name, rs in groups.items():
        cells = []
        for spec in specs:
            v = [r[spec] for r in rs]
            cells.append(f"{np.mean(v):.3f}" + (f" ({min(v):.3f}-{max(v):.3f})" if len(v) > 1 else ""))
        secs = f"{np.mean([r['seconds'] for r in rs]):.0f}" if rs[0].get("seconds") else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {secs} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
