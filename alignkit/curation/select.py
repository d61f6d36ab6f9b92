"""Pure selection functions: score pairs against concepts, keep a balanced top-K per concept,
drop near-duplicates and evaluation leaks. Every function takes arrays and returns arrays, so it
runs the same on one shard or a whole pool, and is tested against brute force."""

from __future__ import annotations

import numpy as np

from alignkit.arrays import l2_normalize
from alignkit.errors import AlignkitError


def concept_scores(features: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Cosine similarity (n, C) of each row to each concept prototype."""
    if features.shape[1] != prototypes.shape[1]:
        raise AlignkitError(
            f"features are {features.shape[1]}-d but concept prototypes are {prototypes.shape[1]}-d: "
            "they must come from the same encoder"
        )
    return l2_normalize(features, dtype=np.float32) @ l2_normalize(prototypes, dtype=np.float32).T


class TopKPerConcept:
    """Streaming best-K candidates for every concept: memory O(K * C) whatever the pool size.

    Each pair is assigned to its single best concept (a pair counts once), and only pairs whose
    score reaches ``min_score`` compete. ``update`` takes one shard at a time.
    """

    def __init__(self, n_concepts: int, k: int, min_score: float = -1.0):
        if k < 1:
            raise AlignkitError(f"per-concept budget must be at least 1, got {k}")
        self.k, self.min_score = k, min_score
        self.scores = np.full((n_concepts, 0), -np.inf, dtype=np.float32)
        self.rows = np.zeros((n_concepts, 0), dtype=np.int64)

    def update(self, scores: np.ndarray, row_ids: np.ndarray) -> None:
        """``scores`` (n, C) for pool rows ``row_ids`` (global indices)."""
        best = scores.argmax(axis=1)
        top = scores[np.arange(len(best)), best]
        keep = top >= self.min_score
        n_c = self.scores.shape[0]
        cand_s = np.full((n_c, self.k), -np.inf, dtype=np.float32)
        cand_r = np.full((n_c, self.k), -1, dtype=np.int64)
        for c in np.unique(best[keep]):
            sel = np.flatnonzero(keep & (best == c))
            order = sel[np.argsort(-top[sel], kind="stable")[: self.k]]
            cand_s[c, : len(order)] = top[order]
            cand_r[c, : len(order)] = row_ids[order]
        all_s = np.concatenate([self.scores, cand_s], axis=1)
        all_r = np.concatenate([self.rows, cand_r], axis=1)
        order = np.argsort(-all_s, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(all_s, order, axis=1)
        self.rows = np.take_along_axis(all_r, order, axis=1)

    def candidates(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per concept: (row ids, scores), best first, only real candidates."""
        out = []
        for s, r in zip(self.scores, self.rows):
            ok = np.isfinite(s) & (r >= 0)
            out.append((r[ok], s[ok]))
        return out


def near_duplicates(features: np.ndarray, order: np.ndarray, threshold: float, chunk: int = 1024) -> np.ndarray:
    """Greedy in ``order``: a row is a duplicate if its cosine to an earlier kept row is >= threshold.

    Returns a boolean mask over ``order`` (True = duplicate, drop it)."""
    feats = l2_normalize(features[order], dtype=np.float32)
    dup = np.zeros(len(order), dtype=bool)
    kept: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        block = feats[start : start + chunk]
        # against everything kept in earlier chunks
        if kept:
            prev = np.concatenate(kept)
            dup[start : start + len(block)] |= (block @ prev.T).max(axis=1) >= threshold
        # within the chunk, in order
        sims = block @ block.T
        for i in range(len(block)):
            if dup[start + i]:
                continue
            later = sims[i, i + 1 :] >= threshold
            dup[start + i + 1 : start + len(block)] |= later
        kept.append(block[~dup[start : start + len(block)]])
    return dup


def leak_mask(pool: np.ndarray, evaluation: np.ndarray, threshold: float, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each pool row: (is a near-copy of an evaluation image, its highest cosine to one)."""
    if len(evaluation) == 0:
        return np.zeros(len(pool), dtype=bool), np.full(len(pool), -1.0, dtype=np.float32)
    ev = l2_normalize(evaluation, dtype=np.float32)
    best = np.empty(len(pool), dtype=np.float32)
    for start in range(0, len(pool), chunk):
        best[start : start + chunk] = (l2_normalize(pool[start : start + chunk], dtype=np.float32) @ ev.T).max(axis=1)
    return best >= threshold, best


def balanced_pick(per_concept: list[tuple[np.ndarray, np.ndarray]], budget: int | None) -> list[tuple[int, int, float]]:
    """Round-robin over concepts by rank (every concept's best first), up to ``budget`` pairs.

    Returns (row id, concept, score) in pick order."""
    picks: list[tuple[int, int, float]] = []
    depth = max((len(r) for r, _ in per_concept), default=0)
    for rank in range(depth):
        layer = [(r[rank], c, s[rank]) for c, (r, s) in enumerate(per_concept) if rank < len(r)]
        layer.sort(key=lambda t: -t[2])  # within a rank, stronger matches first
        for row, c, s in layer:
            if budget is not None and len(picks) >= budget:
                return picks
            picks.append((int(row), c, float(s)))
    return picks
