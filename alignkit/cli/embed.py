"""`alignkit embed`: fill a feature store for one encoder over images, captions or a data source."""

from __future__ import annotations

import collections
import itertools
import time
from pathlib import Path

import click

from alignkit.devices import DEVICE_HELP
from alignkit.engines import ENGINE_HELP, ENGINES
from alignkit.cli.common import verbosity_options
from alignkit.options import DTYPES, ENCODE_BATCH_SIZE, NON_EMPTY, OUT_FOLDER, finite_float


@click.command()
@click.option("--encoder", "spec", type=NON_EMPTY, required=True, help="Encoder spec (see `alignkit zoo`), e.g. efficientnet-lite0.")
@click.option("--images", type=click.Path(path_type=Path), help="A folder of images (searched recursively).")
@click.option("--texts", type=click.Path(path_type=Path), help="A text file with one caption per line.")
@click.option("--data", "data_spec", type=NON_EMPTY, help="A pair source (see `alignkit data --help`); the encoder's modality picks the side.")
@click.option("--out", required=True, type=OUT_FOLDER, help="Feature store folder (resumed if it exists).")
@click.option("--batch-size", type=click.IntRange(1), default=ENCODE_BATCH_SIZE, show_default=True, help="Items per encoder forward pass.")
@click.option("--shard-size", type=click.IntRange(1), default=2048, show_default=True, help="Rows per shard (the unit of resume).")
@click.option("--workers", type=click.IntRange(0), default=None, help="Decode workers (default: cores-1 for images, 0 for text).")
@click.option("--device", type=NON_EMPTY, default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--dtype", type=click.Choice(DTYPES), default=None, help="Feature dtype (default: the spec's, else float32).")
@click.option("--tokens", is_flag=True, help="Also store token features and their mask.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Embed only the first N items (default: all).")
@click.option("--overwrite", is_flag=True, help="Replace a store in --out made by another encoder or settings (its shards are deleted first).")
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True,
              help=ENGINE_HELP + ". Token features (--tokens) run on torch.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process (decode workers + one model); ray: Ray Data (decode tasks + an actor pool of models).")
@click.option("--address", type=NON_EMPTY, default=None, help="With --executor ray: a Ray cluster address (default: start a local cluster).")
@click.option("--ray-workers", type=click.IntRange(1), default=2, show_default=True, help="With --executor ray: model actors.")
@click.option("--gpus-per-worker", type=finite_float(0), default=0.0, show_default=True,
              help="With --executor ray: GPUs per model actor (e.g. 1 on a GPU cluster).")
@verbosity_options
def embed(spec, images, texts, data_spec, out, batch_size, shard_size, workers, device, dtype, tokens, limit, overwrite,
          engine, executor, address, ray_workers, gpus_per_worker, quiet):
    """Embed images or captions into a resumable on-disk feature store."""
    from alignkit.encoders import create_encoder
    from alignkit.features import embed_items

    chosen = [x for x in (images, texts, data_spec) if x]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --images, --texts or --data")
    if engine == "auto" and (tokens or gpus_per_worker):
        engine = "torch"  # token features are torch's; GPU actors run torch
    elif engine == "onnx" and (tokens or gpus_per_worker):
        raise click.UsageError("--engine onnx embeds pooled features on the CPU; --tokens and --gpus-per-worker need --engine torch")
    encoder = create_encoder(spec, device=device, dtype=dtype, engine=engine)
    items, source, source_skips = _items_for(encoder.modality, images, texts, data_spec)
    if limit is not None:
        items = itertools.islice(items, limit)
    runner = None
    if executor == "ray":
        from alignkit.features.ray_engine import ray_chunk_runner

        runner = ray_chunk_runner(ray_workers, address, gpus_per_worker)
    elif address or gpus_per_worker:
        raise click.UsageError("--address and --gpus-per-worker go with --executor ray")
    what = f"the images under {images}" if images else f"the lines of {texts}" if texts else f"the {encoder.modality}s of {data_spec}"
    click.echo(f"alignkit embed will: encode {what}{f' (first {limit})' if limit else ''} with {encoder.spec} "
               f"(engine {encoder.engine}{', ray' if runner else ''}) into the feature store {out} "
               "(resumable: shards already there are checked and reused).", err=True)
    t0 = time.perf_counter()
    store = embed_items(
        encoder, items, out, shard_size=shard_size, batch_size=batch_size, num_workers=workers,
        tokens=tokens, overwrite=overwrite, source=source, source_skips=source_skips, total=limit,
        chunk_runner=runner, progress=not quiet,
    )
    secs = time.perf_counter() - t0
    computed = store.manifest["last_run"]["items_computed"]
    skipped = store.skipped  # the extractor's and the source's own, both recorded in the manifest
    click.echo(
        f"{out}: {len(store)} rows x {store.dim} ({encoder.spec}, engine {encoder.engine}); "
        f"{computed} items encoded in {secs:.1f}s"
        + (f" ({computed / secs:.1f} items/s)" if computed and secs > 0 else "; everything reused from the store")
    )
    if skipped:
        counts = collections.Counter(s["reason"].split(":")[0] for s in skipped)
        click.echo(f"skipped {len(skipped)}: " + ", ".join(f"{r} ({n})" for r, n in counts.most_common()))


def _items_for(modality, images, texts, data_spec):
    """(items, source description, a callable giving the source's own skips after iteration)."""
    if images:
        if modality != "image":
            raise click.UsageError("--images needs an image encoder; this one encodes text")
        from alignkit.data.plain import image_folder_items

        skips: list = []
        return image_folder_items(images, skips), {"images": str(images)}, lambda: [vars(s) for s in skips]
    if texts:
        if modality != "text":
            raise click.UsageError("--texts needs a text encoder; this one encodes images")
        from alignkit.data.plain import text_file_items

        return text_file_items(texts), {"texts": str(texts)}, list
    from alignkit.data import open_source
    from alignkit.data.base import caption_items, image_items

    src = open_source(data_spec)
    items = image_items(src) if modality == "image" else caption_items(src)
    return items, {"data": data_spec, **src.describe()}, lambda: [vars(s) for s in src.skipped]
