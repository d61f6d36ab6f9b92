"""One output store of an extraction pass: its manifest, which finished shards it keeps (same
keys, same content, files matching their checksums) and which it rewrites, atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alignkit.atomic import atomic_save_npy, atomic_write_json
from alignkit.encoders.base import Encoder
from alignkit.features.store import FORMAT, MANIFEST, FeatureStore, StoreMismatchError, shard_damage, software_versions


class OutputStore:
    """One output store of a pass: its manifest, the shards it keeps or rewrites."""

    def __init__(self, encoder: Encoder, out: Path, shard_size: int, tokens: bool, overwrite: bool,
                 source: dict[str, Any] | None):
        out.mkdir(parents=True, exist_ok=True)
        self.encoder, self.out, self.tokens = encoder, out, tokens
        fingerprint = encoder.fingerprint()
        manifest = _open_manifest(out, fingerprint, shard_size, tokens, overwrite, encoder.engine)
        manifest = {k: v for k, v in manifest.items() if k != "last_run"}
        self.before = json.loads(json.dumps(manifest))
        manifest.update(format=FORMAT, fingerprint=fingerprint, encoder=encoder.describe(), dim=encoder.dim,
                        shard_size=shard_size, tokens=tokens, versions=software_versions(),
                        source=source or manifest.get("source") or {}, complete=False)
        self.manifest = manifest
        self.done = {s["index"]: s for s in manifest.get("shards", [])}
        self.shards: list[dict[str, Any]] = []
        self.redone: list[dict[str, str]] = []
        self.computed = 0

    def reuse(self, index: int, digest: str, content: str, changed_keys: str) -> bool:
        """Keep the finished shard ``index`` if it still serves these items; else note why not."""
        if index not in self.done:
            return False
        why = _why_not_reusable(self.out, self.done[index], digest, content, changed_keys)
        if why is None:
            self.shards.append(self.done[index])
            return True
        self.redone.append({"shard": self.done[index]["name"], "reason": why})
        return False

    def write(self, index: int, digest: str, content: str, n_items: int, result: tuple) -> None:
        rows_keys, feats, tok, msk, skipped = result
        self.computed += n_items
        name, out = f"shard-{index:05d}", self.out
        files = {f"{name}.npy": atomic_save_npy(out / f"{name}.npy", feats)}
        if self.tokens:
            files[f"{name}.tokens.npy"] = atomic_save_npy(out / f"{name}.tokens.npy", tok)
            files[f"{name}.mask.npy"] = atomic_save_npy(out / f"{name}.mask.npy", msk)
        files[f"{name}.json"] = atomic_write_json(out / f"{name}.json", {"keys": rows_keys, "skipped": skipped})
        self.shards.append({"index": index, "name": name, "rows": len(rows_keys), "items": n_items,
                            "skipped": len(skipped), "keys_digest": digest, "content_digest": content, "files": files})
        self.manifest["shards"] = self.shards
        atomic_write_json(out / MANIFEST, self.manifest)

    def finish(self, source_skipped: list[dict[str, str]], seconds: float) -> FeatureStore:
        _remove_stale_shards(self.out, {s["name"] for s in self.shards})
        manifest = self.manifest
        manifest["shards"] = self.shards
        manifest["source_skipped"] = source_skipped
        manifest["complete"] = True
        last_run = {"items_computed": self.computed, "seconds": seconds, "re_extracted": self.redone}
        if self.computed or json.loads(json.dumps(manifest)) != self.before:  # a run that reused everything leaves the folder untouched
            atomic_write_json(self.out / MANIFEST, {**manifest, "last_run": last_run})
        store = FeatureStore(self.out)
        store.manifest["last_run"] = last_run
        return store


def _why_not_reusable(out: Path, entry: dict[str, Any], keys: str, content: str, changed_keys: str) -> str | None:
    """None when a finished shard may be served as it is; else why it must be re-extracted."""
    if entry["keys_digest"] != keys:
        if changed_keys == "refuse":
            raise StoreMismatchError(
                f"{out}: the source changed since shard {entry['index']} was written (its keys differ). "
                "Use a new --out folder, or --overwrite to replace the features it holds."
            )
        return "the source's keys changed"
    if entry.get("content_digest") != content:
        return "the items changed (file size or mtime, bytes or text)"
    return shard_damage(out, entry)


def _open_manifest(out: Path, fingerprint: str, shard_size: int, tokens: bool, overwrite: bool,
                   engine: str = "torch") -> dict[str, Any]:
    mpath = out / MANIFEST
    if not mpath.exists():
        return {"shards": []}
    old = FeatureStore(out).manifest
    problems = []
    old_engine = old.get("encoder", {}).get("engine", "torch")
    if old_engine != engine:  # the same weights, but rows from two engines must not share a store
        problems.append(f"its rows were computed by the {old_engine} engine, not {engine} (--engine {old_engine} resumes it)")
    elif old["fingerprint"] != fingerprint:
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
