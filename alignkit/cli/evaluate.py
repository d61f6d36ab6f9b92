"""`alignkit eval`: zero-shot classification and retrieval of aligned models (folders or hub ids)
and training-free baselines, side by side, on features from the shared features cache."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from alignkit.devices import DEVICE_HELP
from alignkit.engines import ENGINE_HELP, ENGINES
from alignkit.cli.common import format_option, verbosity_options
from alignkit.options import ENCODE_BATCH_SIZE, NON_EMPTY, OUT_FOLDER


@click.command("eval")
@click.argument("models", nargs=-1)
@click.option("--task", "tasks", type=NON_EMPTY, multiple=True, required=True,
              help="Task spec, repeatable: builtin:NAME, folder-task:DIR, task:FILE.json, retrieval:SOURCE, "
                   "cb:NAME?root=DIR (a CLIP_benchmark data set on disk).")
@click.option("--baseline", "baselines", default="",
              help="Training-free baselines fitted on --train, comma-separated: asif,procrustes,ridge,cca (default: none).")
@click.option("--train", type=NON_EMPTY, default=None, help="Image-caption pairs the baselines are fitted on (a --data spec).")
@click.option("--vision", type=NON_EMPTY, default=None, help="Image encoder of the baselines (default: the first model's).")
@click.option("--text", type=NON_EMPTY, default=None, help="Text encoder of the baselines (default: the first model's).")
@click.option("--revision", type=NON_EMPTY, default=None, help="Branch, tag or commit of the hub model(s) given by id (default: main).")
@format_option(("table", "json", "clip-benchmark"), "table: models side by side; json: one tidy row per task, metric and model; "
               "clip-benchmark: one CLIP_benchmark-shaped record per task and model.")
@click.option("--out", type=OUT_FOLDER, default=None,
              help="Folder for results.{parquet,csv,jsonl}, clip_benchmark/*.json, confusion plots and index.html (default: none written).")
@click.option("--name", "names", type=NON_EMPTY, multiple=True,
              help="Name of each MODEL in the results, in order (default: the folder name or hub id).")
@click.option("--batch-size", default=ENCODE_BATCH_SIZE, show_default=True, type=click.IntRange(1), help="Items per encoder forward pass.")
@click.option("--device", type=NON_EMPTY, default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True, help=ENGINE_HELP)
@verbosity_options
def eval_cmd(models: tuple[str, ...], tasks: tuple[str, ...], baselines: str, train: str | None, vision: str | None,
             text: str | None, revision: str | None, fmt: str, out: str | None, names: tuple[str, ...], batch_size: int,
             device: str, engine: str, quiet: bool) -> None:
    """Evaluate each aligned MODEL (a folder, or a hub id such as org/name) and each --baseline
    zero-shot on every --task; every number is printed next to its chance level. Task features
    are cached, so a second call encodes nothing."""
    from alignkit.align.model.aligned_model import AlignedModel
    from alignkit.evaluate import clip_benchmark_records
    from alignkit.evaluate.page import write_eval_outputs
    from alignkit.evaluate.compare import evaluate_models
    from alignkit.evaluate.verdicts import model_verdicts, plural, seeds_note, tally, verdict_rows
    from alignkit.provenance import run_provenance
    from alignkit.report.text import text_table
    if names and len(names) != len(models):
        raise click.UsageError(f"--name given {len(names)} time(s) for {len(models)} model(s); name every model or none")
    labels = list(names) or [_default_name(m) for m in models]
    if len(set(labels)) != len(labels):
        raise click.UsageError(f"two models would share a name in {labels}; tell them apart with --name")
    loaded = {label: AlignedModel.from_pretrained(m, revision=None if Path(m).is_dir() else revision, device=device,
                                               engine=engine)
              for label, m in zip(labels, models)}
    say = (lambda s: None) if quiet else (lambda s: click.echo(s, err=True))
    baseline_names = [b.strip() for b in baselines.split(",") if b.strip()]
    results = evaluate_models(
        loaded, tasks, baselines=baseline_names, train=train, vision=vision,
        text=text, device=device, engine=engine, batch_size=batch_size, progress=not quiet, say=say,
    )
    for result in results:
        if result.skipped:
            say(f"note: {result.task}: {len(result.skipped)} items skipped "
                f"(e.g. {result.skipped[0].key}: {result.skipped[0].reason})")
    pretrained = {label: str(m) for label, m in zip(labels, models)}
    pretrained.update({b: f"fitted on {train}" for b in {r["model"] for res in results for r in res.rows} - set(labels)})
    rows = [r for res in results for r in res.rows]
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r, ensure_ascii=False))
    elif fmt == "clip-benchmark":
        for rec in clip_benchmark_records(results, pretrained):
            click.echo(json.dumps(rec, ensure_ascii=False))
    else:
        click.echo(format_rows(rows))
    found = model_verdicts(results, labels, baseline_names)
    if fmt == "table":
        for label, verdicts in found.items():
            click.echo(f"\nverdicts of {label} (paired 95% intervals; {seeds_note(verdicts)}):")
            click.echo(text_table(verdict_rows(verdicts), signed=("difference", "95% low", "95% high")))
    if out:
        command = "alignkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        title = f"Evaluation of {', '.join(dict.fromkeys(r['model'] for r in rows))}"
        page = write_eval_outputs(results, out, title, command, pretrained, verdicts=found,
                                  provenance=run_provenance(command))
        say(f"wrote {page}, {Path(out) / 'results'}.{{parquet,csv,jsonl}} and {Path(out) / 'clip_benchmark'}/")
    for label, verdicts in found.items():
        click.echo(f"answer: {label} against {', '.join(baseline_names)} on {plural(len(verdicts), 'task')}: {tally(verdicts)}",
                   err=fmt != "table")


def _default_name(model: str) -> str:
    path = Path(model)
    return path.resolve().name if path.is_dir() else model


def format_rows(rows: list[dict]) -> str:
    """Fixed-width text table: task, metric, n, chance, then one column per model."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    cells: dict[tuple[str, str], dict] = {}
    for r in rows:
        entry = cells.setdefault((r["task"], r["metric"]), {"n": r["n"], "chance": r["chance"]})
        entry[r["model"]] = r["value"]
    tw = max([len("task")] + [len(t) for t, _ in cells])
    mw = max([len("metric")] + [len(m) for _, m in cells])
    cols = [max(7, len(m)) for m in models]
    head = f"{'task':<{tw}}  {'metric':<{mw}} {'n':>7} {'chance':>7}" + "".join(f" {m:>{w}}" for m, w in zip(models, cols))
    lines = [head]
    for (task, metric), e in cells.items():
        vals = "".join(f" {e[m]:>{w}.3f}" if m in e else f" {'-':>{w}}" for m, w in zip(models, cols))
        lines.append(f"{task:<{tw}}  {metric:<{mw}} {e['n']:>7} {e['chance']:>7.3f}" + vals)
    return "\n".join(lines)
