"""Training speed: the real loop (``alignkit.align.training.loop.train_pairs``) beside a bare torch
loop of the same shapes, in one run, for fp32 and bf16 autocast and two batch sizes.

Data: synthetic frozen features of the demo's shapes (the chosen pair, EfficientNet-Lite0 +
mpnet-base: 1,280-d images, 768-d captions), 14,284 images of 3,428 concepts with 48,458
captions, as the demo's training set has. Recipe: the default (identity image head, MLP text
head 768 -> 2,560 -> 1,280, style shift) with the caption memory off, since the memory is
filled once after training and is not part of the loop's speed.

The bare loop is the floor the real loop is held to: the same heads (built by the trainer's own
``build_model``) and the same loss object, batches gathered from one in-RAM tensor, forward,
backward, fused AdamW; no style shift, no clipping, no schedule, no logging. Pairs per second
are counted over whole epochs after the first (warm-up), best of ``--repeats`` alternating runs.
Writes ``benchmarks/results/train_speed.{md,json}``.

Usage: ``.venv/bin/python benchmarks/bench_train.py [--epochs 3 --repeats 2]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from provenance import ROOT, header, provenance, table

from alignkit.align.recipe import AlignConfig
from alignkit.align.training.loop import train_pairs
from alignkit.align.training.losses import build_loss
from alignkit.align.training.precision import resolve_precision
from alignkit.align.training.run_folder import read_metrics
from alignkit.align.training.start_model import build_model
from alignkit.features.pairs import CachedPairs

RESULTS = ROOT / "benchmarks" / "results"
IMAGES, CONCEPTS, CAPTIONS, IMAGE_DIM, TEXT_DIM = 14_284, 3_428, 48_458, 1280, 768


def synthetic_pairs(seed: int = 0) -> CachedPairs:
    """Features of the demo's shapes; each image a concept, 3-4 captions per image."""
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((IMAGES, IMAGE_DIM), dtype=np.float32)
    owner = np.sort(np.concatenate([np.arange(IMAGES), rng.integers(0, IMAGES, CAPTIONS - IMAGES)]))
    text = rng.standard_normal((CAPTIONS, TEXT_DIM), dtype=np.float32)
    keys = [f"k{i}" for i in range(IMAGES)]
    counts: dict[int, int] = {}
    text_keys = []
    for o in owner.tolist():
        text_keys.append(f"k{o}#{counts.get(o, 0)}")
        counts[o] = counts.get(o, 0) + 1
    return CachedPairs(keys, image, text_keys, text, concepts=[f"c{i % CONCEPTS}" for i in range(IMAGES)])


def recipe(precision: str, batch: int, epochs: int) -> AlignConfig:
    return AlignConfig().with_overrides({"memory": 0.0, "precision": precision, "batch_size": batch, "epochs": epochs,
                                         "device": "cpu"}).validate()


def real_loop(data: CachedPairs, config: AlignConfig) -> float:
    """Pairs/s of the trainer itself, over the epochs after the first."""
    with tempfile.TemporaryDirectory() as out:
        train_pairs(config, data, out, progress=False)
        log = read_metrics(Path(out))
    warm = log[1:] or log
    steps = sum(r["pairs_per_s"] * r["seconds"] for r in warm)
    return steps / sum(r["seconds"] for r in warm)


def bare_loop(data: CachedPairs, config: AlignConfig) -> float:
    """Pairs/s of forward + backward + fused AdamW on the same heads and loss."""
    torch.manual_seed(config.seed)
    model = build_model(config, data, {})
    loss = build_loss(config.loss, config.init_temperature, config.learn_temperature, config.max_logit_scale, config.siglip_bias_init)
    params = [p for p in [*model.parameters(), *loss.parameters()] if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    precision = resolve_precision(config.precision, torch.device("cpu"))
    image = data.image_batch(np.arange(len(data.image_keys))).pooled
    text = data.text_batch(np.arange(len(data.text_owner))).pooled
    first = torch.from_numpy(np.array([c[0] for c in data.captions_of()]))
    b = config.batch_size
    steps = len(image) // b
    seconds = 0.0
    for epoch in range(config.epochs):
        order = torch.randperm(len(image), generator=torch.Generator().manual_seed(epoch))
        t0 = time.perf_counter()
        for s in range(steps):
            rows = order[s * b:(s + 1) * b]
            x, y = image[rows], text[first[rows]]
            with precision.autocast():
                zi = model.encode_image_features(x)
                zt = model.encode_text_features(y)
            value = loss(zi.float(), zt.float(), rows)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
        if epoch:
            seconds += time.perf_counter() - t0
    return steps * b * (config.epochs - 1) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is warm-up)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each loop; the best counts")
    parser.add_argument("--batches", default="256,1024")
    parser.add_argument("--precisions", default="fp32,bf16")
    args = parser.parse_args()
    facts = provenance()
    data = synthetic_pairs()
    rows = []
    for precision in args.precisions.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            config = recipe(precision, batch, args.epochs)
            real, bare = [], []
            for _ in range(args.repeats):
                real.append(real_loop(data, config))
                bare.append(bare_loop(data, config))
            rows.append({"precision": precision, "batch": batch, "real loop pairs/s": round(max(real), 1),
                         "bare loop pairs/s": round(max(bare), 1), "real / bare": round(max(real) / max(bare), 3)})
            print(rows[-1], flush=True)
    base = next(r for r in rows if r["precision"] == "fp32" and r["batch"] == 256)
    for r in rows:
        r["real vs fp32 at 256"] = round(r["real loop pairs/s"] / base["real loop pairs/s"], 2)
    facts["torch_bf16_cpu"] = bool(torch.backends.mkldnn.is_available()) and _cpu_has("avx512_bf16")
    (RESULTS / "train_speed.json").write_text(json.dumps({"provenance": facts, "rows": rows}, indent=1), encoding="utf-8")
    text = header("Training speed: the real loop beside a bare loop of the same shapes", facts)
    text += ("Synthetic features of the demo's shapes (14,284 images, 48,458 captions, 1,280-d and 768-d), the default "
             "recipe with the caption memory off; pairs/s over the epochs after the first, best of "
             f"{args.repeats} alternating runs; CPU bf16 instructions (avx512_bf16): {facts['torch_bf16_cpu']}.\n\n")
    text += table(rows, list(rows[0])) + "\n"
    (RESULTS / "train_speed.md").write_text(text, encoding="utf-8")
    print(text)


def _cpu_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


if __name__ == "__main__":
    main()
