"""`alignkit align`: train projector heads on two frozen encoders (thin: parse, call, print)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from alignkit.align.recipe import CAPTION_MODES, FEATURES_IN, HEAD_KINDS, LOSSES, PRECISIONS, AlignConfig
from alignkit.devices import DEVICE_HELP
from alignkit.engines import ENGINE_HELP, ENGINES

# choices and defaults come from the recipe itself (alignkit.align.recipe), never from here
DEFAULT = AlignConfig()
HEADS = click.Choice(HEAD_KINDS)


def _default(value) -> str:
    return f" [default: {value}]"


@click.command()
@click.option("--vision", help="Image encoder spec, e.g. efficientnet-lite0 (see `alignkit zoo`).")
@click.option("--text", help="Text encoder spec, e.g. minilm-l6.")
@click.option("--data", "data_spec", help="Training pairs, e.g. builtin:emoji?split=train (see `alignkit data --help`).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run folder: the model, recipe, metrics log, checkpoints.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="A YAML/JSON recipe; command-line options override it.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--online", is_flag=True, default=None, help="Run the frozen encoders inside the loop instead of caching features.")
@click.option("--image-head", type=HEADS, help="Image projector." + _default(DEFAULT.image_head.kind))
@click.option("--text-head", type=HEADS, help="Text projector." + _default(DEFAULT.text_head.kind))
@click.option("--hidden", type=int, help="Hidden width of MLP branches (both heads).")
@click.option("--dropout", type=float, help="Dropout in both heads.")
@click.option("--standardize/--no-standardize", default=None, help="Centre and scale pooled inputs by training statistics.")
@click.option("--embed-dim", type=int, help="Width of the shared space (an identity head sets it to its features' width)." + _default(DEFAULT.embed_dim))
@click.option("--loss", type=click.Choice(LOSSES), help="Contrastive loss." + _default(DEFAULT.loss))
@click.option("--temperature", "init_temperature", type=float, help="Initial temperature." + _default(DEFAULT.init_temperature))
@click.option("--epochs", type=int, help="Training epochs." + _default(DEFAULT.epochs))
@click.option("--batch-size", type=int, help="Global batch size (split over ranks under torchrun)." + _default(DEFAULT.batch_size))
@click.option("--lr", type=float, help="Peak learning rate." + _default(DEFAULT.lr))
@click.option("--weight-decay", type=float, help="AdamW weight decay." + _default(DEFAULT.weight_decay))
@click.option("--captions", type=click.Choice(CAPTION_MODES), help="One random caption per image per epoch, or all." + _default(DEFAULT.captions))
@click.option("--val-fraction", type=float, help="Share of pairs held out for validation R@1.")
@click.option("--patience", type=int, help="Stop after this many epochs without a better validation R@1 (0: never).")
@click.option("--refit/--no-refit", default=None, help="After the validation run, retrain on every pair for the latest epoch count within refit_tolerance of the best.")
@click.option("--style-shift", type=float, help="Style-shift augmentation strength (0: off; see docs/alignment.md)." + _default(DEFAULT.style_shift))
@click.option("--seed", type=int)
@click.option("--device", help=DEVICE_HELP + " (default: the recipe's, auto)")
@click.option("--engine", type=click.Choice(ENGINES), help=ENGINE_HELP + " (default: the recipe's, auto)")
@click.option("--precision", type=click.Choice(PRECISIONS), help="Autocast precision of the heads (auto: bf16 on GPUs that have it, else fp32); the loss is always float32." + _default(DEFAULT.precision))
@click.option("--features-in", type=click.Choice(FEATURES_IN), help="Where cached features live while training (auto: device if they fit, else RAM, else memory-mapped shards)." + _default(DEFAULT.features_in))
@click.option("--set", "extra", multiple=True, metavar="KEY=VALUE", help="Any other recipe key, e.g. --set warmup_fraction=0.1 or --set memory=0 (see alignkit/align/recipe.py).")
@click.option("--cache", type=click.Path(path_type=Path), help="Features cache root (default $ALIGNKIT_CACHE or ~/.cache/alignkit).")
@click.option("--select", "select_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML of candidate recipes (name: {key: value}); choose one on folds of the training data, then train it.")
@click.option("--quiet", is_flag=True, help="No progress bars (model loading included) or per-epoch lines.")
def align(vision, text, data_spec, out, config_file, resume, online, image_head, text_head, hidden, dropout, standardize,
          embed_dim, loss, init_temperature, epochs, batch_size, lr, weight_decay, captions, val_fraction, patience, refit,
          style_shift, seed, device, engine, precision, features_in, extra, cache, select_file, quiet):
    """Align two frozen encoders: train small heads with a contrastive loss, save an AlignedModel."""
    from alignkit.align.recipe import parse_sets
    from alignkit.align.workflow.from_specs import train_from_specs as run_align
    from alignkit.align.training.run_folder import saved_recipe
    from alignkit.progress import silence_progress_bars

    if quiet:
        silence_progress_bars()

    saved = saved_recipe(out) if resume and config_file is None else None  # a refit run's own recipe, not its refit's
    if saved is not None:
        config = saved
    else:
        config = AlignConfig.from_file(config_file) if config_file else AlignConfig()
    overrides = {
        "vision": vision, "text": text, "data": data_spec, "online": online, "embed_dim": embed_dim, "loss": loss,
        "init_temperature": init_temperature, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "weight_decay": weight_decay, "captions": captions, "val_fraction": val_fraction, "patience": patience,
        "refit": refit, "style_shift": style_shift, "seed": seed, "device": device, "engine": engine, "precision": precision, "features_in": features_in, "image_head.kind": image_head, "text_head.kind": text_head,
    }
    for side in ("image_head", "text_head"):
        overrides.update({f"{side}.hidden": hidden, f"{side}.dropout": dropout, f"{side}.standardize": standardize})
    overrides.update(parse_sets(extra))
    config = config.with_overrides(overrides).validate()
    candidates = _candidates(select_file) if select_file else None
    click.echo(_plan(config, out, resume, candidates), err=True)
    model = run_align(config, out, resume=resume, cache_root=cache, progress=not quiet, candidates=candidates)
    if candidates:
        click.echo(f"recipe selection on folds of the training data: {out / 'recipe-selection' / 'selection.md'}")
    _summary(out, model)


def _plan(config: AlignConfig, out: Path, resume: bool, candidates: dict | None) -> str:
    """What the run will do, printed before any work."""
    first = (f"choose among {len(candidates)} candidate recipes on folds of the training pairs, then " if candidates else "")
    features = "run both encoders inside the loop" if config.online else "embed the pairs once into the features cache (reused later)"
    return (f"alignkit align will: {'resume the run in ' + str(out) + ' and ' if resume else ''}{first}{features}, "
            f"train {config.image_head.kind} image and {config.text_head.kind} text heads on {config.vision} + {config.text} "
            f"features of {config.data} for {config.epochs} epochs, and save the model in {out}/.")


def _candidates(path: Path) -> dict:
    """name -> recipe overrides, from a YAML mapping; a clear error for any other shape."""
    import yaml

    from alignkit.align.recipe import ConfigError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict) or not data or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path} must map candidate names to recipe overrides, e.g. 'longer: {{epochs: 80}}'")
    return {str(k): v for k, v in data.items()}


def _summary(out: Path, model) -> None:
    from alignkit.align.training.distributed import rank
    from alignkit.align.model.run_state import REFIT
    from alignkit.align.training.run_folder import SELECTION, read_metrics

    if rank() != 0:
        return
    lines = read_metrics(out / SELECTION)  # a refit run validates in its selection run
    refit = bool(lines)
    lines = lines or read_metrics(out)
    best = next((r for r in lines if r["epoch"] == lines[-1]["best_epoch"]), lines[-1])
    click.echo(f"saved {out}/ (model.safetensors, config.json, recipe.json, metrics.jsonl, checkpoints/last/)")
    if refit:
        epochs = json.loads((out / REFIT).read_text(encoding="utf-8"))["epochs"]
        click.echo(f"refit on every pair for {epochs} epochs; the validation run is in {out / SELECTION}/")
    if "val_i2t_r1" in best:
        click.echo(
            f"best epoch {best['epoch']}/{lines[-1]['epoch']}: validation R@1 image->text {best['val_i2t_r1']:.3f}, "
            f"text->image {best['val_t2i_r1']:.3f} (chance {best['val_chance_r1']:.3f}, {best['val_images']} images)"
        )
    click.echo(f"temperature {model.temperature:.4f}; load with AlignedModel.from_pretrained({str(out)!r})")
