"""Batched feature extraction into a ``FeatureStore``: resumable, atomic, never misaligned.

Decoding and preprocessing run in data-loader workers while the model runs in the main
process. Items that fail (missing or corrupt image, empty caption, non-finite features,
duplicate key) are skipped and recorded per shard with the reason; every other row keeps
its own key, so nothing downstream can pair a caption with the wrong image.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Sized

import numpy as np
import torch
from torch.utils.data import DataLoader

from alignkit.encoders.base import Encoder
from alignkit.errors import AlignkitError
from alignkit.locks import folder_locks
from alignkit.features.distinct_texts import DistinctTexts
from alignkit.features.shards import OutputStore
from alignkit.features.store import FeatureStore, content_digest, keys_digest
from alignkit.features.loading import (Prepared, close_bar, default_workers, first_of_each_key, keep_batch, pad_tokens,
                                       threaded_batches)
from alignkit.options import ENCODE_BATCH_SIZE
from alignkit.progress import progress_bar

DEFAULT_SHARD_SIZE = 2048


def embed_items(
    encoder: Encoder,
    items: Iterable[tuple[str, Any]],
    out: str | Path,
    **options: Any,
) -> FeatureStore:
    """Embed ``(key, payload)`` items into the store at ``out``; resume what is already there.

    A store made with another fingerprint (encoder, weights, preprocessing, layer, pooling) or
    shard size is refused unless ``overwrite`` is set. A finished shard is reused only when its
    files still match their recorded SHA-256 and its items are the same content (same keys, and
    per item the same file size and mtime, bytes, pixels or text); otherwise it is re-extracted.
    A source whose keys changed under a finished shard is refused (``changed_keys="refuse"``) or
    re-extracted (``"recompute"``, for caches). ``source_skips`` (called once the items are
    exhausted) gives the source's own skips, which the manifest records. Options: ``shard_size``,
    ``batch_size``, ``num_workers``, ``tokens``, ``overwrite``, ``progress``, ``total``, ``source``,
    ``source_skips``, ``changed_keys``, ``chunk_runner``. Returns the finished store.
    """
    return embed_layers([encoder], items, [out], **options)[0]


def embed_layers(
    encoders: Sequence[Encoder],
    items: Iterable[tuple[str, Any]],
    outs: Sequence[str | Path],
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int = ENCODE_BATCH_SIZE,
    num_workers: int | None = None,
    tokens: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    total: int | None = None,
    source: dict[str, Any] | None = None,
    source_skips: Callable[[], list[dict[str, str]]] | None = None,
    changed_keys: str = "refuse",
    chunk_runner: Callable[..., list[tuple]] | None = None,
) -> list[FeatureStore]:
    """Several layers of one model, one store each, from one pass over the data: each batch is
    decoded once and run through the model once (where the backend can return several layers
    from one forward pass, else once per layer). Every store is what ``embed_items`` writes for
    its own encoder: its fingerprint, manifest, skips and resume rules, shard by shard.
    ``chunk_runner`` computes a shard's features elsewhere (``features.ray_engine``); the shard
    loop, reuse and writes stay here."""
    if changed_keys not in ("refuse", "recompute"):
        raise ValueError(f"changed_keys must be 'refuse' or 'recompute', not {changed_keys!r}")
    if overwrite:  # what the refusal suggests: --overwrite replaces every shard the source no longer matches
        changed_keys = "recompute"
    if not encoders or len(encoders) != len(outs):
        raise ValueError(f"embed_layers needs one output folder per encoder ({len(encoders)} encoders, {len(outs)} folders)")
    if len(encoders) > 1:
        check_one_model(encoders)
        if tokens:
            raise AlignkitError("token features are extracted one layer per run; pass one encoder")
    if tokens and any(e.engine != "torch" for e in encoders):
        raise AlignkitError("token features are computed by torch; embed them with --engine torch")
    with folder_locks(outs, "feature store"):  # one writer per store
        targets = [OutputStore(enc, Path(out), shard_size, tokens, overwrite, source) for enc, out in zip(encoders, outs)]
        lead = encoders[0]
        workers = default_workers(lead.modality) if num_workers is None else num_workers
        seen: set[str] = set()
        if total is None and isinstance(items, Sized):
            total = len(items)
        label = lead.spec if len(encoders) == 1 else f"{lead.spec} ({len(encoders)} layers)"
        bar = progress_bar(total, f"embed {label}", progress, smoothing=0.1)
        it = iter(items)
        runner = chunk_runner or _embed_chunk
        if lead.modality == "text" and not tokens:
            runner = DistinctTexts(runner)  # repeated captions are embedded once
        t0 = time.perf_counter()
        for index in itertools.count():
            chunk = list(itertools.islice(it, shard_size))
            if not chunk:
                break
            digest = keys_digest([k for k, _ in chunk])
            content = content_digest(chunk, lead.modality)
            todo = [t for t in targets if not t.reuse(index, digest, content, changed_keys)]
            if todo:
                results = runner([t.encoder for t in todo], chunk, seen, batch_size, workers, tokens, bar)
                for target, result in zip(todo, results):
                    target.write(index, digest, content, len(chunk), result)
            else:
                bar.update(len(chunk))
            seen.update(k for k, _ in chunk)
        close_bar(bar)
        skips = list(source_skips()) if source_skips else []
        seconds = round(time.perf_counter() - t0, 3)
        _refuse_empty(targets[0], len(seen), skips)
        return [t.finish(skips, seconds) for t in targets]


class EmptyInputError(AlignkitError):
    """The source gave nothing to embed, or every item was skipped: no store is finished."""


def _refuse_empty(target: OutputStore, items: int, source_skips: list[dict[str, str]]) -> None:
    """An empty store is never a finished one: no items, or none that could be embedded, is an error."""
    if any(s["rows"] for s in target.shards):
        return
    skipped = [x for s in target.shards for x in _shard_skips(target.out, s)] + list(source_skips)
    if not items:
        why = f" ({len(skipped)} skipped, e.g. {skipped[0]['key']}: {skipped[0]['reason']})" if skipped else ""
        raise EmptyInputError(f"nothing to embed into {target.out}: the source gave no items{why}; check the path or spec")
    first = f" (e.g. {skipped[0]['key']}: {skipped[0]['reason']})" if skipped else ""
    raise EmptyInputError(f"none of the {items} items could be embedded into {target.out}{first}; fix or replace them")


def _shard_skips(out: Path, entry: dict[str, Any]) -> list[dict[str, str]]:
    return json.loads((out / f"{entry['name']}.json").read_text(encoding="utf-8"))["skipped"] if entry.get("skipped") else []


def check_one_model(encoders: Sequence[Encoder]) -> None:
    """Encoders may share a pass only when they are one model at different layers: same class,
    weights, preprocessing and dtype (otherwise one's batches would be wrong for another)."""
    def ident(e: Encoder) -> tuple:
        return type(e).__name__, e.modality, e.weights_digest(), json.dumps(e.preprocessing(), sort_keys=True, default=str), e.options.dtype

    first = ident(encoders[0])
    for e in encoders[1:]:
        if ident(e) != first:
            raise AlignkitError(f"{e.spec} and {encoders[0].spec} are not one model at different layers; embed them separately")


def _embed_chunk(
    encoders: Sequence[Encoder],
    chunk: list[tuple[str, Any]],
    seen: set[str],
    batch_size: int,
    workers: int,
    tokens: bool,
    bar: Any,
) -> list[tuple[list[str], np.ndarray, np.ndarray | None, np.ndarray | None, list[dict[str, str]]]]:
    """One shard's items through the model: per encoder, (keys, pooled, tokens, mask, skipped)."""
    lead = encoders[0]
    todo, common_skips = first_of_each_key(chunk, seen)
    if lead.engine == "torch" or workers == 0:
        loader = DataLoader(Prepared(todo, lead), batch_size=batch_size, num_workers=workers, collate_fn=keep_batch,
                            shuffle=False)
    else:  # ONNX Runtime releases the GIL: decode in threads beside it, not in processes
        loader = threaded_batches(Prepared(todo, lead), batch_size, workers)
    keys: list[list[str]] = [[] for _ in encoders]
    skipped: list[list[dict[str, str]]] = [list(common_skips) for _ in encoders]
    pooled: list[list[np.ndarray]] = [[] for _ in encoders]
    toks: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    bar.update(len(chunk) - len(todo))
    with torch.inference_mode():
        for batch in loader:
            good = [(i, x) for i, x, err in batch if err is None]
            for i, _, err in batch:
                if err is not None:
                    for s in skipped:
                        s.append({"key": todo[i][0], "reason": err})
            if good:
                collated = lead.collate([x for _, x in good])
                if len(encoders) == 1:
                    out = lead.forward(collated, tokens=tokens)
                    layers = [out.pooled]
                    if tokens:
                        toks.append(out.tokens.float().numpy())
                        masks.append(out.mask.bool().numpy())
                else:
                    layers = lead.pooled_layers(collated, [e.options.layer for e in encoders])
                    if layers is None:  # the backend gives one layer per pass
                        layers = [e.forward(collated).pooled for e in encoders]
                for j, p in enumerate(layers):
                    p = p.float().numpy()
                    finite = np.isfinite(p).all(axis=1)
                    for (i, _), ok in zip(good, finite):
                        if ok:
                            keys[j].append(todo[i][0])
                        else:
                            skipped[j].append({"key": todo[i][0], "reason": "non-finite features (NaN or inf)"})
                    pooled[j].append(p[finite].astype(np.float16))
                    if tokens:
                        toks[-1], masks[-1] = toks[-1][finite].astype(np.float16), masks[-1][finite]
            bar.update(len(batch))
    results = []
    for j, enc in enumerate(encoders):
        feats = np.concatenate(pooled[j]) if pooled[j] else np.zeros((0, enc.dim), dtype=np.float16)
        check_fp16_range(feats, enc)
        tok, msk = pad_tokens(toks, masks) if tokens else (None, None)
        results.append((keys[j], feats, tok, msk, skipped[j]))
    return results


def check_fp16_range(feats: np.ndarray, encoder: Encoder) -> None:
    if feats.size and not np.isfinite(feats).all():
        raise AlignkitError(
            f"features of {encoder.spec} overflow float16 (|x| > 65504); this encoder's outputs "
            "need normalising before they can be stored"
        )
