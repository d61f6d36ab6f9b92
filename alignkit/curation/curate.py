"""Curate a concept-balanced subset of a pool, streamed over feature-store shards.

Passes over the pool (one shard in memory at a time):
  1. leakage: each pool image's highest cosine to any evaluation image; near-copies are left out;
  2. scoring: each pair's best concept and score (captions against text prototypes and/or images
     against image prototypes), folded into a best-K-per-concept accumulator.
Then candidates are de-duplicated by image similarity and picked round-robin across concepts
under a global budget, each pair at most once. The scoring pass checkpoints after every shard,
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from alignkit.curation.concepts import Concepts
from alignkit.curation.select import (
    TopKPerConcept,
    balanced_pick,
    concept_scores,
    leak_mask,
    near_duplicates,
)
from alignkit.data.base import pair_key_of
from alignkit.data.subset import SUBSET_FORMAT
from alignkit.errors import AlignkitError
from alignkit.atomic import atomic_save_npy, atomic_write_json
from alignkit.features.store import FeatureStore, store_digest
from alignkit.locks import locks_folder



@dataclass
class CurateConfig:
    per_concept: int = 50  # K: at most this many pairs per concept
    budget: int | None = None  # global cap on pairs (None: K x concepts)
    min_score: float = 0.3  # a pair must reach this cosine to its best concept
    by: str = "text"  # text: captions vs concept names; image: images vs image prototypes; both: mean
    dedup: float | None = 0.95  # drop candidates whose image cosine to a better one is at least this
    leak_threshold: float = 0.95  # image cosine to an evaluation image that marks a near-copy
    keep_leaks: bool = False  # keep (but still count) near-copies of evaluation images
    oversample: int = 3  # candidates kept per concept before de-duplication, as a multiple of K

    def check(self, concepts: Concepts) -> None:
        if self.by not in ("text", "image", "both"):
            raise AlignkitError(f"--by must be text, image or both, not {self.by!r}")
        if self.by in ("text", "both") and concepts.text is None:
            raise AlignkitError("scoring by captions needs concept names (text prototypes)")
        if self.by in ("image", "both") and concepts.image is None:
            raise AlignkitError("scoring by images needs example images per concept (image prototypes)")


@dataclass
class Selection:
    keys: list[str]
    concepts: list[int]
    scores: list[float]
    counts: dict[str, int]
    per_concept: list[int]
    leak_similarity: np.ndarray  # per pool pair
    candidate_scores: np.ndarray  # scores of every candidate, for the report


def curate(
    image_store: FeatureStore,
    text_store: FeatureStore,
    concepts: Concepts,
    config: CurateConfig,
    work_dir: str | Path,
    eval_image_features: np.ndarray | None = None,
) -> Selection:
    """Select the subset; ``work_dir`` holds the resumable state of the scoring pass."""
    config.check(concepts)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    pair_keys = image_store.keys()
    if not pair_keys:
        raise AlignkitError(f"the pool's image store {image_store.path} is empty")
    index = {k: i for i, k in enumerate(pair_keys)}
    leaked, leak_sim = _leaks(image_store, eval_image_features, config.leak_threshold)
    excluded = leaked if not config.keep_leaks else np.zeros_like(leaked)

    k_cand = config.per_concept * max(1, config.oversample)
    sides = {"text": ["text"], "image": ["image"], "both": ["text", "image"]}[config.by]
    tops = {}
    for side in sides:
        store, protos = (text_store, concepts.text) if side == "text" else (image_store, concepts.image)
        tops[side] = _scoring_pass(store, protos, index, excluded, config, k_cand, work / f"state-{side}", side)
    per_concept = _merge(tops, config, image_store, text_store, concepts, index)

    cand_rows = np.unique(np.concatenate([r for r, _ in per_concept])) if per_concept else np.zeros(0, np.int64)
    dup_rows: set[int] = set()
    if config.dedup is not None and len(cand_rows):
        feats = _gather(image_store, cand_rows)
        flat = [(s, r) for rows, scores in per_concept for r, s in zip(rows, scores)]
        best: dict[int, float] = {}
        for s, r in flat:
            best[int(r)] = max(best.get(int(r), -np.inf), float(s))
        order_rows = sorted(best, key=lambda r: -best[r])
        pos = {int(r): i for i, r in enumerate(cand_rows)}
        dup = near_duplicates(feats, np.array([pos[r] for r in order_rows], dtype=np.int64), config.dedup)
        dup_rows = {r for r, d in zip(order_rows, dup) if d}
    trimmed = []
    for rows, scores in per_concept:
        keep = np.array([int(r) not in dup_rows for r in rows], dtype=bool)
        trimmed.append((rows[keep][: config.per_concept], scores[keep][: config.per_concept]))
    budget = config.budget if config.budget is not None else config.per_concept * len(concepts.names)
    picks, seen = [], set()
    for row, c, s in balanced_pick(trimmed, None):
        if row in seen:
            continue  # a pair counts once, under its strongest concept
        seen.add(row)
        picks.append((row, c, s))
        if len(picks) >= budget:
            break
    per_count = [0] * len(concepts.names)
    for _, c, _ in picks:
        per_count[c] += 1
    all_scores = np.concatenate([s for _, s in per_concept]) if per_concept else np.zeros(0)
    counts = {
        "pool_pairs": len(pair_keys),
        "leaks_found": int(leaked.sum()),
        "leaks_removed": int(excluded.sum()),
        "candidates": int(len(cand_rows)),
        "duplicates_removed": len(dup_rows),
        "selected": len(picks),
        "concepts": len(concepts.names),
        "concepts_empty": sum(1 for n in per_count if n == 0),
    }
    return Selection(
        keys=[pair_keys[r] for r, _, _ in picks],
        concepts=[c for _, c, _ in picks],
        scores=[s for _, _, s in picks],
        counts=counts,
        per_concept=per_count,
        leak_similarity=leak_sim,
        candidate_scores=all_scores,
    )


def _leaks(image_store: FeatureStore, evaluation: np.ndarray | None, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(image_store)
    if evaluation is None or len(evaluation) == 0:
        return np.zeros(n, dtype=bool), np.full(n, np.nan, dtype=np.float32)
    if evaluation.shape[1] != image_store.dim:
        raise AlignkitError(
            f"evaluation images are {evaluation.shape[1]}-d but the pool's are {image_store.dim}-d: "
            "embed both with the same image encoder"
        )
    flags, sims = [], []
    for shard in image_store.iter_shards():
        f, s = leak_mask(np.asarray(shard.features, dtype=np.float32), evaluation, threshold)
        flags.append(f)
        sims.append(s)
    return np.concatenate(flags), np.concatenate(sims)


def _scoring_pass(
    store: FeatureStore,
    prototypes: np.ndarray,
    index: dict[str, int],
    excluded: np.ndarray,
    config: CurateConfig,
    k: int,
    state: Path,
    side: str,
) -> TopKPerConcept:
    """Stream ``store`` into a best-k-per-concept accumulator, checkpointing after each shard."""
    if store.dim != prototypes.shape[1]:
        raise AlignkitError(
            f"the pool's {side} features are {store.dim}-d but the concept prototypes are "
            f"{prototypes.shape[1]}-d: use the same {side} encoder for both"
        )
    top = TopKPerConcept(len(prototypes), k, config.min_score)
    ident = _state_id(store, prototypes, excluded, config, k)
    done = -1
    if (state / "state.json").exists():
        meta = json.loads((state / "state.json").read_text())
        if meta.get("id") == ident:
            done = meta["shard"]
            top.scores = np.load(state / "scores.npy", allow_pickle=False)
            top.rows = np.load(state / "rows.npy", allow_pickle=False)
    state.mkdir(parents=True, exist_ok=True)
    for shard in store.iter_shards():  # features are memory-mapped: skipped shards are never read
        if shard.index <= done:
            continue
        feats = np.asarray(shard.features, dtype=np.float32)
        rows = np.array([index.get(pair_key_of(k) if side == "text" else k, -1) for k in shard.keys], dtype=np.int64)
        ok = rows >= 0
        ok[ok] &= ~excluded[rows[ok]]
        if ok.any():
            top.update(concept_scores(feats[ok], prototypes), rows[ok])
        atomic_save_npy(state / "scores.npy", top.scores)
        atomic_save_npy(state / "rows.npy", top.rows)
        atomic_write_json(state / "state.json", {"id": ident, "shard": shard.index})
    return top


def _state_id(store: FeatureStore, protos: np.ndarray, excluded: np.ndarray, config: CurateConfig, k: int) -> str:
    h = hashlib.sha256()
    h.update(store.fingerprint.encode())
    h.update(store_digest(store.manifest).encode())  # the pool's content, not only its keys
    h.update(np.ascontiguousarray(protos, dtype=np.float32).tobytes())
    h.update(np.packbits(excluded).tobytes())
    h.update(json.dumps([asdict(config), k], sort_keys=True).encode())
    return h.hexdigest()[:20]


def _merge(tops: dict[str, TopKPerConcept], config: CurateConfig, image_store: FeatureStore,
           text_store: FeatureStore, concepts: Concepts, index: dict[str, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per concept candidates (rows, scores) best first; with ``both`` the mean of both sides' cosines."""
    if config.by != "both":
        return tops[config.by].candidates()
    cand = {int(r) for t in tops.values() for rows, _ in t.candidates() for r in rows}
    rows = np.array(sorted(cand), dtype=np.int64)
    img = concept_scores(_gather(image_store, rows), concepts.image)
    txt = _best_caption_scores(text_store, rows, concepts.text, index)
    both = (img + txt) / 2
    best = both.argmax(axis=1)
    out = []
    for c in range(len(concepts.names)):
        sel = np.flatnonzero((best == c) & (both[:, c] >= config.min_score))
        order = sel[np.argsort(-both[sel, c], kind="stable")]
        out.append((rows[order], both[order, c].astype(np.float32)))
    return out


