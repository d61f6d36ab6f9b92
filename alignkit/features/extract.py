"""Batched feature extraction into a ``FeatureStore``: resumable, atomic, never misaligned.

Decoding and preprocessing run in data-loader workers while the model runs in the main
process. Items that fail (missing or corrupt image, empty caption, non-finite features,
duplicate key) are skipped and recorded per shard with the reason; every other row keeps
its own key, so nothing downstream can pair a caption with the wrong image.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Sized

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from alignkit.encoders.base import Encoder
from alignkit.errors import AlignkitError, BadItemError
from alignkit.features.store import (
    FORMAT,
    MANIFEST,
    FeatureStore,
    StoreMismatchError,
    atomic_save_npy,
    atomic_write_json,
    content_digest,
    keys_digest,
    shard_damage,
    software_versions,
)

DEFAULT_SHARD_SIZE = 2048


class _Prepared(Dataset):
    """Decode + preprocess one item in a worker; failures come back as a reason string."""

    def __init__(self, items: Sequence[tuple[str, Any]], encoder: Encoder):
        self.items = items
        self.encoder = encoder

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, Any, str | None]:
        _, payload = self.items[i]
        try:
            return i, self.encoder.preprocess(_load(payload, self.encoder.modality)), None
        except BadItemError as e:
            return i, None, str(e)
        except Exception as e:  # an unexpected decoder failure must not kill the run
            return i, None, f"{type(e).__name__}: {e}"


def _load(payload: Any, modality: str) -> Any:
    if modality == "image":
        from alignkit.data.images import decode_image

        return decode_image(payload)
    from alignkit.data.checks import clean_caption

    return clean_caption(payload)


def _collate(batch: list[tuple[int, Any, str | None]]) -> list[tuple[int, Any, str | None]]:
    return batch  # the encoder collates the good items in the main process


def _default_workers(modality: str) -> int:
    if modality != "image":
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def embed_items(
    encoder: Encoder,
    items: Iterable[tuple[str, Any]],
    out: str | Path,
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int = 64,
    num_workers: int | None = None,
    tokens: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    total: int | None = None,
    source: dict[str, Any] | None = None,
    source_skips: Callable[[], list[dict[str, str]]] | None = None,
    changed_keys: str = "refuse",
) -> FeatureStore:
    """Embed ``(key, payload)`` items into the store at ``out``; resume what is already there.

    A store made with another fingerprint (encoder, weights, preprocessing, layer, pooling) or
    shard size is refused unless ``overwrite`` is set. A finished shard is reused only when its
    files still match their recorded SHA-256 and its items are the same content (same keys, and
    per item the same file size and mtime, bytes, pixels or text); otherwise it is re-extracted.
    A source whose keys changed under a finished shard is refused (``changed_keys="refuse"``) or
    re-extracted (``"recompute"``, for caches). ``source_skips`` (called once the items are
    exhausted) gives the source's own skips, which the manifest records. Returns the finished store.
    """
    if changed_keys not in ("refuse", "recompute"):
        raise ValueError(f"changed_keys must be 'refuse' or 'recompute', not {changed_keys!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = encoder.fingerprint()
    manifest = _open_manifest(out, fingerprint, shard_size, tokens, overwrite)
    manifest = {k: v for k, v in manifest.items() if k != "last_run"}
    before = json.loads(json.dumps(manifest))
    manifest.update(
        format=FORMAT,
        fingerprint=fingerprint,
        encoder=encoder.describe(),
        dim=encoder.dim,
        shard_size=shard_size,
        tokens=tokens,
        versions=software_versions(),
        source=source or manifest.get("source") or {},
        complete=False,
    )
    done = {s["index"]: s for s in manifest.get("shards", [])}
    workers = _default_workers(encoder.modality) if num_workers is None else num_workers
    seen: set[str] = set()
    shards: list[dict[str, Any]] = []
    if total is None and isinstance(items, Sized):
        total = len(items)
    bar = _progress(total, encoder.spec, progress)
    it = iter(items)
    t0 = time.perf_counter()
    computed = 0
    redone: list[dict[str, str]] = []
    for index in itertools.count():
        chunk = list(itertools.islice(it, shard_size))
        if not chunk:
            break
        digest = keys_digest([k for k, _ in chunk])
        content = content_digest(chunk, encoder.modality)
        if index in done:
            why = _why_not_reusable(out, done[index], digest, content, changed_keys)
            if why is None:
                shards.append(done[index])
                seen.update(k for k, _ in chunk)
                bar.update(len(chunk))
                continue
            redone.append({"shard": done[index]["name"], "reason": why})
        rows_keys, feats, tok, msk, skipped = _embed_chunk(encoder, chunk, seen, batch_size, workers, tokens, bar)
        computed += len(chunk)
        name = f"shard-{index:05d}"
        files = {f"{name}.npy": atomic_save_npy(out / f"{name}.npy", feats)}
        if tokens:
            files[f"{name}.tokens.npy"] = atomic_save_npy(out / f"{name}.tokens.npy", tok)
            files[f"{name}.mask.npy"] = atomic_save_npy(out / f"{name}.mask.npy", msk)
        files[f"{name}.json"] = atomic_write_json(out / f"{name}.json", {"keys": rows_keys, "skipped": skipped})
        shards.append(
            {"index": index, "name": name, "rows": len(rows_keys), "items": len(chunk),
             "skipped": len(skipped), "keys_digest": digest, "content_digest": content, "files": files}
        )
        manifest["shards"] = shards
        atomic_write_json(out / MANIFEST, manifest)
    _close(bar)
    _remove_stale_shards(out, {s["name"] for s in shards})
    manifest["shards"] = shards
    manifest["source_skipped"] = list(source_skips()) if source_skips else []
    manifest["complete"] = True
    last_run = {"items_computed": computed, "seconds": round(time.perf_counter() - t0, 3), "re_extracted": redone}
    if computed or json.loads(json.dumps(manifest)) != before:  # a run that reused everything leaves the folder untouched
        atomic_write_json(out / MANIFEST, {**manifest, "last_run": last_run})
    store = FeatureStore(out)
    store.manifest["last_run"] = last_run
    return store


def _why_not_reusable(out: Path, entry: dict[str, Any], keys: str, content: str, changed_keys: str) -> str | None:
    """None when a finished shard may be served as it is; else why it must be re-extracted."""
    if entry["keys_digest"] != keys:
        if changed_keys == "refuse":
            raise StoreMismatchError(
                f"{out}: the source changed since shard {entry['index']} was written (its keys differ). "
                "Use a new --out folder, or --overwrite to start again."
            )
        return "the source's keys changed"
    if entry.get("content_digest") != content:
        return "the items changed (file size or mtime, bytes or text)"
    return shard_damage(out, entry)


def _open_manifest(out: Path, fingerprint: str, shard_size: int, tokens: bool, overwrite: bool) -> dict[str, Any]:
    mpath = out / MANIFEST
    if not mpath.exists():
        return {"shards": []}
    old = FeatureStore(out).manifest
    problems = []
    if old["fingerprint"] != fingerprint:
        problems.append(f"it was made by another encoder or settings ({old['encoder'].get('spec')}, fingerprint {old['fingerprint'][:12]})")
    if old["shard_size"] != shard_size:
        problems.append(f"its shard size is {old['shard_size']}, not {shard_size}")
    if tokens and not old.get("tokens"):
        problems.append("it holds no token features")
    if not problems:
        return old
    if not overwrite:
        raise StoreMismatchError(
            f"{out} already holds features that cannot be reused: {'; '.join(problems)}. "
            "Choose another --out folder, or pass --overwrite to replace them."
        )
    for f in out.iterdir():
        if f.name == MANIFEST or f.name.startswith("shard-"):
            f.unlink()
    return {"shards": []}


def _remove_stale_shards(out: Path, keep: set[str]) -> None:
    """Drop shard files beyond the source's end (left by an earlier, longer source) and the
    temporary files of writes a killed run never finished."""
    for f in out.glob("shard-*"):
        if f.name.split(".")[0] not in keep:
            f.unlink()
    for f in out.glob(".*.tmp*"):
        f.unlink(missing_ok=True)


def _embed_chunk(
    encoder: Encoder,
    chunk: list[tuple[str, Any]],
    seen: set[str],
    batch_size: int,
    workers: int,
    tokens: bool,
    bar: Any,
) -> tuple[list[str], np.ndarray, np.ndarray | None, np.ndarray | None, list[dict[str, str]]]:
    skipped: list[dict[str, str]] = []
    todo: list[tuple[str, Any]] = []
    for key, payload in chunk:
        if key in seen:
            skipped.append({"key": key, "reason": "duplicate key"})
        else:
            seen.add(key)
            todo.append((key, payload))
    loader = DataLoader(
        _Prepared(todo, encoder), batch_size=batch_size, num_workers=workers, collate_fn=_collate,
        shuffle=False,
    )
    keys: list[str] = []
    pooled: list[np.ndarray] = []
    toks: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    bar.update(len(chunk) - len(todo))
    with torch.inference_mode():
        for batch in loader:
            good = [(i, x) for i, x, err in batch if err is None]
            for i, _, err in batch:
                if err is not None:
                    skipped.append({"key": todo[i][0], "reason": err})
            if good:
                out = encoder.forward(encoder.collate([x for _, x in good]), tokens=tokens)
                p = out.pooled.float().numpy()
                finite = np.isfinite(p).all(axis=1)
                for (i, _), ok in zip(good, finite):
                    if ok:
                        keys.append(todo[i][0])
                    else:
                        skipped.append({"key": todo[i][0], "reason": "non-finite features (NaN or inf)"})
                pooled.append(p[finite].astype(np.float16))
                if tokens:
                    toks.append(out.tokens.float().numpy()[finite].astype(np.float16))
                    masks.append(out.mask.bool().numpy()[finite])
            bar.update(len(batch))
    feats = np.concatenate(pooled) if pooled else np.zeros((0, encoder.dim), dtype=np.float16)
    _check_fp16_range(feats, encoder)
    tok = msk = None
    if tokens:
        tok, msk = _pad_np(toks, masks)
    return keys, feats, tok, msk, skipped


def _check_fp16_range(feats: np.ndarray, encoder: Encoder) -> None:
    if feats.size and not np.isfinite(feats).all():
        raise AlignkitError(
            f"features of {encoder.spec} overflow float16 (|x| > 65504); this encoder's outputs "
            "need normalising before they can be stored"
        )


def _pad_np(toks: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not toks:
        return np.zeros((0, 0, 0), np.float16), np.zeros((0, 0), bool)
    t_max = max(t.shape[1] for t in toks)
    toks = [np.pad(t, ((0, 0), (0, t_max - t.shape[1]), (0, 0))) for t in toks]
    masks = [np.pad(m, ((0, 0), (0, t_max - m.shape[1]))) for m in masks]
    return np.concatenate(toks), np.concatenate(masks)


class _NoBar:
    total = n = None

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int | None, label: str, enabled: bool) -> Any:
    """A bar with a total (so it shows the ETA) whenever the item count is known: ``total`` may
    be an upper bound (the first N of a source), and the bar is closed at the count reached."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"embed {label}", unit="item", dynamic_ncols=True, smoothing=0.1)


def _close(bar: Any) -> None:
    if bar.total is not None and bar.n < bar.total:  # the source ended before the bound
        bar.total = bar.n
        bar.refresh()
    bar.close()
