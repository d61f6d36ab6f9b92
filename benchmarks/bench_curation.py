"""Curated vs uniformly random training subsets of the same size (the paper's second lever).

Same encoders, heads, recipe and budget N; the curated subset is chosen by `alignkit.curation`
for the class names of the evaluation tasks (their images leak-checked), the random subsets are
uniform draws from the same pool (near-copies of evaluation images removed from both). Each
subset trains with several seeds; zero-shot top-1 on the built-in tasks is reported as mean and
spread. Features come from the shared cache, so the pool and the tasks are encoded once.

Usage: .venv/bin/python benchmarks/bench_curation.py [--budget 600] [--seeds 3] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TASKS = ("builtin:fashion-mnist?n=500", "builtin:animal-mnist?n=500", "builtin:mnist?n=500",
         "builtin:emoji-animals-unseen-style")


def task_features(task_spec, image_enc, text_enc):
    """Cached image features with labels, and the raw prompt features of every class."""
    from alignkit.data import open_task
    from alignkit.features.cache import cached_features

    task = open_task(task_spec)
    keys, feats = cached_features(image_enc, task.image_items(), f"task:{task_spec}", progress=False).load()
    labels = np.array([task.label_of()[k] for k in keys])
    prompts = [p for ps in task.prompts() for p in ps]
    prompt_feats = dict(zip(prompts, text_enc.encode(prompts).pooled.numpy()))
    return task, feats, labels, prompt_feats


def zero_shot_top1(model, task, feats, labels, prompt_feats) -> float:
    from alignkit.evaluate import classification_result, zero_shot_classifier

    with torch.no_grad():
        img = model.encode_image_features(torch.from_numpy(feats)).numpy()
        encode = lambda texts: model.encode_text_features(torch.from_numpy(np.stack([prompt_feats[t] for t in texts]))).numpy()  # noqa: E731
        cls = zero_shot_classifier(encode, task.classnames, task.templates)
    rows = classification_result(img, labels, cls, task.name, "m").rows
    return next(r["value"] for r in rows if r["metric"] == "top1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", default="builtin:emoji?split=train")
    ap.add_argument("--vision", default="efficientnet-lite0")
    ap.add_argument("--text", default="minilm-l6")
    ap.add_argument("--budget", type=int, default=600)
    ap.add_argument("--per-concept", type=int, default=40)
    ap.add_argument("--min-score", type=float, default=0.2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", default="benchmarks/results/curation.json")
    args = ap.parse_args()

    from alignkit.align.recipe import AlignConfig
    from alignkit.align.training.loop import train
    from alignkit.curation import CurateConfig, curate, from_tasks
    from alignkit.curation.steps import embed_pool, evaluation_image_features
    from alignkit.data import open_task
    from alignkit.data.base import pair_key_of
    from alignkit.encoders import create_encoder
    from alignkit.features.store import derive_subset

    t0 = time.perf_counter()
    image_enc, text_enc = create_encoder(args.vision), create_encoder(args.text)
    image_store, text_store = embed_pool(args.pool, image_enc, text_enc)
    tasks = {spec: task_features(spec, image_enc, text_enc) for spec in TASKS}
    concepts = from_tasks([open_task(s) for s in TASKS], text_enc)
    evaluation = evaluation_image_features(list(TASKS), image_enc)
    results, subsets = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = CurateConfig(per_concept=args.per_concept, budget=args.budget, min_score=args.min_score)
        sel = curate(image_store, text_store, concepts, cfg, tmp / "state", evaluation)
        pool_keys = [k for k, s in zip(image_store.keys(), sel.leak_similarity) if not s >= cfg.leak_threshold]
        subsets["curated"] = [sel.keys] * args.seeds  # one selection, trained with several seeds
        n = len(sel.keys)
        subsets["random"] = [list(np.random.default_rng(100 + s).choice(pool_keys, n, replace=False)) for s in range(args.seeds)]
        for kind, per_seed in subsets.items():
            for seed, keys in enumerate(per_seed):
                want = set(keys)
                img = derive_subset(image_store, lambda k: k in want, tmp / f"{kind}{seed}-img")
                txt = derive_subset(text_store, lambda k: pair_key_of(k) in want, tmp / f"{kind}{seed}-txt")
                config = AlignConfig(vision=args.vision, text=args.text, data=f"{kind}-{seed}", epochs=args.epochs,
                                     seed=seed, device="cpu")
                model = train(config, img, txt, tmp / f"run-{kind}{seed}", progress=False)
                for spec, (task, feats, labels, pf) in tasks.items():
                    acc = zero_shot_top1(model, task, feats, labels, pf)
                    results.append({"subset": kind, "seed": seed, "pairs": n, "task": task.name, "top1": acc})
                    print(json.dumps(results[-1]), flush=True)
    summary = []
    for task in dict.fromkeys(r["task"] for r in results):
        row = {"task": task}
        for kind in subsets:
            vals = [r["top1"] for r in results if r["task"] == task and r["subset"] == kind]
            row[kind] = f"{np.mean(vals):.3f} ± {np.std(vals):.3f}"
        summary.append(row)
        print(row)
    record = {"command": "python " + " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M"),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                          "load_average": os.getloadavg()},
              "pool": args.pool, "budget": args.budget, "selected": n, "counts": sel.counts,
              "concepts": concepts.names, "seconds": round(time.perf_counter() - t0, 1),
              "results": results, "summary": summary}
    Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
