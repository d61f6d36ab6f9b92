"""The evaluation page and its files: the tidy results table, CLIP_benchmark-shaped JSON,
confusion-matrix plots and ``index.html`` (the records themselves come from ``alignkit.evaluate.records``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from alignkit.atomic import atomic_write_json
from alignkit.data.base import summarize_skips
from alignkit.evaluate.records import clip_benchmark_records, compare_models
from alignkit.locks import locks_folder
from alignkit.report import Report, plots, write_table

if TYPE_CHECKING:
    from alignkit.evaluate.score_tasks import TaskResult


def _clear_previous(out: Path) -> None:
    """Remove what an earlier ``write_eval_outputs`` wrote into ``out`` (and nothing else)."""
    import shutil

    shutil.rmtree(out / "clip_benchmark", ignore_errors=True)
    for f in [*out.glob("results.*"), *out.glob("confusion-*.png"), out / "index.html"]:
        f.unlink(missing_ok=True)


@locks_folder("out", "output folder")
def write_eval_outputs(
    results: Sequence[TaskResult], out: str | Path, title: str, command: str | None = None, pretrained: dict[str, str] | None = None
) -> Path:
    """Write ``results.{parquet,csv,jsonl}``, CLIP_benchmark-shaped ``clip_benchmark/<dataset>_<model>_<task>.json``,
    ``confusion-<task>[-<model>].png`` per classification result and ``index.html`` into ``out``;
    returns the report path. Several models get one side-by-side table too. The folder is locked
    while written, and the files an earlier evaluation left there are removed first, so it holds
    only this run's results."""
    out = Path(out)
    _clear_previous(out)
    rows = [r for res in results for r in res.rows]
    write_table(rows, out / "results")
    cb = out / "clip_benchmark"
    cb.mkdir(exist_ok=True)
    for rec in clip_benchmark_records(results, pretrained):
        name = _file_safe(f"{rec['dataset']}_{rec['model']}_{rec['task']}") + ".json"
        atomic_write_json(cb / name, rec)
    models = list(dict.fromkeys(r["model"] for r in rows))
    rep = Report(title)
    if command:
        rep.code(command)
    if len(models) > 1:
        rep.heading("Side by side").table(
            compare_models(rows), caption="Each model's value per task and metric, beside the chance level; the best is bold.",
            row_best=models,
        )
    rep.heading("Results").table(
        [{**r, "x chance": r["value"] / r["chance"] if r["chance"] else None} for r in rows],
        caption="Every metric beside its chance level (a uniformly random ranking or guess).",
    )
    for res in results:
        model = res.rows[0]["model"] if res.rows else ""
        rep.heading(f"{res.task} ({res.kind})" + (f": {model}" if len(models) > 1 else ""))
        for note in res.notes:
            rep.note(note, kind="warning")
        if res.skipped:
            counts = ", ".join(f"{reason}: {n}" for reason, n in summarize_skips(res.skipped).items())
            rep.note(f"{len(res.skipped)} items skipped ({counts}); the metrics cover the rest.", kind="warning")
        if res.confusion is not None and res.classnames is not None:
            fig = plots.confusion_matrix(res.confusion, res.classnames, title=f"{res.task}: confusion (row-normalised)")
            png = out / f"confusion-{_file_safe(res.task if len(models) == 1 else f'{res.task}-{model}')}.png"
            fig.savefig(png, dpi=110, bbox_inches="tight")
            rep.figure(png.read_bytes(), caption=f"Confusion matrix on {res.task}: rows are true classes.")
    return rep.write(out)


def _file_safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "task"
