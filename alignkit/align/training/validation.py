"""Retrieval R@1 on the held-out split: the number the trainer watches each epoch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def retrieval_r1(
    image: torch.Tensor, text: torch.Tensor, text_owner: np.ndarray, image_groups: np.ndarray | None = None, chunk: int = 4096
) -> dict[str, float]:
    """Image->text R@1 (the top caption belongs to the image, or to an image of its group)
    and text->image R@1 (the top image is the caption's own, or one of its group), for
    normalised (N, D) and (M, D) embeddings, with the chance level of each (the expected
    R@1 of a random ranking). Scored in row chunks so memory stays bounded."""
    n, m = image.shape[0], text.shape[0]
    group = torch.as_tensor(np.arange(n) if image_groups is None else image_groups, dtype=torch.long)
    text_group = group[torch.as_tensor(text_owner, dtype=torch.long)]
    per_image = torch.zeros(n, dtype=torch.int8)
    for s in range(0, n, chunk):
        top = (image[s : s + chunk] @ text.T).argmax(1)
        per_image[s : s + chunk] = (text_group[top] == group[s : s + chunk]).to(torch.int8)
    i2t_hits = int(per_image.sum())
    t2i_hits = 0
    for s in range(0, m, chunk):
        top = (text[s : s + chunk] @ image.T).argmax(1)
        t2i_hits += int((group[top] == text_group[s : s + chunk]).sum())
    _, group_ix, images_per_group = torch.unique(group, return_inverse=True, return_counts=True)
    texts_per_group = torch.bincount(group_ix[torch.as_tensor(text_owner, dtype=torch.long)], minlength=len(images_per_group))
    return {
        "i2t_r1": i2t_hits / n,
        "t2i_r1": t2i_hits / m,
        "i2t_chance": float(texts_per_group[group_ix].float().mean()) / m,
        "t2i_chance": float(images_per_group[group_ix[torch.as_tensor(text_owner, dtype=torch.long)]].float().mean()) / n,
        "i2t_hits": per_image.numpy(),  # per image query, for paired comparisons
    }


@torch.no_grad()
def validate(model: Any, data: Any, val_rows: np.ndarray, captions_of: list[np.ndarray], groups: np.ndarray, device: torch.device, chunk: int = 2048) -> dict[str, float]:
    model.eval()
    text_rows = np.concatenate([captions_of[i] for i in val_rows])
    owner_of = {int(r): k for k, r in enumerate(val_rows)}
    owner = np.array([owner_of[int(o)] for o in data.text_owner[text_rows]])
    zi = torch.cat([model.encode_image_features(**vars(data.image_batch(val_rows[s : s + chunk]).to(device))).cpu() for s in range(0, len(val_rows), chunk)])
    zt = torch.cat([model.encode_text_features(**vars(data.text_batch(text_rows[s : s + chunk]).to(device))).cpu() for s in range(0, len(text_rows), chunk)])
    r = retrieval_r1(zi, zt, owner, groups[val_rows])
    return {
        "val_i2t_r1": r["i2t_r1"], "val_t2i_r1": r["t2i_r1"], "val_i2t_chance": r["i2t_chance"],
        "val_t2i_chance": r["t2i_chance"], "val_chance_r1": max(r["i2t_chance"], r["t2i_chance"]),
        "val_images": len(val_rows), "val_texts": len(text_rows),
    }
