"""Image-text retrieval recall@k with several captions per image, in bounded memory.

Identical caption strings are one caption: given ``captions`` (the string of each caption row),
a caption is a positive of every image that has that string, in both directions. An image
query is found at k if ANY of its positive captions ranks in the top k; a caption query if ANY
image that has its string does. Without ``captions`` every row is its own caption (positive of
its own image only). Scores are cosine similarities, computed a chunk of queries at a time, so
memory is O(chunk x gallery), never O(N x M). Ties count against the query (a negative scoring
equal to the best positive ranks ahead of it), so a collapsed model that gives every item the
same vector scores 0, never a perfect 1.
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
    captions: Sequence[str] | None = None,
) -> dict[str, float]:
    """``i2t_R@k`` and ``t2i_R@k`` for each k; ``text_to_image[j]`` is the image row of caption j,
    ``captions[j]`` its string (identical strings are positives of every image that has them)."""
    img = l2_normalize(as_finite_array(image_emb, "image embeddings"))
    txt = l2_normalize(as_finite_array(text_emb, "text embeddings"))
    owner = _check_owner(text_to_image, len(img), len(txt))
    if img.shape[1] != txt.shape[1]:
        raise ValueError(f"image ({img.shape[1]}-d) and text ({txt.shape[1]}-d) embeddings are not in one space")
    has = positives(owner, len(img), captions)
    i2t = _image_to_text_ranks(img, txt, has, chunk)
    t2i = _text_to_image_ranks(img, txt, has, chunk)
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_R@{k}"] = float((i2t < k).mean())
        out[f"t2i_R@{k}"] = float((t2i < k).mean())
    return out


def image_to_text_hits(image_emb: Any, text_emb: Any, text_to_image: Sequence[int], k: int = 1, chunk: int = 1024,
                       captions: Sequence[str] | None = None) -> np.ndarray:
    """Per image: 1 when one of its positive captions ranks in the top ``k`` (the items behind ``i2t_R@k``)."""
    img = l2_normalize(as_finite_array(image_emb, "image embeddings"))
    txt = l2_normalize(as_finite_array(text_emb, "text embeddings"))
    owner = _check_owner(text_to_image, len(img), len(txt))
    return (_image_to_text_ranks(img, txt, positives(owner, len(img), captions), chunk) < k).astype(np.int8)


def positives(owner: np.ndarray, n_images: int, captions: Sequence[str] | None = None) -> Any:
    """The sparse (N images, M captions) positive matrix: image i has caption row j when j is
    one of its own captions or carries the same string as one of them."""
    from scipy import sparse

    owner = np.asarray(owner, dtype=np.int64)
    if captions is None:
        string = np.arange(len(owner))
    else:
        if len(captions) != len(owner):
            raise ValueError(f"captions has {len(captions)} entries for {len(owner)} caption rows")
        _, string = np.unique(np.asarray(list(captions), dtype=object).astype(str), return_inverse=True)
    n_strings = int(string.max()) + 1 if len(string) else 0
    ones = np.ones(len(owner), dtype=bool)
    image_has = sparse.csr_matrix((ones, (owner, string)), shape=(n_images, n_strings), dtype=bool)
    row_is = sparse.csr_matrix((ones, (np.arange(len(owner)), string)), shape=(len(owner), n_strings), dtype=bool)
    return (image_has @ row_is.T).astype(bool).tocsr()


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


def _image_to_text_ranks(img: np.ndarray, txt: np.ndarray, has: Any, chunk: int) -> np.ndarray:
    """For each image: how many non-positive captions score at least its best positive caption."""
    ranks = np.empty(len(img), dtype=np.int64)
    for start in range(0, len(img), chunk):
        rows = np.arange(start, min(start + chunk, len(img)))
        sims = img[rows] @ txt.T  # (b, M)
        positive = has[rows].toarray()
        best = np.where(positive, sims, -np.inf).max(axis=1, keepdims=True)
        ranks[rows] = ((sims >= best) & ~positive).sum(axis=1)
    return ranks


def _text_to_image_ranks(img: np.ndarray, txt: np.ndarray, has: Any, chunk: int) -> np.ndarray:
    """For each caption: how many images without its string score at least the best image with it."""
    ranks = np.empty(len(txt), dtype=np.int64)
    by_caption = has.T.tocsr()
    for start in range(0, len(txt), chunk):
        rows = np.arange(start, min(start + chunk, len(txt)))
        sims = txt[rows] @ img.T  # (b, N)
        positive = by_caption[rows].toarray()
        best = np.where(positive, sims, -np.inf).max(axis=1, keepdims=True)
        ranks[rows] = ((sims >= best) & ~positive).sum(axis=1)
    return ranks


def retrieval_chance(text_to_image: Sequence[int], ks: Sequence[int] = DEFAULT_KS, captions: Sequence[str] | None = None) -> dict[str, float]:
    """Expected recall@k under a uniformly random ranking: with m positives among G items, a query
    is found with probability 1 - C(G-m, k) / C(G, k); averaged over image queries (m positive
    captions among M) and over caption queries (m images with that string among N)."""
    owner = np.asarray(text_to_image, dtype=np.int64)
    n_images = int(owner.max()) + 1 if len(owner) else 0
    has = positives(owner, n_images, captions)
    per_image, per_caption = np.asarray(has.sum(axis=1)).ravel(), np.asarray(has.sum(axis=0)).ravel()
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_R@{k}"] = _found_by_chance(per_image, len(owner), k)
        out[f"t2i_R@{k}"] = _found_by_chance(per_caption, n_images, k)
    return out


def _found_by_chance(m: np.ndarray, gallery: int, k: int) -> float:
    """Mean over queries of 1 - prod_j (G - m - j) / (G - j), j < k: some positive in a random top k."""
    j = np.arange(min(k, gallery))
    miss = np.prod(np.clip(gallery - m[:, None] - j[None, :], 0, None) / (gallery - j[None, :]), axis=1)
    return float((1.0 - miss).mean())
