"""Image-text retrieval recall@k with several captions per image, in bounded memory.

Image-to-text: an image query is found at k if ANY of its captions ranks in the top k.
Text-to-image: each caption has exactly one image. Scores are cosine similarities, computed a
chunk of queries at a time, so memory is O(chunk x gallery), never O(N x M). Ties count
against the query (a negative scoring equal to the best positive ranks ahead of it), so a
collapsed model that gives every item the same vector scores 0, never a perfect 1.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from alignkit.errors import AlignkitError
from alignkit.arrays import as_finite_array, l2_normalize

DEFAULT_KS = (1, 5, 10)


def retrieval_metrics(
    image_emb: Any,
    text_emb: Any,
    text_to_image: Sequence[int],
    ks: Sequence[int] = DEFAULT_KS,
    chunk: int = 1024,
) -> dict[str, float]:
    """``i2t_R@k`` and ``t2i_R@k`` for each k; ``text_to_image[j]`` is the image row of caption j."""
    img = l2_normalize(as_finite_array(image_emb, "image embeddings"))
    txt = l2_normalize(as_finite_array(text_emb, "text embeddings"))
    owner = _check_owner(text_to_image, len(img), len(txt))
    if img.shape[1] != txt.shape[1]:
        raise ValueError(f"image ({img.shape[1]}-d) and text ({txt.shape[1]}-d) embeddings are not in one space")
    i2t = _image_to_text_ranks(img, txt, owner, chunk)
    t2i = _text_to_image_ranks(img, txt, owner, chunk)
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_R@{k}"] = float((i2t < k).mean())
        out[f"t2i_R@{k}"] = float((t2i < k).mean())
    return out


def image_to_text_hits(image_emb: Any, text_emb: Any, text_to_image: Sequence[int], k: int = 1, chunk: int = 1024) -> np.ndarray:
    """Per image: 1 when one of its captions ranks in the top ``k`` (the items behind ``i2t_R@k``)."""
    img = l2_normalize(as_finite_array(image_emb, "image embeddings"))
    txt = l2_normalize(as_finite_array(text_emb, "text embeddings"))
    owner = _check_owner(text_to_image, len(img), len(txt))
    return (_image_to_text_ranks(img, txt, owner, chunk) < k).astype(np.int8)


def _check_owner(text_to_image: Sequence[int], n_images: int, n_texts: int) -> np.ndarray:
    owner = np.asarray(text_to_image, dtype=np.int64)
    if owner.shape != (n_texts,):
        raise ValueError(f"text_to_image has {owner.size} entries for {n_texts} captions")
    if n_images == 0 or n_texts == 0:
        raise AlignkitError("retrieval needs at least one image and one caption")
    if owner.min() < 0 or owner.max() >= n_images:
        raise ValueError(f"text_to_image must index images in [0, {n_images})")
    if len(np.unique(owner)) != n_images:
        raise AlignkitError("every image needs at least one caption for image-to-text retrieval")
    return owner


def _image_to_text_ranks(img: np.ndarray, txt: np.ndarray, owner: np.ndarray, chunk: int) -> np.ndarray:
    """For each image: how many non-matching captions score at least its best caption."""
    ranks = np.empty(len(img), dtype=np.int64)
    for start in range(0, len(img), chunk):
        rows = np.arange(start, min(start + chunk, len(img)))
        sims = img[rows] @ txt.T  # (b, M)
        positive = owner[None, :] == rows[:, None]
        best = np.where(positive, sims, -np.inf).max(axis=1, keepdims=True)
        ranks[rows] = ((sims >= best) & ~positive).sum(axis=1)
    return ranks


def _text_to_image_ranks(img: np.ndarray, txt: np.ndarray, owner: np.ndarray, chunk: int) -> np.ndarray:
    """For each caption: how many other images score at least its own image."""
    ranks = np.empty(len(txt), dtype=np.int64)
    for start in range(0, len(txt), chunk):
        rows = np.arange(start, min(start + chunk, len(txt)))
        sims = txt[rows] @ img.T  # (b, N)
        own = sims[np.arange(len(rows)), owner[rows]][:, None]
        ranks[rows] = (sims >= own).sum(axis=1) - 1  # minus the own image
    return ranks


def retrieval_chance(text_to_image: Sequence[int], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """Expected recall@k under a uniformly random ranking. Image-to-text with m positives among
    M captions: 1 - C(M-m, k) / C(M, k), averaged over images; text-to-image: min(k, N) / N."""
    owner = np.asarray(text_to_image, dtype=np.int64)
    m_total = len(owner)
    positives = np.bincount(owner)
    n_images = len(positives)
    out: dict[str, float] = {}
    for k in ks:
        kk = min(k, m_total)
        j = np.arange(kk)
        # P(no positive in the top k) = prod_j (M - m - j) / (M - j), per image
        miss = np.prod(np.clip(m_total - positives[:, None] - j[None, :], 0, None) / (m_total - j[None, :]), axis=1)
        out[f"i2t_R@{k}"] = float((1.0 - miss).mean())
        out[f"t2i_R@{k}"] = min(k, n_images) / n_images
    return out
