"""Ray Data extraction (a local cluster, 2 model actors) against the one-process path, side by side.

Embeds the first --images training emoji drawings with EfficientNet-Lite0 both ways into fresh
stores, checks that the stores are equal (keys, skips, fingerprint; features within float16
rounding) and writes the wall times and their ratio to ``benchmarks/results/ray_extract.{md,json}``.
On a 2-core machine Ray has no spare cores to spread over, so the ratio says what its overhead
costs here, not what it gains on a cluster.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ray.py [--images 256] [--encoder efficientnet-lite0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from provenance import ROOT, header, provenance, table

RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    import ray

    from alignkit.data import open_source
    from alignkit.data.base import image_items
    from alignkit.encoders import create_encoder
    from alignkit.features.extract import embed_items
    from alignkit.features.ray_engine import ray_chunk_runner

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--encoder", default="efficientnet-lite0")
    args = ap.parse_args()
    facts = provenance()
    items = list(itertools.islice(image_items(open_source("builtin:emoji?split=train")), args.images))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        local = embed_items(create_encoder(args.encoder), items, Path(tmp) / "local", progress=False)
        rows.append({"path": "one process (1 decode worker + the model)", "seconds": round(time.perf_counter() - t0, 1)})
        t0 = time.perf_counter()
        runner = ray_chunk_runner(workers=2)
        init = time.perf_counter() - t0
        t0 = time.perf_counter()
        on_ray = embed_items(create_encoder(args.encoder), items, Path(tmp) / "ray", progress=False, chunk_runner=runner)
        rows.append({"path": "Ray Data (decode tasks + 2 model actors)", "seconds": round(time.perf_counter() - t0, 1),
                     "cluster start (s)": round(init, 1)})
        ray.shutdown()
        (lk, lf), (rk, rf) = local.load(), on_ray.load()
        equal = {"same keys": list(lk) == list(rk), "same skips": local.skipped == on_ray.skipped,
                 "same fingerprint": local.fingerprint == on_ray.fingerprint,
                 "max abs feature difference": float(np.abs(np.asarray(lf, np.float32) - np.asarray(rf, np.float32)).max())}
    ratio = rows[1]["seconds"] / rows[0]["seconds"]
    (RESULTS / "ray_extract.json").write_text(json.dumps({"provenance": facts, "args": vars(args), "rows": rows,
                                                          "equality": equal, "ray_over_local": ratio}, indent=1))
    text = header("Extraction on Ray Data vs one process", facts)
    text += (f"{args.images} emoji training drawings, `{args.encoder}`, fresh stores, the same machine, one run each.\n\n"
             + table(rows, ["path", "seconds", "cluster start (s)"]) + f"\n\nRay / one process: **{ratio:.2f}x** the wall time "
             "(cluster start not counted). Stores: " + ", ".join(f"{k}: {v}" for k, v in equal.items()) + ".\n")
    (RESULTS / "ray_extract.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
