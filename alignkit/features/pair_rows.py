"""Feature rows as training reads them: finite checks naming the bad keys, the join of caption
rows to image rows by pair key, and row hashes that give identical captions one id."""

from __future__ import annotations

import numpy as np

from alignkit.data.base import pair_key_of
from alignkit.errors import AlignkitError


class PairsError(AlignkitError):
    """The training pairs cannot be used as given (empty, non-finite, wrong store)."""


def finite_rows(x: np.ndarray, keys: list[str], side: str) -> np.ndarray:
    if x.ndim != 2 or x.shape[0] != len(keys):
        raise PairsError(f"{side} features must be (rows, dim) with one row per key; got shape {x.shape} for {len(keys)} keys")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        shown = ", ".join(repr(keys[i]) for i in bad[:5])
        raise PairsError(
            f"{len(bad)} {side} feature row(s) hold NaN or inf (rows {bad[:5].tolist()}, keys {shown}"
            f"{', ...' if len(bad) > 5 else ''}); re-embed them or drop those pairs"
        )
    return x


def join_captions(image_keys: list[str], text_keys: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index: dict[str, int] = {}
    for i, k in enumerate(image_keys):
        index.setdefault(k, i)
    owners = [index.get(pair_key_of(k), -1) for k in text_keys]
    txt_rows = np.array([j for j, o in enumerate(owners) if o >= 0], dtype=np.int64)
    if len(txt_rows) == 0:
        raise PairsError(
            f"no caption row matches an image row ({len(image_keys)} image keys, {len(text_keys)} text keys); "
            "text keys must be '<pair key>#<i>' for pair keys in the image store (were both stores made from the same data?)"
        )
    used = sorted({owners[j] for j in txt_rows})
    remap = {old: new for new, old in enumerate(used)}
    owner = np.array([remap[owners[j]] for j in txt_rows], dtype=np.int64)
    return np.array(used, dtype=np.int64), txt_rows, owner


def finite_tokens(toks: np.ndarray, keys: list[str], side: str) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(toks.reshape(len(keys), -1)).all(axis=1))
    if len(bad):
        raise PairsError(f"{len(bad)} {side} token row(s) hold NaN or inf (keys {', '.join(repr(keys[i]) for i in bad[:5])}); re-embed them")
    return toks


_HASH_KEYS = np.random.default_rng(20240601).integers(1, 2**63, size=(2, 1 << 16), dtype=np.uint64) | np.uint64(1)


def refuse_non_finite(x: np.ndarray, keys: list[str], start: int, side: str) -> None:
    """Refuse a chunk (rows ``start``...) holding NaN or inf, naming the keys."""
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        shown = ", ".join(repr(keys[start + i]) for i in bad[:5])
        raise PairsError(f"{side} feature rows hold NaN or inf (keys {shown}{', ...' if len(bad) > 5 else ''}); re-embed them or drop those pairs")


def row_hashes(x: np.ndarray) -> np.ndarray:
    """A 128-bit hash of each row's bits (two random linear hashes mod 2^64), so identical
    captions get one text id without holding every row at once."""
    if x.shape[1] > _HASH_KEYS.shape[1]:
        raise PairsError(f"text features are {x.shape[1]}-d; at most {_HASH_KEYS.shape[1]} are supported")
    bits = np.ascontiguousarray(x).view(np.uint32).astype(np.uint64)
    h = np.stack([bits @ _HASH_KEYS[0, : x.shape[1]], bits @ _HASH_KEYS[1, : x.shape[1]]], axis=1)  # wraps mod 2^64
    return h.view(np.dtype((np.void, 16))).reshape(-1)
