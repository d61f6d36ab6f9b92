"""Distributed extraction on Ray Data: the same store, shard by shard, with the work spread over
a Ray cluster (a local one by default, or ``address=`` for a multi-node cluster).

The driver keeps the shard loop of ``embed_items`` (reuse rules, resume, duplicate keys, atomic
writes, the manifest), so a Ray-made store is the store the one-process path makes: same keys,
same skips, same fingerprint, features equal within float16 rounding. Each shard that must be
computed becomes a Ray dataset: CPU tasks decode the items (images to RGB arrays, captions
cleaned), and an actor pool runs the frozen encoder, one model per actor (``num_gpus`` per actor
on GPU clusters). Ray is an optional extra (``pip install 'alignkit[ray]'``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from alignkit.encoders.base import Encoder
from alignkit.errors import AlignkitError
from alignkit.features.extract import check_fp16_range
from alignkit.features.loading import first_of_each_key


def ray_chunk_runner(workers: int = 2, address: str | None = None, gpus_per_worker: float = 0.0) -> Any:
    """A chunk runner for ``embed_items(..., chunk_runner=...)`` that embeds each shard on Ray."""
    try:
        import ray
    except ImportError:
        raise AlignkitError("the Ray engine needs Ray: pip install 'alignkit[ray]' (or 'ray[data]')") from None
    if workers < 1:
        raise AlignkitError(f"the Ray engine needs at least one worker, got {workers}")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 **({} if address else {"num_cpus": max(2, workers + 1)}))
    return _RayChunks(workers, gpus_per_worker)


class _RayChunks:
    def __init__(self, workers: int, gpus: float):
        self.workers, self.gpus = workers, gpus

    def __call__(self, encoders: Sequence[Encoder], chunk: list[tuple[str, Any]], seen: set[str], batch_size: int,
                 _decode_workers: int, tokens: bool, bar: Any) -> list[tuple]:
        import ray

        if len(encoders) != 1 or tokens:
            raise AlignkitError("the Ray engine embeds pooled features of one encoder per run (no --tokens, one layer)")
        enc = encoders[0]
        todo, skipped = first_of_each_key(chunk, seen)
        bar.update(len(chunk) - len(todo))
        keys: list[str] = []
        feats: list[np.ndarray] = []
        if todo:
            ds = ray.data.from_items([{"i": i, "payload": p} for i, (_, p) in enumerate(todo)])
            ds = ds.map_batches(_Decode(enc.modality), batch_size=batch_size, batch_format="pandas")
            ds = ds.map_batches(_EncodeActor, fn_constructor_args=(enc.spec, _options(enc), enc.fingerprint(), self.gpus > 0),
                                batch_size=batch_size, batch_format="pandas", num_gpus=self.gpus or None,
                                compute=ray.data.ActorPoolStrategy(size=self.workers))
            rows = sorted(ds.take_all(), key=lambda r: r["i"])
            for r in rows:
                key = todo[r["i"]][0]
                if r["err"]:
                    skipped.append({"key": key, "reason": r["err"]})
                elif not np.isfinite(r["feat"]).all():
                    skipped.append({"key": key, "reason": "non-finite features (NaN or inf)"})
                else:
                    keys.append(key)
                    feats.append(np.asarray(r["feat"], dtype=np.float32))
            bar.update(len(todo))
        out = np.stack(feats).astype(np.float16) if feats else np.zeros((0, enc.dim), dtype=np.float16)
        check_fp16_range(out, enc)
        return [(keys, out, None, None, skipped)]


def _options(enc: Encoder) -> dict[str, Any]:
    o = enc.options
    return {"dtype": o.dtype, "layer": o.layer, "pooling": o.pooling, "engine": enc.engine}


class _Decode:
    """CPU tasks: payloads -> decoded items (RGB uint8 arrays or clean captions) or the reason they failed."""

    def __init__(self, modality: str):
        self.modality = modality

    def __call__(self, batch: Any) -> Any:
        from alignkit.errors import BadItemError
        from alignkit.features.loading import load_item

        data, errs = [], []
        for payload in batch["payload"]:
            try:
                item = load_item(payload, self.modality)
                data.append(np.asarray(item, dtype=np.uint8) if self.modality == "image" else item)
                errs.append("")
            except BadItemError as e:
                data.append(None)
                errs.append(str(e))
            except Exception as e:  # an unexpected decoder failure is recorded, never fatal
                data.append(None)
                errs.append(f"{type(e).__name__}: {e}")
        return batch.assign(data=data, err=errs).drop(columns=["payload"])


class _EncodeActor:
    """One frozen model per actor; refuses to run if it would make other features than the driver's."""

    def __init__(self, spec: str, options: dict[str, Any], fingerprint: str, gpu: bool):
        from alignkit.encoders import create_encoder

        self.enc = create_encoder(spec, device="cuda" if gpu else "cpu", **options)
        if self.enc.fingerprint() != fingerprint:
            raise AlignkitError(f"{spec}: a Ray worker built an encoder with another fingerprint "
                                "(other weights or packages on that node); its features cannot join this store")

    def __call__(self, batch: Any) -> Any:
        import torch
        from PIL import Image

        good = [j for j, e in enumerate(batch["err"]) if not e]
        feats: list[Any] = [None] * len(batch)
        errs = list(batch["err"])
        if good:
            items = [batch["data"].iloc[j] for j in good]
            if self.enc.modality == "image":
                items = [Image.fromarray(np.asarray(x, dtype=np.uint8)) for x in items]
            prepared = []
            for j, x in zip(good, items):
                try:
                    prepared.append((j, self.enc.preprocess(x)))
                except Exception as e:
                    errs[j] = f"{type(e).__name__}: {e}"
            if prepared:
                with torch.inference_mode():
                    pooled = self.enc.forward(self.enc.collate([x for _, x in prepared])).pooled.float().numpy()
                for (j, _), row in zip(prepared, pooled):
                    feats[j] = row
        return batch.assign(feat=feats, err=errs).drop(columns=["data"])
