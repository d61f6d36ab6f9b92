"""Alignment speed: cached-feature training vs --online training, and cached-trainer throughput.

  cached vs online : the same pairs (a subset of builtin:emoji?split=train), the same heads,
                     recipe and epochs. Cached = embed once (timed separately) + train on the
                     stored features; online = the frozen encoders run on every batch (and on
                     the validation split each epoch).
  throughput       : pairs/s of the cached trainer at batch 1,024 (mlp heads, 512-d space) on
                     synthetic features of the embedded default's widths (1280 image, 384 text),
                     validation off, timed over the steady-state epochs.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_align.py [--concepts 64] [--epochs 2]
       [--vision efficientnet-lite0] [--text minilm-l6] [--out benchmarks/results/align_speed.json]
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
    from alignkit.align import AlignConfig, OnlinePairs, train, train_pairs
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
    from alignkit.align import AlignConfig, CachedPairs, train_pairs

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vision", default="efficientnet-lite0")
    ap.add_argument("--text", default="minilm-l6")
    ap.add_argument("--concepts", type=int, default=64, help="emoji concepts (x2 styles = pairs)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--throughput-pairs", type=int, default=32768)
    ap.add_argument("--out", default="benchmarks/results/align_speed.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "cuda": torch.cuda.is_available(), "torch": torch.__version__},
            "cached_vs_online": cached_vs_online(args.vision, args.text, args.concepts, args.epochs, Path(tmp)),
            "throughput": throughput(args.throughput_pairs, 4, Path(tmp)),
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
