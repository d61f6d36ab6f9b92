"""The on-disk feature store: fixed-size float16 shards plus a JSON manifest.

Layout of a store folder::

    manifest.json             fingerprint, encoder description, shard list, skips, versions
    shard-00000.npy           (rows, D) float16 pooled features (np.load, no pickle)
    shard-00000.json          row keys and the items skipped in this shard, with reasons
    shard-00000.tokens.npy    optional (rows, T, Dt) float16 token features
    shard-00000.mask.npy      optional (rows, T) bool token mask

Shard ``i`` always covers source positions ``[i*S, (i+1)*S)``, whatever was skipped, so a
resumed run recomputes exactly the shards that were not finished. Every file is written to a
temporary name and renamed; the manifest is rewritten (atomically) after each shard.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from alignkit.errors import AlignkitError

FORMAT = "alignkit-features/1"
MANIFEST = "manifest.json"


class StoreMismatchError(AlignkitError):
    """The folder holds features of another encoder, settings or source."""


@dataclass
class Shard:
    index: int
    keys: list[str]
    skipped: list[dict[str, str]]
    features: np.ndarray  # (rows, D) float16, memory-mapped
    tokens: np.ndarray | None = None
    mask: np.ndarray | None = None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to ``path`` so a reader (or a resumed run) never sees a partial file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def keys_digest(keys: list[str]) -> str:
    """Digest of the source keys a shard covers: detects a source that changed under a resume."""
    h = hashlib.sha256()
    for k in keys:
        h.update(k.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def software_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("alignkit", "torch", "transformers", "timm", "sentence-transformers", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


class FeatureStore:
    """Read access to a finished (or partly finished) store folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.exists():
            raise AlignkitError(f"{self.path} is not a feature store (no {MANIFEST}); create it with `alignkit embed`")
        self.manifest: dict[str, Any] = json.loads(mpath.read_text(encoding="utf-8"))
        if self.manifest.get("format") != FORMAT:
            raise AlignkitError(f"{mpath}: unknown store format {self.manifest.get('format')!r}")

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def encoder(self) -> dict[str, Any]:
        return self.manifest["encoder"]

    def __len__(self) -> int:
        return sum(s["rows"] for s in self.manifest["shards"])

    @property
    def skipped(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for shard in self.iter_shards(load_features=False):
            out.extend(shard.skipped)
        return out

    def iter_shards(self, load_features: bool = True, tokens: bool = False) -> Iterator[Shard]:
        """Stream shards in order (bounded memory: one shard at a time, memory-mapped)."""
        for s in self.manifest["shards"]:
            name = s["name"]
            meta = json.loads((self.path / f"{name}.json").read_text(encoding="utf-8"))
            feats = np.load(self.path / f"{name}.npy", mmap_mode="r", allow_pickle=False) if load_features else None
            tok = msk = None
            if tokens:
                if not (self.path / f"{name}.tokens.npy").exists():
                    raise AlignkitError(f"{self.path} holds no token features; re-run embed with --tokens")
                tok = np.load(self.path / f"{name}.tokens.npy", mmap_mode="r", allow_pickle=False)
                msk = np.load(self.path / f"{name}.mask.npy", mmap_mode="r", allow_pickle=False)
            yield Shard(s["index"], meta["keys"], meta["skipped"], feats, tok, msk)

    def keys(self) -> list[str]:
        return [k for shard in self.iter_shards(load_features=False) for k in shard.keys]

    def load(self, dtype: Any = np.float32) -> tuple[list[str], np.ndarray]:
        """All keys and features in memory, as ``dtype`` (float32 by default)."""
        keys: list[str] = []
        parts: list[np.ndarray] = []
        for shard in self.iter_shards():
            keys.extend(shard.keys)
            parts.append(np.asarray(shard.features, dtype=dtype))
        feats = np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=dtype)
        return keys, feats

    def load_tokens(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Keys, (N, T, D) float32 token features (padded to the longest shard) and (N, T) masks."""
        keys, toks, masks = [], [], []
        for shard in self.iter_shards(tokens=True):
            keys.extend(shard.keys)
            toks.append(np.asarray(shard.tokens, dtype=np.float32))
            masks.append(np.asarray(shard.mask, dtype=bool))
        t_max = max((t.shape[1] for t in toks), default=0)
        toks = [np.pad(t, ((0, 0), (0, t_max - t.shape[1]), (0, 0))) for t in toks]
        masks = [np.pad(m, ((0, 0), (0, t_max - m.shape[1]))) for m in masks]
        return keys, np.concatenate(toks), np.concatenate(masks)


def derive_subset(store: FeatureStore, keep: Callable[[str], bool], out: str | Path) -> FeatureStore:
    """A new store holding only the rows whose key ``keep`` accepts: no encoder work.

    Used for curated subsets of an embedded pool, so training on a subset never re-encodes it.
    The result keeps the parent's fingerprint (same encoder, same features) and records its parent.
    """
    out = Path(out)
    if (out / MANIFEST).exists():
        done = FeatureStore(out)
        if done.complete and done.manifest.get("parent", {}).get("path") == str(store.path):
            return done
    out.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    parts: list[np.ndarray] = []
    for shard in store.iter_shards():
        rows = [i for i, k in enumerate(shard.keys) if keep(k)]
        keys.extend(shard.keys[i] for i in rows)
        parts.append(np.asarray(shard.features[rows], dtype=np.float16))
    feats = np.concatenate(parts) if parts else np.zeros((0, store.dim), np.float16)
    atomic_save_npy(out / "shard-00000.npy", feats)
    atomic_write_json(out / "shard-00000.json", {"keys": keys, "skipped": []})
    manifest = {
        **{k: v for k, v in store.manifest.items() if k not in ("shards", "last_run", "tokens")},
        "shard_size": max(1, len(keys)),
        "tokens": False,
        "shards": [{"index": 0, "name": "shard-00000", "rows": len(keys), "items": len(keys), "skipped": 0,
                    "keys_digest": keys_digest(keys)}],
        "parent": {"path": str(store.path), "rows": len(store)},
        "complete": True,
    }
    atomic_write_json(out / MANIFEST, manifest)
    return FeatureStore(out)
