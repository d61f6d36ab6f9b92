"""`alignkit bench`: rank, align and evaluate every vision x text pair; one table, one report."""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from alignkit.cli.common import DEGENERATE_PERMUTATIONS, verbosity_options
from alignkit.devices import DEVICE_HELP
from alignkit.engines import ENGINE_HELP, ENGINES
from alignkit.options import KEY_VALUE, NON_EMPTY, OUT_FOLDER


def pipeline_options(fn: Callable) -> Callable:
    """Options shared by bench and demo; unset ones keep the command's defaults."""
    options = [
        click.option("--probe", type=NON_EMPTY, help="Probe image-caption pairs for the ranking (a --data spec)."),
        click.option("--n", "n_probe", type=click.IntRange(20), help="Probe pairs to use (at most)."),
        click.option("--train", "train_spec", type=NON_EMPTY, help="Training pairs for every alignment (a --data spec)."),
        click.option("--task", "tasks", type=NON_EMPTY, multiple=True, help="Evaluation task spec, repeatable (default: the built-in tasks)."),
        click.option("--epochs", type=click.IntRange(1), help="Epochs for every alignment run (default: the recipe's)."),
        click.option("--seed", type=click.IntRange(0), help="Seed for ranking statistics, training and subsets (default: 0)."),
        click.option("--seeds", type=click.IntRange(1), help="Training seeds of the chosen pair (seed, seed+1, ...); verdicts cover them all."),
        click.option("--bootstrap", type=click.IntRange(0), help="Bootstrap resamples for the ranking intervals."),
        click.option("--permutations", type=click.IntRange(0), help="Shuffled pairings for the ranking null."),
        click.option("--fractions", type=NON_EMPTY, help="Comma-separated training fractions in (0, 1) for the data-efficiency curve."),
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="A YAML/JSON alignment recipe for every run, as for `alignkit align --config` (default: the default recipe)."),
        click.option("--set", "sets", type=KEY_VALUE, multiple=True, metavar="KEY=VALUE", help="A recipe key for every run, as for `alignkit align --set`."),
        click.option("--device", type=NON_EMPTY, help=DEVICE_HELP + " (default: auto)"),
        click.option("--engine", type=click.Choice(ENGINES), help=ENGINE_HELP + " (default: auto)"),
        click.option("--skip-missing", is_flag=True, default=None,
                     help="Rank the encoders that can be loaded here and skip (and name) the rest, instead of stopping."),
    ]
    fn = verbosity_options(fn)
    for option in reversed(options):
        fn = option(fn)
    return fn


# options that set the ranking's own settings (BenchConfig.rank), not the bench's
RANK_OPTIONS = ("n_probe", "bootstrap", "permutations", "primary", "metrics")


def apply_options(config: Any, **given: Any) -> Any:
    """The config with every option the user gave replacing its field; ``--config``/``--set``
    override the alignment recipe of every run (checked now, before any work)."""
    from alignkit.align.recipe import recipe_overrides

    recipe = recipe_overrides(given.pop("config_file"), given.pop("sets"))
    if recipe:
        config = replace(config, recipe={**config.recipe, **recipe})
    fractions = given.pop("fractions")
    if fractions:
        given["data_fractions"] = _fractions(fractions)
    if given.get("permutations") == 0:
        click.echo(DEGENERATE_PERMUTATIONS, err=True)
    given["tasks"] = tuple(given.pop("tasks")) or None
    given["train"] = given.pop("train_spec")
    ranking = {k: given.pop(k) for k in RANK_OPTIONS if k in given}
    config = config.with_rank(**{k: v for k, v in ranking.items() if v is not None})
    return replace(config, **{k: v for k, v in given.items() if v is not None}).validate()


def _fractions(text: str) -> tuple[float, ...]:
    """``--fractions 0.1,0.5`` as floats in (0, 1); anything else is a usage error naming the option."""
    try:
        values = tuple(float(f) for f in text.split(",") if f.strip())
    except ValueError:
        values = ()
    if not values or not all(0 < v < 1 for v in values):
        raise click.BadParameter(f"expected comma-separated fractions in (0, 1), got {text!r}", param_hint="--fractions")
    return values


def plan_line(config: Any, out: Path, title: str, expect: str = "") -> str:
    """What a run will do, in one paragraph, printed before any work starts."""
    aligned = "the best-ranked non-control pair" if config.align == "best" else "every pair"
    seeds = f"{config.seeds} seed{'s' if config.seeds != 1 else ''}"
    extra = []
    if config.data_fractions:
        extra.append(f"again on {len(config.data_fractions)} smaller training subset(s) for the crossover")
    if config.heads:
        extra.append(f"with head kinds {', '.join(config.heads)} compared")
    if config.probe_sizes:
        extra.append(f"ranked again at probe sizes {', '.join(map(str, config.probe_sizes))}")
    return (f"{title} will: rank the encoders {config.vision_zoo} x {config.text_zoo} on {config.rank.n_probe} probe pairs; "
            f"align {aligned} on {config.train} ({seeds}{'; ' + '; '.join(extra) if extra else ''}); "
            f"evaluate it and {len(config.baselines)} training-free baselines on {len(config.tasks)} held-out tasks; "
            f"write {out / 'index.html'}." + (f" {expect}" if expect else ""))


