"""`alignkit curate`: a concept-balanced subset of a pool, plus a coverage report."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from alignkit.devices import DEVICE_HELP
from alignkit.engines import ENGINE_HELP, ENGINES
from alignkit.cli.common import verbosity_options
from alignkit.options import NON_EMPTY, OUT_FOLDER, finite_float
from alignkit.errors import AlignkitError


@click.command()
@click.option("--pool", "pool_spec", type=NON_EMPTY, required=True, help="The pool of pairs (a --data spec), e.g. builtin:clipart.")
@click.option("--vision", "vision_spec", type=NON_EMPTY, default="efficientnet-lite0", show_default=True, help="Image encoder spec.")
@click.option("--text", "text_spec", type=NON_EMPTY, default="minilm-l6", show_default=True, help="Text encoder spec.")
@click.option("--concepts-task", "concept_tasks", type=NON_EMPTY, multiple=True,
              help="Classification task whose class names are concepts (repeatable); its images are leak-checked.")
@click.option("--concepts-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A text file of concept names, one per line.")
@click.option("--concept-images", "concept_images", type=NON_EMPTY, default=None,
              help="A classification task (e.g. folder-task:DIR) with a few example images per concept: image prototypes.")
@click.option("--by", type=click.Choice(["text", "image", "both"]), default=None,
              help="Score captions (text), images, or both (default: text, or both with --concept-images).")
@click.option("--per-concept", default=50, show_default=True, type=click.IntRange(1), help="At most K pairs per concept.")
@click.option("--budget", type=click.IntRange(1), default=None, help="Global cap on pairs (default: K x concepts).")
@click.option("--min-score", default=0.3, show_default=True, type=finite_float(-1, 1), help="Minimum cosine to the best concept.")
@click.option("--dedup", default=0.95, show_default=True, type=finite_float(0, 1, min_open=True), help="Image cosine marking near-duplicates (1.0 disables).")
@click.option("--leak-check", "leak_tasks", type=NON_EMPTY, multiple=True, help="Extra evaluation task whose images must not be in the subset.")
@click.option("--leak-threshold", default=0.95, show_default=True, type=finite_float(0, 1, min_open=True), help="Image cosine marking a near-copy of an evaluation image.")
@click.option("--keep-leaks", is_flag=True, help="Keep near-copies of evaluation images (they are still counted).")
@click.option("--out", required=True, type=OUT_FOLDER, help="Output folder.")
@click.option("--device", type=NON_EMPTY, default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True, help=ENGINE_HELP)
@verbosity_options
def curate(pool_spec, vision_spec, text_spec, concept_tasks, concepts_file, concept_images, by, per_concept, budget,
           min_score, dedup, leak_tasks, leak_threshold, keep_leaks, out, device, engine, quiet):
    """Select a concept-balanced subset of a pool; `alignkit align --data subset:OUT` trains on it."""
    from alignkit.curation import CurateConfig, curate as run_curation, write_subset
    from alignkit.curation.steps import build_concepts, embed_pool, evaluation_image_features, report_and_examples
    from alignkit.encoders import create_encoder

    if not (concept_tasks or concepts_file or concept_images):
        raise click.UsageError("give concepts: --concepts-task, --concepts-file and/or --concept-images")
    image_enc = create_encoder(vision_spec, device=device, engine=engine)
    text_enc = create_encoder(text_spec, device=device, engine=engine)
    concepts, _ = build_concepts(concept_tasks, concepts_file, concept_images, image_enc, text_enc)
    by = by or ("both" if concepts.image is not None and concepts.text is not None else "image" if concepts.text is None else "text")
    config = CurateConfig(per_concept=per_concept, budget=budget, min_score=min_score, by=by,
                          dedup=None if dedup >= 1.0 else dedup, leak_threshold=leak_threshold, keep_leaks=keep_leaks)
    image_store, text_store = embed_pool(pool_spec, image_enc, text_enc)
    evaluation = evaluation_image_features(list(concept_tasks) + list(leak_tasks), image_enc)
    selection = run_curation(image_store, text_store, concepts, config, out / "state", evaluation)
    subset = write_subset(selection, concepts, pool_spec, config, out)
    command = "alignkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    page = report_and_examples(out, selection, concepts, config, pool_spec, command)
    c = selection.counts
    click.echo(
        f"selected {c['selected']} of {c['pool_pairs']} pairs over {c['concepts']} concepts "
        f"({c['concepts_empty']} empty); removed {c['duplicates_removed']} near-duplicates and "
        f"{c['leaks_removed']} near-copies of evaluation images"
    )
    click.echo(f"wrote {subset} (train on it: alignkit align --data subset:{subset}) and {page}")
    if c["selected"] == 0:
        raise AlignkitError("no pair reached --min-score for any concept; lower --min-score or widen the pool")
