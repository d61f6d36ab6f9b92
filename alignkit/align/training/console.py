"""Console output of a training run: epoch lines and notes (tqdm, loaded lazily; the per-epoch
bar is ``alignkit.progress.progress_bar``)."""

from __future__ import annotations

from typing import Any


def note(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)


def print_epoch(record: dict[str, Any]) -> None:
    from tqdm.auto import tqdm

    parts = [f"epoch {record['epoch']}", f"loss {record['train_loss']:.4f}", f"T {record['temperature']:.4f}"]
    if "val_i2t_r1" in record:
        parts.append(f"val R@1 i2t {record['val_i2t_r1']:.3f} t2i {record['val_t2i_r1']:.3f} (chance {record['val_chance_r1']:.3f})")
    tqdm.write("  ".join(parts))
