"""Retrieval R@1 on the held-out split: the number the trainer watches each epoch."""

from __future__ import annotations

import numpy as np
import torch


def retrieval_r1(image: torch.Tensor, text: torch.Tensor, text_owner: np.ndarray, chunk: int = 4096) -> dict[str, float]:
    """Image->text R@1 (the top caption is one of the image's own) and text->image R@1
    (the top image is the caption's own), for normalised (N, D) and (M, D) embeddings,
    with the chance level of each. Scored in row chunks so memory stays bounded."""
    owner = torch.as_tensor(text_owner, dtype=torch.long)
    n, m = image.shape[0], text.shape[0]
    i2t_hits = 0
    for s in range(0, n, chunk):
        top = (image[s : s + chunk] @ text.T).argmax(1)
        i2t_hits += int((owner[top] == torch.arange(s, min(s + chunk, n))).sum())
    t2i_hits = 0
    for s in range(0, m, chunk):
        top = (text[s : s + chunk] @ image.T).argmax(1)
        t2i_hits += int((top == owner[s : s + chunk]).sum())
    return {
        "i2t_r1": i2t_hits / n,
        "t2i_r1": t2i_hits / m,
        # a random caption is one of image i's c_i own with probability c_i / M; averaged over images: 1 / N
        "i2t_chance": 1.0 / n,
        "t2i_chance": 1.0 / n,
    }
