"""Alignment speed: cached-feature training vs --online training, and cached-trainer throughput.

  cached vs online : the same pairs (a subset of builtin:emoji?split=train), the same heads,
                     recipe and epochs. Cached = embed once (timed separately) + train on the
                     stored features; online = the frozen encoders run on every batch (and on
                     the validation split each epoch).
  throughput       : pairs/s of the cached trainer at batch 1,024 (mlp heads, 512-d space) on
                     synthetic features of the embedded default's widths (1280 image, 384 text),
                     validation off, timed over the steady-state epochs.

  recipes          : (--recipes) validation R@1 of several recipes on the cached features of
                     the full training split, each over --seeds seeds; writes a markdown table.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_align.py [--concepts 64] [--epochs 2]
       [--vision efficientnet-lite0] [--text minilm-l6] [--out benchmarks/results/align_speed.json]
       HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_align.py --recipes [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def cached_vs_online(vision: str, text: str, concepts: int, epochs: int, root: Path) -> dict:
    from alignkit.align import AlignConfig, train
    from alignkit.align.training.loop import train_pairs
    from alignkit.features.pairs import OnlinePairs
    from alignkit.data import open_source
    from alignkit.data.base import caption_items, image_items
    from alignkit.encoders import create_encoder
    from alignkit.features import embed_items

    spec = f"builtin:emoji?split=train&n={concepts}"
    pairs = list(open_source(spec))
    enc_i, enc_t = create_encoder(vision), create_encoder(text)
    cfg = AlignConfig(vision=vision, text=text, data=spec, epochs=epochs, batch_size=256, patience=0)
    t0 = time.perf_counter()
    embed_items(enc_i, image_items(pairs), root / "img", progress=False)
    embed_items(enc_t, caption_items(pairs), root / "txt", progress=False)
    t_embed = time.perf_counter() - t0
    t0 = time.perf_counter()
    train(cfg, root / "img", root / "txt", root / "cached", progress=False)
    t_cached = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_pairs(cfg, OnlinePairs(pairs, enc_i, enc_t), root / "online", progress=False)
    t_online = time.perf_counter() - t0
    n_texts = sum(len(p.captions) for p in pairs)
    return {
        "data": spec, "pairs": len(pairs), "captions": n_texts, "epochs": epochs, "recipe": cfg.to_dict(),
        "embed_once_s": round(t_embed, 2), "cached_train_s": round(t_cached, 2), "online_train_s": round(t_online, 2),
        "ratio_train_only": round(t_online / t_cached, 1),
        "ratio_including_embed": round(t_online / (t_cached + t_embed), 2),
        "per_epoch_s": {"cached": round(t_cached / epochs, 3), "online": round(t_online / epochs, 2)},
    }


def throughput(n: int, epochs: int, root: Path) -> dict:
    from alignkit.align import AlignConfig
    from alignkit.align.training.loop import train_pairs
    from alignkit.features.pairs import CachedPairs

    rng = np.random.default_rng(0)
    keys = [f"k{i}" for i in range(n)]
    data = CachedPairs(keys, rng.standard_normal((n, 1280), dtype=np.float32), [f"{k}#0" for k in keys],
                       rng.standard_normal((n, 384), dtype=np.float32))
    cfg = AlignConfig(epochs=epochs, batch_size=1024, val_fraction=0.0, patience=0)
    train_pairs(cfg, data, root / "tp", progress=False)
    log = [json.loads(x) for x in (root / "tp/metrics.jsonl").read_text().splitlines()]
    steady = log[1:] or log
    return {
        "pairs": n, "batch_size": 1024, "heads": "mlp/mlp", "embed_dim": 512, "epochs_timed": len(steady),
        "pairs_per_s": round(float(np.median([r["pairs_per_s"] for r in steady])), 0),
    }


# name -> overrides of AlignConfig's defaults (the defaults themselves were set from this table)
RECIPES: dict[str, dict] = {
    "defaults": {},
    "batch 1024": {"batch_size": 1024},
    "batch 128": {"batch_size": 128},
    "50 epochs": {"epochs": 50},
    "linear heads": {"image_head.kind": "linear", "text_head.kind": "linear"},
    "standardize inputs": {"image_head.standardize": True, "text_head.standardize": True},
    "siglip": {"loss": "siglip", "init_temperature": 0.1},
    "all captions": {"captions": "all"},
    "dropout 0.3": {"image_head.dropout": 0.3, "text_head.dropout": 0.3},
    "dropout 0": {"image_head.dropout": 0.0, "text_head.dropout": 0.0},
    "weight decay 0.5": {"weight_decay": 0.5},
    "text identity (image->text space)": {"text_head.kind": "identity"},
    "fixed T=0.05": {"init_temperature": 0.05, "learn_temperature": False},
    "embed 256": {"embed_dim": 256},
    "lr 3e-4": {"lr": 3e-4},
    "lr 3e-3": {"lr": 3e-3},
}


def recipes(vision: str, text: str, data: str, seeds: list[int], only: list[str] | None, root: Path) -> list[dict]:
    """Each recipe on the same cached features and validation split; best-epoch validation R@1."""
    from alignkit.align import AlignConfig
    from alignkit.align.training.loop import train_pairs
    from alignkit.features.pairs import CachedPairs
    from alignkit.encoders import create_encoder
    from alignkit.features.cache import store_path

    stores = [store_path(data, create_encoder(spec)) for spec in (vision, text)]
    pairs = CachedPairs.from_stores(*stores)
    rows = []
    for name, overrides in RECIPES.items():
        if only and name not in only:
            continue
        for seed in seeds:
            cfg = AlignConfig(vision=vision, text=text, data=data).with_overrides({**overrides, "seed": seed, "patience": 0})
            out = root / f"{len(rows)}"
            t0 = time.perf_counter()
            train_pairs(cfg, pairs, out, progress=False)
            log = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
            best = max(log, key=lambda r: r["val_i2t_r1"] + r["val_t2i_r1"])
            rows.append({"recipe": name, "seed": seed, "overrides": overrides, "best_epoch": best["epoch"], "epochs": len(log),
                         "val_i2t_r1": best["val_i2t_r1"], "val_t2i_r1": best["val_t2i_r1"],
                         "val_mean_r1": (best["val_i2t_r1"] + best["val_t2i_r1"]) / 2,
                         "chance": best["val_chance_r1"], "val_images": best["val_images"], "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def recipes_markdown(rows: list[dict], command: str, machine: dict) -> str:
    by = {}
    for r in rows:
        by.setdefault(r["recipe"], []).append(r)
    lines = [
        "# Alignment recipes: validation R@1 on the built-in emoji training split", "",
        f"Command: `{command}`  ", f"Machine: {machine}", "",
        "Best-epoch validation retrieval R@1 (held-out concept groups of the training split; chance "
        f"{rows[0]['chance']:.4f} over {rows[0]['val_images']} images), mean over seeds {sorted({r['seed'] for r in rows})}, "
        "with the spread (max - min) across seeds.", "",
        "| recipe | overrides | i2t R@1 | t2i R@1 | mean R@1 (spread) | best epoch | s/run |", "|---|---|---|---|---|---|---|",
    ]
    for name, rs in sorted(by.items(), key=lambda kv: -np.mean([r["val_mean_r1"] for r in kv[1]])):
        means = [r["val_mean_r1"] for r in rs]
        lines.append(
            f"| {name} | `{json.dumps(rs[0]['overrides'])}` | {np.mean([r['val_i2t_r1'] for r in rs]):.3f} | "
            f"{np.mean([r['val_t2i_r1'] for r in rs]):.3f} | {np.mean(means):.3f} ({max(means) - min(means):.3f}) | "
            f"{np.mean([r['best_epoch'] for r in rs]):.0f}/{rs[0]['epochs']} | {np.mean([r['seconds'] for r in rs]):.0f} |"
        )
    return "\n".join(lines) + "\n"


def machine_info() -> dict:
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(), "torch": torch.__version__, "load_avg_at_start": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vision", default="efficientnet-lite0")
    ap.add_argument("--text", default="minilm-l6")
    ap.add_argument("--concepts", type=int, default=64, help="emoji concepts (x2 styles = pairs)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--throughput-pairs", type=int, default=32768)
    ap.add_argument("--out", default="benchmarks/results/align_speed.json")
    ap.add_argument("--recipes", action="store_true", help="compare recipes instead of timing")
    ap.add_argument("--data", default="builtin:emoji?split=train")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--only", default="", help="comma-separated recipe names")
    ap.add_argument("--recipes-out", default="benchmarks/results/align_recipes", help="stem of the recipe tables (.json, .md)")
    args = ap.parse_args()
    if args.recipes:
        import sys

        with tempfile.TemporaryDirectory() as tmp:
            rows = recipes(args.vision, args.text, args.data, [int(x) for x in args.seeds.split(",")],
                           [x for x in args.only.split(",") if x] or None, Path(tmp))
        stem = Path(args.recipes_out)
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps(rows, indent=1))
        stem.with_suffix(".md").write_text(recipes_markdown(rows, " ".join(["python"] + sys.argv), machine_info()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "machine": machine_info(),
            "cached_vs_online": cached_vs_online(args.vision, args.text, args.concepts, args.epochs, Path(tmp)),
            "throughput": throughput(args.throughput_pairs, 4, Path(tmp)),
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
