"""torch vs ONNX Runtime for every offline encoder, side by side in one run.

For each encoder: the ONNX export is made first (not timed: it is cached and reused), then the
two engines run alternately, ``--repeats`` times each, on the same items and threads:
  * bare: only the model, on batches preprocessed beforehand (what the engine itself costs);
  * end to end: ``embed_items`` into a fresh store, the function ``alignkit embed`` calls
    (decode and resize in loader workers, model, float16 shards, manifest).
The median of the repeats is reported, with the max |difference| between the two engines'
stored features. ``end-to-end / bare`` for onnx says whether decode keeps up with the model.
Writes ``benchmarks/results/engines.{md,json}``.

Usage: HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python benchmarks/bench_engines.py [--images 192] [--captions 768] [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from provenance import ROOT, header, provenance, table

RESULTS = ROOT / "benchmarks" / "results"
ENCODERS = {"efficientnet-lite0": "image", "efficientnet-lite1": "image", "efficientnet-lite2": "image",
            "minilm-l6": "text", "mpnet-base": "text"}
BATCH = 64


def _items(n_images: int, n_captions: int) -> dict[str, list]:
    from alignkit.data import open_source
    from alignkit.data.base import caption_items, image_items

    source = "builtin:emoji?split=train"
    return {"image": list(itertools.islice(image_items(open_source(source)), n_images)),
            "text": list(itertools.islice(caption_items(open_source(source)), n_captions))}


def _bare(encoder, batches) -> float:
    import torch

    t0 = time.perf_counter()
    with torch.inference_mode():
        for b in batches:
            encoder.forward(b)
    return time.perf_counter() - t0


def _end_to_end(encoder, items, out: Path) -> tuple[float, np.ndarray]:
    from alignkit.features.extract import embed_items

    t0 = time.perf_counter()
    store = embed_items(encoder, items, out, batch_size=BATCH, progress=False)
    seconds = time.perf_counter() - t0
    return seconds, np.asarray(store.load()[1], dtype=np.float32)


def measure(spec: str, items: list, repeats: int, tmp: Path) -> dict:
    from alignkit.encoders import create_encoder

    encoders = {e: create_encoder(spec, engine=e) for e in ("torch", "onnx")}  # the export happens here, untimed
    from alignkit.data.images import decode_image

    payloads = [decode_image(p) if encoders["torch"].modality == "image" else p for _, p in items]
    batches = [encoders["torch"].collate([encoders["torch"].preprocess(x) for x in payloads[i:i + BATCH]])
               for i in range(0, len(payloads), BATCH)]
    times: dict[str, dict[str, list[float]]] = {e: {"bare": [], "e2e": []} for e in encoders}
    feats: dict[str, np.ndarray] = {}
    _bare(encoders["onnx"], batches[:1]), _bare(encoders["torch"], batches[:1])  # warm both
    for r in range(repeats):
        for name, enc in encoders.items():  # alternate, so drift in the machine's load hits both
            times[name]["bare"].append(_bare(enc, batches))
            seconds, feats[name] = _end_to_end(enc, items, tmp / f"{spec}-{name}-{r}")
            times[name]["e2e"].append(seconds)
    n = len(items)
    med = {e: {k: statistics.median(v) for k, v in t.items()} for e, t in times.items()}
    return {"encoder": spec, "items": n,
            "torch bare /s": n / med["torch"]["bare"], "onnx bare /s": n / med["onnx"]["bare"],
            "bare speed-up": med["torch"]["bare"] / med["onnx"]["bare"],
            "torch end-to-end /s": n / med["torch"]["e2e"], "onnx end-to-end /s": n / med["onnx"]["e2e"],
            "end-to-end speed-up": med["torch"]["e2e"] / med["onnx"]["e2e"],
            "onnx end-to-end / bare": med["onnx"]["bare"] / med["onnx"]["e2e"],
            "max abs difference": float(np.abs(feats["torch"] - feats["onnx"]).max()),
            "seconds": {e: t for e, t in times.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=192)
    ap.add_argument("--captions", type=int, default=768)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--encoders", default=",".join(ENCODERS))
    args = ap.parse_args()
    facts = provenance()
    items = _items(args.images, args.captions)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.encoders.split(","):
            rows.append(measure(spec, items[ENCODERS[spec]], args.repeats, Path(tmp)))
            print({k: v for k, v in rows[-1].items() if k != "seconds"}, flush=True)
    (RESULTS / "engines.json").write_text(json.dumps({"provenance": facts, "args": vars(args), "batch_size": BATCH,
                                                      "rows": rows}, indent=1))
    cols = ["encoder", "items", "torch bare /s", "onnx bare /s", "bare speed-up", "torch end-to-end /s",
            "onnx end-to-end /s", "end-to-end speed-up", "onnx end-to-end / bare", "max abs difference"]
    text = header("Encoder engines: torch vs ONNX Runtime", facts)
    text += (f"Emoji training drawings ({args.images}) and their captions ({args.captions}), batch {BATCH}, the same "
             f"threads; median of {args.repeats} alternating runs per engine. Bare: the model on preprocessed batches. "
             "End to end: `embed_items` (what `alignkit embed` runs) into a fresh store, decode included. "
             "Max abs difference: between the two engines' stored (float16) features.\n\n"
             + table([{k: (f"{v:.2g}" if k == "max abs difference" else v) for k, v in r.items()} for r in rows], cols) + "\n")
    (RESULTS / "engines.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
