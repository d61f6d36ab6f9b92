"""GPU throughput: head training per precision on GPU-resident features, and extraction images/s.

  training   : synthetic stores (--pairs pairs, image 1024-d + text 768-d float16), features held
               on the GPU (--features-in device), mlp heads, 512-d space, batch --batch-size,
               --epochs epochs per precision (fp32, bf16, fp16); pairs/s of the fastest epoch
               (the first one includes CUDA warm-up), and the last epoch's loss.
  extraction : EfficientNet-Lite0 over --images synthetic PNGs on the GPU (one process), images/s.

Writes benchmarks/results/gpu_check.md and .json naming the command, commit and machine.
Run through benchmarks/gpu_check.sh (which also runs the CUDA tests).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_streaming import IMAGE_DIM, TEXT_DIM, write_store  # noqa: E402


def train_precisions(root: Path, pairs: int, batch: int, epochs: int) -> list[dict]:
    from alignkit.align import AlignConfig, train

    keys = [f"p{i:08d}" for i in range(pairs)]
    latent = np.random.default_rng(0).standard_normal((pairs, 32), dtype=np.float32)
    t0 = time.perf_counter()
    write_store(root / "img", keys, IMAGE_DIM, 1, latent)
    write_store(root / "txt", [f"{k}#0" for k in keys], TEXT_DIM, 2, latent)
    print(f"stores written in {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for precision in ("fp32", "bf16", "fp16"):
        cfg = AlignConfig(embed_dim=512, epochs=epochs, batch_size=batch, lr=1e-3, val_fraction=0.0, refit=False,
                          style_shift=0.0, device="cuda", features_in="device", precision=precision, log_every=10**9)
        t0 = time.perf_counter()
        train(cfg, root / "img", root / "txt", root / f"run-{precision}", progress=False)
        log = [json.loads(x) for x in (root / f"run-{precision}/metrics.jsonl").read_text().splitlines()]
        best = max(log, key=lambda r: r["pairs_per_s"])
        rows.append({"precision": precision, "pairs_per_s": best["pairs_per_s"], "epoch_s": best["seconds"],
                     "last_loss": log[-1]["train_loss"], "total_s": round(time.perf_counter() - t0, 1),
                     "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20)})
        print(rows[-1], flush=True)
        torch.cuda.reset_peak_memory_stats()
    return rows


def extraction(root: Path, n: int) -> dict:
    from PIL import Image

    from alignkit.encoders import create_encoder
    from alignkit.features import embed_items

    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(buf, format="JPEG")
        items.append((f"i{i:06d}", buf.getvalue()))
    enc = create_encoder("efficientnet-lite0", device="cuda")
    t0 = time.perf_counter()
    embed_items(enc, items, root / "extract", batch_size=256, num_workers=min(8, os.cpu_count() or 1), progress=False)
    secs = time.perf_counter() - t0
    return {"encoder": "efficientnet-lite0", "images": n, "seconds": round(secs, 2), "images_per_s": round(n / secs, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=16384)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--out", default="benchmarks/results/gpu_check.md")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_gpu.py needs a CUDA GPU")
    with tempfile.TemporaryDirectory() as tmp:
        rows = train_precisions(Path(tmp), args.pairs, args.batch_size, args.epochs)
        ext = extraction(Path(tmp), args.images)
    print(ext, flush=True)
    commit = os.environ.get("ALIGNKIT_COMMIT") or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    gpu = torch.cuda.get_device_name(0)
    lines = [
        "# GPU check: head training per precision on GPU-resident features, extraction",
        "",
        f"Command: `benchmarks/gpu_check.sh` (runs `benchmarks/bench_gpu.py --pairs {args.pairs} --batch-size {args.batch_size} "
        f"--epochs {args.epochs} --images {args.images}`)",
        f"Commit: {commit}. Machine: {gpu}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {platform.platform()}.",
        "",
        f"Training: {args.pairs:,} synthetic pairs (1024-d image, 768-d text, float16 on the GPU), mlp heads, 512-d space, "
        f"InfoNCE, batch {args.batch_size:,}; the fastest of {args.epochs} epochs.",
        "",
        "| precision | pairs/s | epoch (s) | last-epoch loss | peak GPU memory (MB) |",
        "|---|---|---|---|---|",
        *[f"| {r['precision']} | {r['pairs_per_s']:,.0f} | {r['epoch_s']} | {r['last_loss']:.4f} | {r['peak_gpu_mb']:,} |" for r in rows],
        "",
        f"Extraction: {ext['encoder']} over {ext['images']:,} synthetic 256x256 JPEGs, batch 256, one process: "
        f"**{ext['images_per_s']:,.0f} images/s** ({ext['seconds']} s, decode workers included).",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    Path(args.out).with_suffix(".json").write_text(json.dumps({"args": vars(args), "gpu": gpu, "commit": commit, "training": rows,
                                                               "extraction": ext}, indent=1), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
