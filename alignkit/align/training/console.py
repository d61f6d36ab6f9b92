"""Console output of a training run: epoch lines and notes (tqdm, loaded lazily; the per-epoch
bar is ``alignkit.progress.progress_bar``)."""

from __future__ import annotations

from typing import Any


def note(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)


def fitted_batch(batch_size: int, n_pairs: int, say: bool = True) -> int:
    """The batch a run can use: at most the training pairs; a larger ``batch_size`` is a warning,
    since every epoch is then one step over all the pairs (and the recipe is not what it says)."""
    if batch_size > n_pairs and say:
        note(f"warning: batch_size {batch_size} is larger than the {n_pairs} training pairs; each epoch is one step "
             f"of all {n_pairs} pairs (lower batch_size or give more pairs)")
    return min(batch_size, n_pairs)


def print_epoch(record: dict[str, Any]) -> None:
    from tqdm.auto import tqdm

    parts = [f"epoch {record['epoch']}", f"loss {record['train_loss']:.4f}", f"T {record['temperature']:.4f}"]
    if "val_i2t_r1" in record:
        parts.append(f"val R@1 i2t {record['val_i2t_r1']:.3f} t2i {record['val_t2i_r1']:.3f} (chance {record['val_chance_r1']:.3f})")
    tqdm.write("  ".join(parts))
