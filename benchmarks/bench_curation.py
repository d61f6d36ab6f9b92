"""Curated vs random training subsets of the same size (the paper's second claim), with paired verdicts.

The pool is the built-in training set plus the Iconify icons (`alignkit.data.builtin.POOL_SPEC`),
several times each budget. Per budget, `alignkit.curation.curate` (what `alignkit curate` runs:
concepts from the class names of the classification tasks, their prompts through the text
encoder, near-copies of every evaluation image left out) picks the curated subset; random
subsets of the same size are uniform draws from the same pool with the same near-copies left
out, one per seed. Curated subset + seed s and random subset s + seed s train the same recipe
(AlignConfig's default, the one chosen on training folds) on the demo's encoder pair; every
held-out task is scored on every item it has, and curated minus random gets a paired bootstrap
interval over test items and seeds (`alignkit.evaluate.paired`): WIN above zero, LOSS below,
TIE otherwise. Nothing here is tuned: budgets, K and the recipe are fixed before any score.

Writes benchmarks/results/curation.{md,json} (rows with ``budget``, ``task``, ``verdict``).

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_curation.py [--budgets 1500,3000,6000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from provenance import ROOT, header, provenance, table

RESULTS = ROOT / "benchmarks" / "results"
CONCEPT_TASKS = ("builtin:fashion-mnist?n=10000", "builtin:animal-mnist?n=10000", "builtin:mnist?n=5000")


def main() -> None:
    from alignkit.align import AlignConfig
    from alignkit.align.training.loop import train_pairs
    from alignkit.bench.demo import RECORDED_TASKS
    from alignkit.bench.train_runs import reuse_or_train
    from alignkit.curation import CurateConfig, curate, from_tasks
    from alignkit.data import open_source, open_task
    from alignkit.data.base import caption_items, image_items
    from alignkit.data.builtin import POOL_SPEC, TRAIN_SPEC
    from alignkit.encoders import EncoderSlot
    from alignkit.evaluate.cached import embed_task_side, features_from_stores, score
    from alignkit.evaluate.paired import call, paired_difference
    from alignkit.evaluate.verdicts import HEADLINE
    from alignkit.features.cache import cached_features
    from alignkit.features.pairs import CachedPairs
    from alignkit.features.union import union_stores

    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", default="1500,3000,6000", help="subset sizes (pairs), comma-separated")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--vision", default="efficientnet-lite0", help="the demo's chosen image encoder")
    ap.add_argument("--text", default="mpnet-base", help="the demo's chosen text encoder")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "curation")
    args = ap.parse_args()
    budgets = sorted({int(b) for b in args.budgets.split(",")})
    recipe = AlignConfig().with_overrides({"vision": args.vision, "text": args.text, "data": POOL_SPEC}).validate()
    facts = provenance(recipe.to_dict())
    t0 = time.perf_counter()
    extra = POOL_SPEC[len(TRAIN_SPEC):].removeprefix(" + ")  # the part the pool adds to the training set
    prefix = f"{TRAIN_SPEC.count(' + ') + 1}:"  # its keys' prefix in the concatenated pool
    tasks = {spec: open_task(spec) for spec in RECORDED_TASKS}
    concept_tasks = [open_task(spec) for spec in CONCEPT_TASKS]

    slot = EncoderSlot()
    stores, task_stores, encoders = {}, {}, {}
    for side, spec, items in (("image", args.vision, image_items), ("text", args.text, caption_items)):
        enc = slot.get(spec)
        encoders[side] = {"spec": enc.spec, "fingerprint": enc.fingerprint()}
        parts = [(cached_features(enc, list(items(open_source(s))), s), p) for s, p in ((TRAIN_SPEC, ""), (extra, prefix))]
        stores[side] = union_stores(parts, args.out / f"pool-{side}")
        for tspec, task in tasks.items():
            task_stores[tspec, side] = embed_task_side(task, tspec, side, enc, False)
        if side == "image":
            evaluation = np.concatenate([task_stores[t, "image"].load()[1] for t in tasks])
        else:
            concepts = from_tasks(concept_tasks, enc)
    slot.clear()
    features = {spec: features_from_stores(task, task_stores[spec, "image"], task_stores[spec, "text"]) for spec, task in tasks.items()}
    pool = CachedPairs.from_stores(stores["image"], stores["text"], concept_of=open_source(POOL_SPEC).concept_of)
    row_of = {k: i for i, k in enumerate(pool.image_keys)}

    results, selections = [], []
    for budget in budgets:
        cfg = CurateConfig(per_concept=math.ceil(budget / len(concepts.names)), budget=budget)
        sel = curate(stores["image"], stores["text"], concepts, cfg, args.out / f"state-{budget}", evaluation)
        clean = [k for k, s in zip(stores["image"].keys(), sel.leak_similarity) if not s >= cfg.leak_threshold and k in row_of]
        n = len(sel.keys)
        selections.append({"budget": budget, "per_concept": cfg.per_concept, "selected": n, "counts": sel.counts,
                           "pool_after_leak_filter": len(clean)})
        subsets = {"curated": [sel.keys] * args.seeds,
                   "random": [list(np.random.default_rng(1000 + s).choice(clean, n, replace=False)) for s in range(args.seeds)]}
        hits: dict[tuple[str, str], list[np.ndarray]] = {}
        for kind, per_seed in subsets.items():
            for seed, keys in enumerate(per_seed):
                data = pool.subset(np.array([row_of[k] for k in keys]))
                seeded = recipe.with_overrides({"seed": seed, "data": f"{kind} subset of {POOL_SPEC}"}).validate()
                identity = {"recipe": seeded.to_dict(), "keys": sorted(keys)}
                run = args.out / "runs" / f"{kind}-{budget}-seed{seed}"
                model, _ = reuse_or_train(run, identity, lambda resume, seeded=seeded, data=data, run=run: train_pairs(
                    seeded, data, run, encoders=encoders, resume=resume, progress=False))
                for spec, tf in features.items():
                    res = score(model, tf, kind)
                    value = next(r["value"] for r in res.rows if r["metric"] == HEADLINE[tf.kind])
                    hits.setdefault((tf.name, kind), []).append(np.asarray(res.hits, dtype=np.float64))
                    print(json.dumps({"budget": budget, "subset": kind, "seed": seed, "task": tf.name, "value": value}), flush=True)
        for spec, tf in features.items():
            cur, rnd = np.stack(hits[tf.name, "curated"]), np.stack(hits[tf.name, "random"])
            ci = paired_difference(cur, rnd)
            results.append({"budget": budget, "pairs": n, "task": tf.name, "metric": HEADLINE[tf.kind],
                            "concept_task": spec in CONCEPT_TASKS, "curated": float(cur.mean()), "random": float(rnd.mean()),
                            "diff": ci["diff"], "low": ci["low"], "high": ci["high"], "items": ci["items"], "seeds": args.seeds,
                            "verdict": call(ci)})
    facts["wall_seconds"] = round(time.perf_counter() - t0, 1)
    write(facts, recipe, concepts.names, selections, results, args.seeds)


def write(facts: dict, recipe, concepts: list[str], selections: list[dict], results: list[dict], seeds: int) -> None:
    from alignkit.data.builtin import POOL_SPEC

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "curation.json").write_text(json.dumps({"provenance": facts, "pool": POOL_SPEC, "concept_tasks": list(CONCEPT_TASKS),
                                                       "concepts": concepts, "selections": selections, "rows": results},
                                                      indent=1, default=float), encoding="utf-8")
    rows = [{"budget": r["budget"], "pairs": r["pairs"], "task": r["task"] + ("" if r["concept_task"] else " (no concept named)"),
             "metric": r["metric"], "curated": r["curated"], "random": r["random"],
             "curated minus random [95% CI]": f"{r['diff']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]",
             "verdict": r["verdict"].upper()} for r in results]
    text = header("Curation: a curated subset against random subsets of the same size", facts)
    text += (f"Pool `{POOL_SPEC}` (the training set plus the Iconify icons). Concepts: the {len(concepts)} class names of "
             f"{', '.join(f'`{t}`' for t in CONCEPT_TASKS)}, as `alignkit curate --concepts-task` takes them; near-copies of "
             "every evaluation image are left out of both kinds of subset. Per budget: one curated subset (at most "
             "ceil(budget / concepts) pairs per concept) trained with seeds 0..{s}, and {n} random subsets of the same size, "
             "subset s trained with seed s. Encoders {v} + {t}; recipe AlignConfig's default (chosen on training folds; digest "
             "above). Every task on every item it has; verdict: paired bootstrap over test items and seeds (WIN: the interval "
             "lies above zero; LOSS: below; TIE: otherwise). Tasks marked \"no concept named\" are retrieval tasks whose "
             "concepts curation was not asked for.\n\n").format(s=seeds - 1, n=seeds, v=recipe.vision, t=recipe.text)
    sel_rows = [{"budget": s["budget"], "per concept": s["per_concept"], "selected": s["selected"],
                 "concepts left empty": s["counts"].get("concepts_empty"), "near-copies left out": s["counts"].get("leaks_removed"),
                 "pool after leak filter": s["pool_after_leak_filter"]} for s in selections]
    text += table(sel_rows, list(sel_rows[0])) + "\n\n" + table(rows, list(rows[0])) + "\n\n"
    for s in selections:
        mine = [r for r in results if r["budget"] == s["budget"] and r["concept_task"]]
        calls = [r["verdict"] for r in mine]
        text += (f"- budget {s['budget']} ({s['selected']} pairs): on the tasks whose class names were curated for, "
                 f"{calls.count('win')} wins, {calls.count('tie')} ties, {calls.count('loss')} losses of {len(calls)}\n")
    (RESULTS / "curation.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
