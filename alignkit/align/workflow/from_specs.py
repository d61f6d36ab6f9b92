"""One call from specs to a trained model: what `alignkit align` runs (`train_from_specs`).

Cached (the default): both encoders embed the data once into the shared features cache
(``$ALIGNKIT_CACHE/features/<data>/<encoder>-<fingerprint>``), then only the heads train.
Online (``online=True``): the frozen encoders run inside the training loop on every batch,
for token features too big to cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignkit.align.training import distributed as D
from alignkit.align.recipe import AlignConfig, ConfigError
from alignkit.align.model.aligned_model import AlignedModel
from alignkit.features.pairs import OnlinePairs
from alignkit.align.training.loop import train, train_pairs
from alignkit.align.training.run_folder import run_lock
from alignkit.devices import device_name
from alignkit.memory import release_memory


def train_from_specs(config: AlignConfig, out_dir: str | Path, *, resume: bool = False, cache_root: str | Path | None = None, progress: bool = True,
          candidates: dict[str, dict[str, Any]] | None = None) -> AlignedModel:
    """Build both encoders from ``config.vision``/``config.text``, read ``config.data``, train.

    ``candidates`` (name -> recipe overrides) first runs the selection protocol on folds of the
    training pairs (``alignkit.align.workflow.recipe_selection``), records it in ``<out>/recipe-selection/``, and
    then trains the chosen candidate on every pair. ``out_dir`` is locked for the whole job."""
    from alignkit.encoders.availability import check_specs

    config.validate()
    missing = [name for name in ("vision", "text", "data") if not getattr(config, name)]
    if missing:
        raise ConfigError(f"the recipe needs {', '.join(missing)} (give --{' --'.join(missing)} or set them in --config)")
    check_specs([config.vision, config.text])  # both named at once when neither can load here
    D.init_from_env()
    with run_lock(out_dir):
        return _train_from_specs(config, out_dir, resume, cache_root, progress, candidates)


def _train_from_specs(config: AlignConfig, out_dir: str | Path, resume: bool, cache_root: str | Path | None, progress: bool,
                      candidates: dict[str, dict[str, Any]] | None) -> AlignedModel:
    from alignkit.data import open_source
    from alignkit.encoders import create_encoder

    device = device_name(config.device)
    encoders = {side: create_encoder(spec, device=device, engine=config.engine)
                for side, spec in (("image", config.vision), ("text", config.text))}
    for side, enc in encoders.items():
        if enc.modality != side:
            raise ConfigError(f"--{'vision' if side == 'image' else 'text'} {enc.spec!r} is a {enc.modality} encoder, not a {side} encoder")
    source = open_source(config.data)
    if config.online:
        data = OnlinePairs(
            list(source), encoders["image"], encoders["text"], image_tokens=config.uses_tokens("image"),
            text_tokens=config.uses_tokens("text"), batch_size=config.encode_batch_size,
        )
        info = {side: {"spec": enc.spec, "fingerprint": enc.encoder_fingerprint()} for side, enc in encoders.items()}
        return train_pairs(config, data, out_dir, encoders=info, resume=resume, progress=progress)
    stores = _cached_stores(config, source, encoders, cache_root, progress)
    fingerprints = {side: enc.fingerprint() for side, enc in encoders.items()}
    encoders.clear()  # training reads the stores: the frozen encoders' memory goes back first
    release_memory()
    if candidates:
        config = _select(config, candidates, stores, Path(out_dir), progress, source.concept_of)
    return train(config, stores["image"], stores["text"], out_dir, resume=resume, progress=progress,
                 expected_fingerprints=fingerprints, concept_of=source.concept_of)


def _select(config: AlignConfig, candidates: dict[str, dict[str, Any]], stores: dict[str, Path], out: Path, progress: bool,
            concept_of: Any = None) -> AlignConfig:
    """Run the selection protocol (resumable: finished fold runs are kept) and return the chosen recipe."""
    from alignkit.features.pairs import CachedPairs
    from alignkit.align.workflow.recipe_selection import SELECTION_DIR, select_recipe, write_selection
    from alignkit.evaluate import BASELINES

    if config.online:
        raise ConfigError("recipe selection trains every candidate on every fold; it needs cached features (drop --online)")
    recipes = {name: config.with_overrides(overrides).validate() for name, overrides in candidates.items()}
    data = CachedPairs.from_stores(stores["image"], stores["text"], concept_of=concept_of)
    say = _say if progress and D.rank() == 0 else (lambda s: None)
    sel = select_recipe(recipes, data, out / SELECTION_DIR / "runs", baselines=tuple(BASELINES), progress=False, say=say)
    if D.rank() == 0:
        write_selection(sel, recipes, out / SELECTION_DIR)
    say(f"selection: chose {sel.chosen!r} (mean validation i2t R@1 {sel.scores[sel.chosen]:.3f}); training it on every pair")
    return recipes[sel.chosen]


def _say(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)


def _cached_stores(config: AlignConfig, source: Any, encoders: dict[str, Any], cache_root: str | Path | None, progress: bool) -> dict[str, Path]:
    """Embed (rank 0 only; other ranks wait, however long it takes) and return both store folders."""
    from alignkit.data import open_source
    from alignkit.data.base import caption_items, image_items, pair_key_of
    from alignkit.features.cache import cached_features, store_path
    from alignkit.features.store import derive_subset

    root = Path(cache_root) if cache_root else None
    items = {"image": image_items, "text": caption_items}
    ids = {side: config.data + ("+tokens" if config.uses_tokens(side) else "") for side in encoders}
    subset = _pool_subset(source, config)
    if subset is not None:  # a curated subset: embed (or reuse) the whole pool once, then copy rows
        ids = {side: f"{config.data}@{subset[1]}" for side in encoders}

    def embed_all() -> None:
        for side, enc in encoders.items():
            if subset is None:
                cached_features(
                    enc, items[side](source), ids[side], root=root, tokens=config.uses_tokens(side),
                    batch_size=config.encode_batch_size, progress=progress,
                    source_skips=lambda: [vars(s) for s in source.skipped],
                )
                continue
            pool = cached_features(enc, items[side](open_source(source.pool_spec)), source.pool_spec, root=root,
                                   batch_size=config.encode_batch_size, progress=progress)
            keys = subset[0]
            keep = (lambda k: k in keys) if side == "image" else (lambda k: pair_key_of(k) in keys)
            derive_subset(pool, keep, store_path(ids[side], enc, root))

    D.rank0_first(embed_all)  # the other ranks wait on a CPU group with a long timeout, not NCCL's 10 minutes
    return {side: store_path(ids[side], enc, root) for side, enc in encoders.items()}


def _pool_subset(source: Any, config: AlignConfig) -> tuple[set[str], str] | None:
    """(chosen keys, their digest) when ``source`` is a curated subset of a pool trained on pooled features."""
    import hashlib

    from alignkit.data.subset import SubsetSource

    if not isinstance(source, SubsetSource) or config.uses_tokens("image") or config.uses_tokens("text"):
        return None
    digest = hashlib.sha256("\0".join(sorted(source.keys)).encode()).hexdigest()[:12]
    return set(source.keys), digest