def _gather(store: FeatureStore, rows: np.ndarray) -> np.ndarray:
    """Features of store rows ``rows`` (global row numbers, sorted or not), streamed by shard."""
    out = np.zeros((len(rows), store.dim), dtype=np.float32)
    start = 0
    want = {int(r): i for i, r in enumerate(rows)}
    for shard in store.iter_shards():
        n = len(shard.keys)
        local = [(r - start, i) for r, i in want.items() if start <= r < start + n]
        if local:
            src, dst = zip(*local)
            out[list(dst)] = np.asarray(shard.features[list(src)], dtype=np.float32)
        start += n
    return out


def _best_caption_scores(text_store: FeatureStore, rows: np.ndarray, protos: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """For each pair row: per concept, the best cosine over its captions."""
    pos = {int(r): i for i, r in enumerate(rows)}
    out = np.full((len(rows), len(protos)), -1.0, dtype=np.float32)
    for shard in text_store.iter_shards():
        owners = np.array([pos.get(index.get(pair_key_of(k), -1), -1) for k in shard.keys], dtype=np.int64)
        ok = owners >= 0
        if ok.any():
            s = concept_scores(np.asarray(shard.features, dtype=np.float32)[ok], protos)
            np.maximum.at(out, owners[ok], s)
    return out


@locks_folder("out", "output folder")
def write_subset(selection: Selection, concepts: Concepts, source_spec: str, config: CurateConfig, out: str | Path) -> Path:
    """The subset manifest that ``--data subset:PATH`` reads: the pool spec and the chosen keys."""
    path = Path(out) / "subset.json"
    atomic_write_json(
        path,
        {
            "format": SUBSET_FORMAT,
            "source": source_spec,
            "keys": selection.keys,
            "selection": [
                {"key": k, "concept": concepts.names[c], "score": round(s, 5)}
                for k, c, s in zip(selection.keys, selection.concepts, selection.scores)
            ],
            "config": asdict(config),
            "counts": selection.counts,
        },
    )
    return path


def iter_selected_captions(source: Any, keys: set[str]) -> Iterator[tuple[str, list[str]]]:
    """(key, captions) of the selected pairs, read back from the pool source (no decoding)."""
    for pair in source:
        if pair.key in keys:
            yield pair.key, pair.captions
