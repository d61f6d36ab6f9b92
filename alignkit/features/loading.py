"""What extraction needs around the model: decode and preprocess in data-loader workers, pad
token batches, and a progress bar with a total."""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Sequence

import numpy as np
from torch.utils.data import Dataset

from alignkit.encoders.base import Encoder
from alignkit.errors import BadItemError


class Prepared(Dataset):
    """Decode + preprocess one item in a worker; failures come back as a reason string."""

    def __init__(self, items: Sequence[tuple[str, Any]], encoder: Encoder):
        self.items = items
        self.encoder = encoder

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, Any, str | None]:
        _, payload = self.items[i]
        try:
            return i, self.encoder.preprocess(load_item(payload, self.encoder.modality)), None
        except BadItemError as e:
            return i, None, str(e)
        except Exception as e:  # an unexpected decoder failure must not kill the run
            return i, None, f"{type(e).__name__}: {e}"


def load_item(payload: Any, modality: str) -> Any:
    """A raw payload -> an RGB image or a clean caption (BadItemError with the reason otherwise)."""
    if modality == "image":
        from alignkit.data.images import decode_image

        return decode_image(payload)
    from alignkit.data.checks import clean_caption

    return clean_caption(payload)


def first_of_each_key(chunk: list[tuple[str, Any]], seen: set[str]) -> tuple[list[tuple[str, Any]], list[dict[str, str]]]:
    """The items whose key is new (``seen`` grows), and a skip record for every repeated key."""
    todo: list[tuple[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for key, payload in chunk:
        if key in seen:
            skipped.append({"key": key, "reason": "duplicate key"})
        else:
            seen.add(key)
            todo.append((key, payload))
    return todo, skipped


def threaded_batches(dataset: Prepared, batch_size: int, threads: int) -> Iterator[list[tuple[int, Any, str | None]]]:
    """Batches of ``dataset`` in order, each decoded by one of ``threads`` threads while the
    model runs the one before: for engines (ONNX Runtime) that release the GIL and use every core
    themselves, where worker processes would copy every image tensor across and fight the
    model's threads (measured in benchmarks/results/engines.md)."""
    starts = range(0, len(dataset), batch_size)

    def load(start: int) -> list[tuple[int, Any, str | None]]:
        return [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]

    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="decode") as pool:
        ahead: deque = deque()
        for start in starts:
            ahead.append(pool.submit(load, start))
            if len(ahead) > max(1, threads):  # a bounded look-ahead: memory stays a few batches
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def keep_batch(batch: list[tuple[int, Any, str | None]]) -> list[tuple[int, Any, str | None]]:
    return batch  # the encoder collates the good items in the main process


def default_workers(modality: str) -> int:
    if modality != "image":
        return 0
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def pad_tokens(toks: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad (B, T, D) token arrays of different T so they concatenate."""
    if not toks:
        return np.zeros((0, 0, 0), np.float16), np.zeros((0, 0), bool)
    t_max = max(t.shape[1] for t in toks)
    toks = [np.pad(t, ((0, 0), (0, t_max - t.shape[1]), (0, 0))) for t in toks]
    masks = [np.pad(m, ((0, 0), (0, t_max - m.shape[1]))) for m in masks]
    return np.concatenate(toks), np.concatenate(masks)


def close_bar(bar: Any) -> None:
    """Close an extraction bar; its ``total`` may be an upper bound (the first N of a source),
    so the bar ends at the count reached."""
    if bar.total is not None and bar.n < bar.total:  # the source ended before the bound
        bar.total = bar.n
        bar.refresh()
    bar.close()
