"""Feature-store extraction vs the bare forward pass, same model, batch size and threads.

Measures, side by side in one run:
  bare   : encoder.forward on already-decoded, already-preprocessed tensors (or token batches)
  store  : alignkit.features.embed_items from files on disk (decode + preprocess in a worker,
           shards written, manifest updated)
  rerun  : the same embed_items call again (must do no encoder work)

Usage: .venv/bin/python benchmarks/bench_extract.py [--images 256] [--captions 4096] [--out benchmarks/results/extract.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_images(folder: Path, n: int) -> None:
    """n real-photo crops (scikit-image's bundled photos), saved as JPEG like a crawled set."""
    from PIL import Image
    from skimage import data as skd

    photos = [getattr(skd, name)() for name in ("chelsea", "coffee", "astronaut", "rocket", "cat")]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arr = photos[i % len(photos)]
        h, w = arr.shape[:2]
        s = int(min(h, w) * rng.uniform(0.5, 1.0))
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        Image.fromarray(arr[y : y + s, x : x + s]).save(folder / f"{i:05d}.jpg", quality=90)


def make_captions(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    words = ("a photo of the red blue small large cat dog car house tree person bicycle on in with under "
             "near grass road table bowl of fruit coffee cup street at night sunny day").split()
    with open(path, "w") as f:
        for _ in range(n):
            f.write(" ".join(rng.choice(words, size=rng.integers(6, 16))) + "\n")


def bare_throughput(encoder, items, batch_size: int) -> float:
    """Items/s of the forward pass alone on inputs prepared beforehand."""
    prepared = [encoder.preprocess(x) for x in items]
    batches = [encoder.collate(prepared[i : i + batch_size]) for i in range(0, len(prepared), batch_size)]
    with torch.inference_mode():
        encoder.forward(batches[0])  # warm-up
        t0 = time.perf_counter()
        for b in batches:
            encoder.forward(b)
        return len(prepared) / (time.perf_counter() - t0)


def store_throughput(encoder, items_fn, out: Path, batch_size: int) -> tuple[float, float]:
    from alignkit.features import embed_items

    t0 = time.perf_counter()
    embed_items(encoder, items_fn(), out, batch_size=batch_size, progress=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    store = embed_items(encoder, items_fn(), out, batch_size=batch_size, progress=False)
    rerun = time.perf_counter() - t0
    assert store.manifest["last_run"]["items_computed"] == 0
    return len(store) / first, rerun


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--captions", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", default="benchmarks/results/extract.json")
    args = ap.parse_args()

    from alignkit.data.images import decode_image
    from alignkit.data.plain import image_folder_items, text_file_items
    from alignkit.encoders import create_encoder

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_images(tmp / "imgs", args.images)
        make_captions(tmp / "caps.txt", args.captions)
        cases = [
            ("efficientnet-lite0", lambda: image_folder_items(tmp / "imgs"),
             [decode_image(p) for _, p in image_folder_items(tmp / "imgs")]),
            ("minilm-l6", lambda: text_file_items(tmp / "caps.txt"),
             [b.decode() for _, b in text_file_items(tmp / "caps.txt")]),
        ]
        for spec, items_fn, decoded in cases:
            enc = create_encoder(spec)
            bare = bare_throughput(enc, decoded, args.batch_size)
            store, rerun = store_throughput(enc, items_fn, tmp / f"store-{spec}", args.batch_size)
            row = {"encoder": spec, "items": len(decoded), "batch_size": args.batch_size,
                   "bare_items_per_s": round(bare, 2), "store_items_per_s": round(store, 2),
                   "ratio_store_over_bare": round(store / bare, 3), "rerun_seconds": round(rerun, 3)}
            print(json.dumps(row))
            results.append(row)
    from provenance import header, provenance

    facts = provenance()
    record = {"provenance": facts, "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    lines = ["| encoder | items | bare items/s | store items/s | store / bare | rerun (no encoder work) |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['encoder']} | {r['items']} | {r['bare_items_per_s']} | {r['store_items_per_s']} | "
              f"**{r['ratio_store_over_bare']}** | {r['rerun_seconds']} s |" for r in results]
    out.with_suffix(".md").write_text(header("Feature extraction through the store vs the bare forward pass", facts)
                                      + f"Batch {args.batch_size} for both paths; side by side in one run.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
