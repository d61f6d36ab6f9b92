"""`alignkit eval`: zero-shot classification and retrieval of an aligned model on tasks."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click


@click.command("eval")
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@click.option("--task", "tasks", multiple=True, required=True,
              help="Task spec, repeatable: builtin:NAME, folder-task:DIR, task:FILE.json, retrieval:SOURCE.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: aligned columns; json: one JSON object per task and metric.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for results.{parquet,csv,jsonl}, confusion plots and index.html.")
@click.option("--name", default=None, help="Model name in the result rows (default: the folder name).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1))
@click.option("--device", default="cpu", show_default=True)
def eval_cmd(model: str, tasks: tuple[str, ...], fmt: str, out: str | None, name: str | None, batch_size: int, device: str) -> None:
    """Evaluate the aligned MODEL folder zero-shot on each --task; every number is printed
    next to its chance level."""
    from alignkit.align.model import AlignedModel
    from alignkit.data.tasks import open_task
    from alignkit.evaluate import evaluate_task, write_eval_outputs

    aligned = AlignedModel.from_pretrained(model, device=device)
    model_name = name or Path(model).resolve().name
    results = []
    for spec in tasks:
        result = evaluate_task(aligned, open_task(spec), model_name, batch_size=batch_size)
        if result.skipped:
            click.echo(f"note: {result.task}: {len(result.skipped)} items skipped "
                       f"(e.g. {result.skipped[0].key}: {result.skipped[0].reason})", err=True)
        results.append(result)
    rows = [r for res in results for r in res.rows]
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r, ensure_ascii=False))
    else:
        click.echo(format_rows(rows))
    if out:
        command = "alignkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        page = write_eval_outputs(results, out, f"Evaluation of {model_name}", command)
        click.echo(f"wrote {page} and {Path(out) / 'results'}.{{parquet,csv,jsonl}}", err=True)


def format_rows(rows: list[dict]) -> str:
    """Fixed-width text table: task, metric, value, chance, n."""
    width = max([len("task")] + [len(r["task"]) for r in rows])
    lines = [f"{'task':<{width}}  {'metric':<22} {'value':>7} {'chance':>7} {'n':>7}"]
    lines += [f"{r['task']:<{width}}  {r['metric']:<22} {r['value']:>7.3f} {r['chance']:>7.3f} {r['n']:>7}" for r in rows]
    return "\n".join(lines)