def one_line_answer(outcome: Any) -> str:
    """The run's answer in one line: the chosen pair's wins, ties and losses against the baselines."""
    from alignkit.evaluate.verdicts import tally

    pair = f"{outcome.chosen[0]} + {outcome.chosen[1]}"
    if not outcome.verdicts:
        return f"answer: {pair} was aligned; no task had a baseline to compare it with"
    return (f"answer: aligned {pair} against the best training-free baseline on {len(outcome.verdicts)} held-out tasks: "
            f"{tally(outcome.verdicts)} (paired 95% intervals)")


def run_and_report(config: Any, out: Path, title: str, intro: list[str], quiet: bool, expect: str = "",
                   closing: Sequence[str] = ()) -> None:
    """Say what will run, run the pipeline, write the outputs, print the verdicts, then where the
    report is, the ``closing`` notes and the one-line answer."""
    from alignkit.bench import run_bench, write_bench_outputs
    from alignkit.locks import folder_lock
    from alignkit.evaluate.verdicts import seeds_note, verdict_rows
    from alignkit.report.text import text_table

    click.echo(plan_line(config, out, title, expect), err=True)  # even with --quiet: it says what the wait is for
    say = (lambda s: None) if quiet else (lambda s: click.echo(s, err=True))
    t0 = time.perf_counter()
    command = "alignkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with folder_lock(out, "output folder"):  # one writer from the first run to the last page
        outcome = run_bench(config, out, say=say, progress=not quiet)
        page = write_bench_outputs(outcome, out, title, command, config.to_dict(), intro)
    click.echo(f"chosen pair: {outcome.chosen[0]} + {outcome.chosen[1]} ({outcome.chosen_note})")
    if outcome.verdicts:
        click.echo(f"verdicts ({seeds_note(outcome.verdicts)}):")
        click.echo(text_table(verdict_rows(outcome.verdicts), signed=("difference", "95% low", "95% high")))
    corr = next((r for r in outcome.rows if r["section"] == "correlation" and r["variant"] == "calibrated"
                 and r["metric"] == config.rank.primary), None)
    if corr:
        click.echo(f"calibrated {config.rank.primary} vs accuracy: Spearman {corr['spearman']:.2f}, Kendall {corr['kendall']:.2f} ({corr['note']})")
    click.echo(f"report: {page} (tables: {out / 'results'}.{{parquet,csv,jsonl}}); took {time.perf_counter() - t0:.0f}s")
    for line in closing:
        click.echo(f"note: {line}")
    click.echo(one_line_answer(outcome))


@click.command("bench")
@click.option("--vision-zoo", type=NON_EMPTY, default="offline", show_default=True, help="Image encoder specs and/or presets (see `alignkit zoo`).")
@click.option("--text-zoo", type=NON_EMPTY, default="offline", show_default=True, help="Text encoder specs and/or presets.")
@click.option("--out", type=OUT_FOLDER, default=Path("reports/bench"), show_default=True,
              help="Report folder; its runs/ keeps the training runs, reused on a rerun.")
@click.option("--metrics", type=NON_EMPTY, help="Comma-separated similarity metrics to rank by (default: all).")
@click.option("--primary", type=NON_EMPTY, help="Metric the ranking sorts by, calibrated (default: linear_cka).")
@click.option("--heads", type=NON_EMPTY, help="Comma-separated head kinds to compare on the chosen pair (linear, mlp).")
@click.option("--study", is_flag=True,
              help="The selection study: layers as candidates (EfficientNet-Lite0/1/2, MiniLM and mpnet at final and middle "
                   "layers, the pixel floor), every pair aligned with the demo's recipe and 2 seeds, ranked at 200, "
                   "500 and 1,000 probe pairs; --vision-zoo/--text-zoo given explicitly replace its zoos.")
@click.option("--probe-sizes", type=NON_EMPTY, help="Comma-separated probe sizes to rank again at and correlate with accuracy.")
@click.option("--pair-bootstrap", type=click.IntRange(0), help="Resamples of the aligned pairs for intervals on each metric's correlation with accuracy (default: 1000 with --study, else 0).")
@click.option("--all-seeds/--chosen-seeds", "seeds_all", default=None,
              help="Train every aligned pair with --seeds seeds (default for --study), or only the chosen pair.")
@pipeline_options
def bench(vision_zoo, text_zoo, out, metrics, primary, heads, study, probe_sizes, pair_bootstrap, seeds_all, quiet, **options):
    """Rank every pair, align every pair with the same budget, evaluate them and the training-free
    baselines, and report how well each similarity metric predicts zero-shot accuracy."""
    from alignkit.bench import BenchConfig, study_config

    ctx = click.get_current_context()
    if study:
        config = study_config()
        for name, value in (("vision_zoo", vision_zoo), ("text_zoo", text_zoo)):
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                setattr(config, name, value)
    else:
        config = BenchConfig(vision_zoo=vision_zoo, text_zoo=text_zoo)
    if probe_sizes:
        try:
            config.probe_sizes = tuple(int(n) for n in probe_sizes.split(",") if n.strip())
        except ValueError:
            raise click.BadParameter(f"expected comma-separated integers, got {probe_sizes!r}", param_hint="--probe-sizes") from None
    if seeds_all is not None:
        config.seeds_all = seeds_all
    if pair_bootstrap is not None:
        config.pair_bootstrap = pair_bootstrap
    if heads:
        config.heads = tuple(h.strip() for h in heads.split(",") if h.strip())
    metric_list = tuple(m.strip() for m in metrics.split(",") if m.strip()) if metrics else None
    config = apply_options(config, primary=primary, metrics=metric_list, **options)
    run_and_report(config, out, "alignkit bench" + (" --study" if study else ""), [], quiet)
