"""`alignkit demo`: rank the offline zoo, align the best pair, evaluate it against the
training-free baselines on held-out tasks, and write reports/demo/index.html."""

from __future__ import annotations

from pathlib import Path

import click

from alignkit.cli.bench import apply_options, pipeline_options, run_and_report
from alignkit.options import NON_EMPTY, OUT_FOLDER


@click.command("demo")
@click.option("--out", type=OUT_FOLDER, default=Path("reports/demo"), show_default=True,
              help="Report folder; a rerun reuses its finished runs and the cached features.")
@click.option("--quick", is_flag=True, help="About 3 minutes on 2 cores: a smaller probe, training set and tasks, 5 epochs.")
@click.option("--crossover", is_flag=True,
              help="Also train the chosen pair at four smaller training sizes and draw the crossover against the baselines.")
@click.option("--vision-zoo", type=NON_EMPTY, help="Image encoders to rank (default: the installed offline ones and the pixels control).")
@click.option("--text-zoo", type=NON_EMPTY, help="Text encoders to rank (default: the installed offline ones and the n-gram control).")
@pipeline_options
def demo(out, quick, crossover, quiet, **options):
    """The embedded default end to end: rank, align the best non-control pair, evaluate, report."""
    from alignkit.bench import budget_note, demo_config
    from alignkit.bench.demo import expected_time, recorded_run_note

    config = apply_options(demo_config(quick, crossover), **options)
    honest = [recorded_run_note(config)] if quick else []
    intro = honest + [budget_note(config), "Reproducible on one machine: the same seeds give the same numbers there (timings excepted); another CPU or BLAS build may differ in the last digits."]
    run_and_report(config, out, "alignkit demo" + (" --quick" if quick else ""), intro, quiet, expected_time(quick),
                   closing=honest)
