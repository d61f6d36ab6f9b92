"""The on-disk feature store: fixed-size float16 shards plus a JSON manifest.

Layout of a store folder::

    manifest.json             fingerprint, encoder description, shard list, skips, versions
    shard-00000.npy           (rows, D) float16 pooled features (np.load, no pickle)
    shard-00000.json          row keys and the items skipped in this shard, with reasons
    shard-00000.tokens.npy    optional (rows, T, Dt) float16 token features
    shard-00000.mask.npy      optional (rows, T) bool token mask

Shard ``i`` always covers source positions ``[i*S, (i+1)*S)``, whatever was skipped, so a
resumed run recomputes exactly the shards that were not finished. Every file is written to a
temporary name and renamed (`alignkit.atomic`); the manifest is rewritten (atomically) after each shard.
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
from PIL import Image

from alignkit.provenance import package_versions
from alignkit.atomic import atomic_save_npy, atomic_write_json, file_sha256
from alignkit.errors import AlignkitError
from alignkit.locks import folder_lock

FORMAT = "alignkit-features/1"
MANIFEST = "manifest.json"


class StoreMismatchError(AlignkitError):
    """The folder holds features of another encoder, settings or source."""


class StoreDamagedError(AlignkitError):
    """A shard file no longer matches its manifest (truncated, overwritten, deleted)."""


@dataclass
class Shard:
    index: int
    keys: list[str]
    skipped: list[dict[str, str]]
    features: np.ndarray  # (rows, D) float16, memory-mapped
    tokens: np.ndarray | None = None
    mask: np.ndarray | None = None


def shard_damage(folder: Path, entry: dict[str, Any]) -> str | None:
    """Why a shard's files do not match the checksums its manifest entry recorded (None: intact)."""
    files = entry.get("files")
    if not files:
        return "no checksums recorded (written by an older alignkit)"
    for name, digest in sorted(files.items()):
        if file_sha256(folder / name) != digest:
            return f"{name} is missing, truncated or overwritten (SHA-256 mismatch)"
    return None


def item_identity(payload: Any, modality: str) -> str:
    """What a feature row was computed from, cheaply: a file's path, size and mtime, or a hash of
    raw bytes, decoded pixels or caption text. A changed item changes its shard's content digest."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return "bytes:" + hashlib.sha256(bytes(payload)).hexdigest()
    if isinstance(payload, Image.Image):
        return f"pixels:{payload.mode}:{payload.size}:" + hashlib.sha256(payload.tobytes()).hexdigest()
    if modality == "image" and isinstance(payload, (str, Path)):
        try:
            st = os.stat(payload)
        except OSError:
            return f"file:{payload}:unreadable"
        return f"file:{os.path.abspath(payload)}:{st.st_size}:{st.st_mtime_ns}"
    return "text:" + hashlib.sha256(str(payload).encode("utf-8", "surrogatepass")).hexdigest()


def content_digest(items: list[tuple[str, Any]], modality: str) -> str:
    """Digest of a shard's keys and the identity of each item's content."""
    h = hashlib.sha256()
    for key, payload in items:
        h.update(key.encode("utf-8", "surrogatepass") + b"\0" + item_identity(payload, modality).encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:32]


def keys_digest(keys: list[str]) -> str:
    """Digest of the source keys a shard covers: detects a source that changed under a resume."""
    h = hashlib.sha256()
    for k in keys:
        h.update(k.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def software_versions() -> dict[str, str]:
    """What a manifest records: python and the installed versions of the packages features depend on."""
    found = package_versions(("alignkit", "torch", "transformers", "timm", "sentence-transformers", "numpy"))
    return {"python": platform.python_version(), **{k: v for k, v in found.items() if v}}


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
        self._verified: set[str] = set()  # shards whose files were checked against their SHA-256

    @property
    def modality(self) -> str | None:
        """'image' or 'text': what the store's encoder embeds."""
        return self.encoder.get("modality")

    def verify(self) -> None:
        """Check every shard's files against the SHA-256 its manifest recorded, as `alignkit embed`
        does before it reuses a shard: a flipped bit is a ``StoreDamagedError``, never served."""
        for entry in self.manifest["shards"]:
            self._verify(entry)

    def _verify(self, entry: dict[str, Any]) -> None:
        if entry["name"] in self._verified or not entry.get("files"):  # stores of older alignkits record none
            return
        why = shard_damage(self.path, entry)
        if why:
            raise StoreDamagedError(f"{self.path}: shard {entry['name']} is damaged: {why}; rerun the command that "
                                    "embedded it (`alignkit embed` resumes and re-extracts damaged shards)")
        self._verified.add(entry["name"])

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
        out: list[dict[str, str]] = list(self.manifest.get("source_skipped", []))  # the source's own skips
        for shard in self.iter_shards(load_features=False):
            out.extend(shard.skipped)
        return out

    def iter_shards(self, load_features: bool = True, tokens: bool = False) -> Iterator[Shard]:
        """Stream shards in order (bounded memory: one shard at a time, memory-mapped); a shard
        whose features are read is first checked against its recorded SHA-256 (``verify``)."""
        for s in self.manifest["shards"]:
            name = s["name"]
            if load_features or tokens:
                self._verify(s)
            try:
                meta = json.loads((self.path / f"{name}.json").read_text(encoding="utf-8"))
                feats = self._array(f"{name}.npy", (s["rows"], self.dim)) if load_features else None
                tok = msk = None
                if tokens:
                    if not (self.path / f"{name}.tokens.npy").exists():
                        raise AlignkitError(f"{self.path} holds no token features; re-run embed with --tokens")
                    tok = self._array(f"{name}.tokens.npy", (s["rows"],))
                    msk = self._array(f"{name}.mask.npy", (s["rows"],))
            except (OSError, ValueError, KeyError) as e:  # truncated, overwritten or deleted shard files
                raise StoreDamagedError(
                    f"{self.path}: shard {name} is damaged ({e}); rerun the command that embedded it "
                    "(`alignkit embed` resumes and re-extracts damaged shards)"
                ) from None
            if len(meta["keys"]) != s["rows"]:
                raise StoreDamagedError(f"{self.path}: {name}.json lists {len(meta['keys'])} keys, the manifest {s['rows']} rows")
            yield Shard(s["index"], meta["keys"], meta["skipped"], feats, tok, msk)

    def _array(self, name: str, lead: tuple[int, ...]) -> np.ndarray:
        """A memory-mapped shard array whose leading dimensions must be ``lead``."""
        arr = np.load(self.path / name, mmap_mode="r", allow_pickle=False)
        if arr.shape[: len(lead)] != lead:
            raise ValueError(f"{name} has shape {arr.shape}, expected {lead + ('...',)}")
        return arr

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


