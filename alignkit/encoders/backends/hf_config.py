"""What a transformers config says about a model: depth, pooled width, prefix tokens, text length."""

from __future__ import annotations

from typing import Any


def prefix_tokens(config: Any) -> int:
    """Tokens before the patch tokens: CLS (+ DeiT's distillation token, + DINOv2 registers).
    SigLIP and convolutional models have none."""
    mt = getattr(config, "model_type", "")
    if mt.startswith("siglip") or not hasattr(config, "patch_size"):
        return 0
    return 1 + int(mt == "deit") + int(getattr(config, "num_register_tokens", 0) or 0)


def count_layers(config: Any) -> int:
    """Entries of ``hidden_states``: the embeddings plus one per block (or stage)."""
    for attr in ("num_hidden_layers", "num_layers"):
        n = getattr(config, attr, None)
        if isinstance(n, int):
            return n + 1
    depths = getattr(config, "depths", None)
    if depths:
        return len(depths) + 1
    return 1


def pooled_width(config: Any, pooling: str) -> int | None:
    """Transformer widths are the same at every layer; None (probe) for anything else."""
    width = getattr(config, "hidden_size", None)
    if not isinstance(width, int):
        return None
    return 2 * width if pooling == "cls+mean" else width


def max_length(tokenizer: Any, config: Any) -> int:
    n = getattr(tokenizer, "model_max_length", None)
    if isinstance(n, int) and n < 1_000_000:
        return n
    return int(getattr(config, "max_position_embeddings", 512))
