"""The evaluation page and its files: the tidy results table, CLIP_benchmark-shaped JSON,
confusion-matrix plots and ``index.html`` (the records themselves come from ``alignkit.evaluate.records``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from alignkit.atomic import atomic_write_json
from alignkit.data.base import summarize_skips
from alignkit.evaluate.records import clip_benchmark_records, compare_models
from alignkit.locks import locks_folder
from alignkit.evaluate.verdicts import plural, seeds_note, tally, verdict_rows
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
    results: Sequence[TaskResult], out: str | Path, title: str, command: str | None = None, pretrained: dict[str, str] | None = None,
    verdicts: Mapping[str, Sequence[dict[str, Any]]] | None = None, provenance: dict[str, Any] | None = None,
) -> Path:
    """Write ``results.{parquet,csv,jsonl}``, CLIP_benchmark-shaped ``clip_benchmark/<dataset>_<model>_<task>.json``,
    ``confusion-<task>[-<model>].png`` per classification result and ``index.html`` into ``out``;
    returns the report path. Several models get one side-by-side table too. ``verdicts`` (model ->
    its verdicts against the baselines) open the page and go to ``verdicts.{parquet,csv,jsonl}``
    (one row per task and baseline) and ``verdicts.json`` (every field).. The folder is locked
    while written, and the files an earlier evaluation left there are removed first, so it holds
    only this run's results."""
    out = Path(out)
    _clear_previous(out)
    rows = [r for res in results for r in res.rows]
    write_table(rows, out / "results")
    if verdicts:
        write_table([{"model": m, **r} for m, found in verdicts.items() for r in verdict_rows(found)], out / "verdicts")
        atomic_write_json(out / "verdicts.json", {"provenance": provenance, "verdicts": dict(verdicts)})
    cb = out / "clip_benchmark"
    cb.mkdir(exist_ok=True)
    for rec in clip_benchmark_records(results, pretrained):
        name = _file_safe(f"{rec['dataset']}_{rec['model']}_{rec['task']}") + ".json"
        atomic_write_json(cb / name, rec)
    models = list(dict.fromkeys(r["model"] for r in rows))
    rep = Report(title)
    if command:
        rep.code(command)
    for model, found in (verdicts or {}).items():
        verdict_section(rep, found, f"Verdicts: {model} against the baselines" if len(verdicts) > 1 else "Verdict per task")
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


VERDICT_ALT = "Verdicts"


def verdict_section(rep: Report, found: Sequence[dict[str, Any]], heading: str = "Verdict per task",
                    against: str = "each training-free baseline") -> None:
    """The verdict section every page with baselines opens with: a forest plot (the aligned
    model minus each baseline per task, with its 95% interval, zero marked), then the same
    numbers as a table, then the tally and what the intervals cover."""
    rep.heading(heading)
    table = verdict_rows(found)
    compared = [r for r in table if "difference" in r]
    if compared:
        nan = float("nan")
        fig = plots.forest([f"{r['task']}: {r['baseline']}" for r in compared], [r["difference"] for r in compared],
                           [nan if r["95% low"] is None else r["95% low"] for r in compared],
                           [nan if r["95% high"] is None else r["95% high"] for r in compared],
                           title="aligned minus baseline, per task (95% paired intervals)",
                           xlabel=f"difference in the headline metric ({', '.join(dict.fromkeys(r['metric'] for r in compared))})",
                           calls=[r["call"] for r in compared])
        rep.figure(fig, caption="Per task, the aligned model minus each baseline on the headline metric: a dot is the "
                                "difference, its line the 95% paired interval; right of the dashed zero line the aligned "
                                "model is better (green: win, red: loss, grey: tie).",
                   alt=f"{VERDICT_ALT}: aligned model minus {against} per task, with 95% intervals; the dashed line "
                       "is zero difference")
    rep.table(table, caption="Verdict per task and baseline (best baseline first): difference and its 95% interval",
              max_rows=None)
    rep.paragraph(f"Of {plural(len(found), 'task')}: {tally(found)} against {against}; {seeds_note(found)}.")
