"""`alignkit align`: train projector heads on two frozen encoders (thin: parse, call, print)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import click

from alignkit.align.recipe import AlignConfig, HeadConfig
from alignkit.align.recipe_schema import key_of
from alignkit.cli.common import verbosity_options
from alignkit.devices import DEVICE_HELP
from alignkit.engines import ENGINE_HELP
from alignkit.options import KEY_VALUE, NON_EMPTY, OUT_FOLDER

# types, ranges, help and defaults come from the recipe's schema (alignkit.align.recipe), never from here
DEFAULT = AlignConfig()


def _default(value) -> str:
    return f" [default: {value}]"


def recipe_option(flag: str, key: str, dest: str | None = None, help: str | None = None) -> Callable:
    """A command-line option for recipe key ``key`` (dotted for a head's key): its click type, range,
    help and shown default from the schema; left out, the recipe (file or default) decides."""
    owner, name = (HeadConfig, key.split(".")[1]) if "." in key else (AlignConfig, key)
    spec = key_of(owner, name)
    default = DEFAULT.to_dict()
    for part in key.split("."):
        default = default[part]
    shown = "" if default is None else _default(default)  # a null default is explained by the help
    return click.option(flag, dest or name, type=spec.click_type(), default=None, help=(help or spec.help) + shown)


def _list_keys(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from alignkit.align.recipe import recipe_keys

    click.echo(format_keys(recipe_keys()))
    ctx.exit(0)


def format_keys(rows: list[dict]) -> str:
    """The recipe keys as a table by section: key, type, default, accepted values, help."""
    lines = []
    width = max(len(r["key"]) for r in rows)
    for section in dict.fromkeys(r["section"] for r in rows):
        lines.append(f"{section}:")
        for r in (r for r in rows if r["section"] == section):
            default = "null" if r["default"] is None else json.dumps(r["default"])
            lines.append(f"  {r['key']:<{width}}  {r['type']:<7}  default {default:<10}  {r['accepts']}. {r['help']}")
    return "\n".join(lines)


@click.command()
@click.option("--vision", type=NON_EMPTY, help="Image encoder spec, e.g. efficientnet-lite0 (see `alignkit zoo`)." + _default("the recipe's"))
@click.option("--text", type=NON_EMPTY, help="Text encoder spec, e.g. minilm-l6." + _default("the recipe's"))
@click.option("--data", "data_spec", type=NON_EMPTY, help="Training pairs, e.g. builtin:emoji?split=train (see `alignkit data --help`)." + _default("the recipe's"))
@click.option("--out", required=True, type=OUT_FOLDER, help="Run folder: the model, recipe, metrics log, checkpoints.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="A YAML/JSON recipe; command-line options override it." + _default("the default recipe"))
@click.option("--list-keys", is_flag=True, is_eager=True, expose_value=False, callback=_list_keys,
              help="List every recipe key (for --config files and --set) with its type, default and range, then exit.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--online", is_flag=True, default=None, help="Run the frozen encoders inside the loop instead of caching features." + _default(DEFAULT.online))
@recipe_option("--image-head", "image_head.kind", "image_head", help="Image projector.")
@recipe_option("--text-head", "text_head.kind", "text_head", help="Text projector.")
@recipe_option("--hidden", "image_head.hidden", "hidden", help="Hidden width of MLP branches, both heads (default: twice the output width).")
@recipe_option("--dropout", "image_head.dropout", "dropout", help="Dropout in both heads.")
@click.option("--standardize/--no-standardize", default=None, help="Centre and scale pooled inputs by training statistics." + _default(DEFAULT.image_head.standardize))
@recipe_option("--embed-dim", "embed_dim")
@recipe_option("--loss", "loss")
@recipe_option("--temperature", "init_temperature")
@recipe_option("--epochs", "epochs")
@recipe_option("--batch-size", "batch_size")
@recipe_option("--lr", "lr")
@recipe_option("--weight-decay", "weight_decay")
@recipe_option("--captions", "captions")
@recipe_option("--val-fraction", "val_fraction")
@recipe_option("--patience", "patience")
@click.option("--refit/--no-refit", default=None, help="After the validation run, retrain on every pair for the latest epoch count within refit_tolerance of the best." + _default(DEFAULT.refit))
@recipe_option("--style-shift", "style_shift")
@recipe_option("--seed", "seed")
@click.option("--device", type=NON_EMPTY, help=DEVICE_HELP + _default(DEFAULT.device))
@recipe_option("--engine", "engine", help=ENGINE_HELP + ".")
@recipe_option("--precision", "precision", help="Autocast precision of the heads (auto: bf16 on GPUs that have it, else fp32); the loss is always float32.")
@recipe_option("--features-in", "features_in", help="Where cached features live while training (auto: device if they fit, else RAM, else memory-mapped shards).")
@click.option("--set", "extra", type=KEY_VALUE, multiple=True, metavar="KEY=VALUE", help="Any other recipe key, e.g. --set warmup_fraction=0.1 or --set memory=0 (see --list-keys).")
@click.option("--cache", type=OUT_FOLDER, help="Features cache root." + _default("$ALIGNKIT_CACHE, else ~/.cache/alignkit"))
@click.option("--select", "select_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML of candidate recipes (name: {key: value}); choose one on folds of the training data, then train it.")
@verbosity_options
def align(vision, text, data_spec, out, config_file, resume, online, image_head, text_head, hidden, dropout, standardize,
          embed_dim, loss, init_temperature, epochs, batch_size, lr, weight_decay, captions, val_fraction, patience, refit,
          style_shift, seed, device, engine, precision, features_in, extra, cache, select_file, quiet):
    """Align two frozen encoders: train small heads with a contrastive loss, save an AlignedModel."""
    from alignkit.align.recipe import parse_sets
    from alignkit.align.workflow.from_specs import train_from_specs as run_align
    from alignkit.align.training.run_folder import saved_recipe
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
