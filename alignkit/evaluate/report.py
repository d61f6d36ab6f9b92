"""Evaluation outputs on disk: the tidy results table, confusion-matrix plots, an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from alignkit.data.base import summarize_skips
from alignkit.evaluate.evaluate import TaskResult
from alignkit.report import Report, plots, write_table


def write_eval_outputs(results: Sequence[TaskResult], out: str | Path, title: str, command: str | None = None) -> Path:
    """Write ``results.{parquet,csv,jsonl}``, ``confusion-<task>.png`` per classification task
    and ``index.html`` into ``out``; returns the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for res in results for r in res.rows]
    write_table(rows, out / "results")
    rep = Report(title)
    if command:
        rep.code(command)
    rep.heading("Results").table(
        [{**r, "x chance": r["value"] / r["chance"] if r["chance"] else None} for r in rows],
        caption="Every metric beside its chance level (a uniformly random ranking or guess).",
    )
    for res in results:
        rep.heading(f"{res.task} ({res.kind})")
        if res.skipped:
            counts = ", ".join(f"{reason}: {n}" for reason, n in summarize_skips(res.skipped).items())
            rep.note(f"{len(res.skipped)} items skipped ({counts}); the metrics cover the rest.", kind="warning")
        if res.confusion is not None and res.classnames is not None:
            fig = plots.confusion_matrix(res.confusion, res.classnames, title=f"{res.task}: confusion (row-normalised)")
            png = out / f"confusion-{_file_safe(res.task)}.png"
            fig.savefig(png, dpi=110, bbox_inches="tight")
            rep.figure(png.read_bytes(), caption=f"Confusion matrix on {res.task}: rows are true classes.")
    return rep.write(out)


def _file_safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "task"
