"""Load time and throughput of the offline encoders on this machine.

For each encoder: seconds to build it (create_encoder, imports already done), then items per
second through ``encode`` (preprocessing + forward, one process) on scikit-image photos or
short captions, after one warm-up batch. The load average is recorded beside the numbers,
because a shared machine changes them several-fold.

Usage: .venv/bin/python benchmarks/bench_encoders.py [--images 64] [--captions 1024]
       [--encoders efficientnet-lite0,minilm-l6] [--out benchmarks/results/encoders.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from alignkit.encoders import create_encoder  # noqa: E402
from provenance import provenance  # noqa: E402


def sample_images(n: int) -> list:
    from PIL import Image
    from skimage import data as skd

    photos = [Image.fromarray(getattr(skd, name)()).convert("RGB") for name in ("chelsea", "coffee", "astronaut", "rocket")]
    return [photos[i % len(photos)] for i in range(n)]


def sample_captions(n: int) -> list[str]:
    subjects = ["a cat", "two dogs", "a red car", "an old man", "a bowl of soup", "a rocket", "three birds"]
    places = ["on the grass", "in a kitchen", "under a bridge", "at the beach", "on a snowy street"]
    return [f"{subjects[i % 7]} {places[i % 5]}, photo number {i}" for i in range(n)]


def bench(spec: str, n_images: int, n_captions: int, batch_size: int) -> dict:
    t0 = time.perf_counter()
    enc = create_encoder(spec)
    load_s = time.perf_counter() - t0
    items = sample_images(n_images) if enc.modality == "image" else sample_captions(n_captions)
    enc.encode(items[:batch_size], batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    enc.encode(items, batch_size=batch_size)
    run_s = time.perf_counter() - t0
    return {
        "encoder": spec,
        "modality": enc.modality,
        "dim": enc.dim,
        "items": len(items),
        "batch_size": batch_size,
        "load_s": round(load_s, 3),
        "items_per_s": round(len(items) / run_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--captions", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--encoders", default="efficientnet-lite0,minilm-l6")
    ap.add_argument("--out", default="benchmarks/results/encoders.json")
    args = ap.parse_args()
    import transformers  # noqa: F401  (import cost is not load cost)
    import sentence_transformers  # noqa: F401

    facts = provenance()
    rows = [bench(s, args.images, args.captions, args.batch_size) for s in args.encoders.split(",")]
    result = {"provenance": facts, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(f"{r['encoder']:<22} load {r['load_s']:6.2f} s   {r['items_per_s']:8.1f} {r['modality']} items/s")
    print(f"load average (1 min) at start {facts['load_average_at_start']} on {facts['machine']['cpus']} CPUs")


if __name__ == "__main__":
    main()