def store_digest(manifest: dict[str, Any]) -> str:
    """Identity of a store's contents: its fingerprint and every shard's keys, items and file checksums."""
    parts = [manifest.get("fingerprint")] + [
        [s.get("keys_digest"), s.get("content_digest"), s.get("files")] for s in manifest.get("shards", [])
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def derive_subset(store: FeatureStore, keep: Callable[[str], bool], out: str | Path) -> FeatureStore:
    """A new store holding only the rows whose key ``keep`` accepts: no encoder work.

    Used for curated subsets of an embedded pool, so training on a subset never re-encodes it.
    The result keeps the parent's fingerprint (same encoder, same features) and records its parent
    with the parent's content digest: a finished subset is reused only while the parent is unchanged.
    """
    with folder_lock(out, "feature store"):
        return _derive_subset(store, keep, Path(out))


def _derive_subset(store: FeatureStore, keep: Callable[[str], bool], out: Path) -> FeatureStore:
    parent = {"path": str(store.path), "rows": len(store), "digest": store_digest(store.manifest)}
    done = finished_from(out, "parent", parent)
    if done is not None:
        return done
    out.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    parts: list[np.ndarray] = []
    for shard in store.iter_shards():
        rows = [i for i, k in enumerate(shard.keys) if keep(k)]
        keys.extend(shard.keys[i] for i in rows)
        parts.append(np.asarray(shard.features[rows], dtype=np.float16))
    feats = np.concatenate(parts) if parts else np.zeros((0, store.dim), np.float16)
    base = {k: v for k, v in store.manifest.items() if k not in ("shards", "last_run", "tokens", "source_skipped")}
    return write_one_shard(out, keys, feats, {**base, "parent": parent})


def finished_from(out: Path, field: str, parents: Any) -> FeatureStore | None:
    """The finished derived store at ``out`` when its manifest's ``field`` records exactly these
    parents and its shards are intact; None when it must be written again."""
    if not (out / MANIFEST).exists():
        return None
    done = FeatureStore(out)
    if done.complete and done.manifest.get(field) == parents and not any(shard_damage(out, s) for s in done.manifest["shards"]):
        return done
    return None


def write_one_shard(out: Path, keys: list[str], feats: np.ndarray, manifest: dict) -> FeatureStore:
    """A finished store of one shard from rows already computed (a subset, a union): the shard's
    files, then the manifest (``manifest`` gives the encoder's fields and the parents) last."""
    files = {"shard-00000.npy": atomic_save_npy(out / "shard-00000.npy", feats),
             "shard-00000.json": atomic_write_json(out / "shard-00000.json", {"keys": keys, "skipped": []})}
    atomic_write_json(out / MANIFEST, {
        **manifest,
        "shard_size": max(1, len(keys)),
        "tokens": False,
        "shards": [{"index": 0, "name": "shard-00000", "rows": len(keys), "items": len(keys), "skipped": 0,
                    "keys_digest": keys_digest(keys), "files": files}],
        "complete": True,
    })
    return FeatureStore(out)
