"""Evaluation outputs on disk: the tidy results table, confusion-matrix plots, an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import polars as pl

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


def compare_models(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Rows of several models -> one row per (task, metric) with the chance level and one
    column per model, in first-seen order: the aligned model beside its baselines."""
    df = pl.from_dicts(list(rows), infer_schema_length=None)
    models = list(dict.fromkeys(df["model"].to_list()))
    keys = df.select("task", "metric", "chance").unique(subset=["task", "metric"], keep="first", maintain_order=True)
    wide = df.pivot(on="model", index=["task", "metric"], values="value", aggregate_function="first")
    return keys.join(wide, on=["task", "metric"], how="left", maintain_order="left").select("task", "metric", "chance", *models)


def _file_safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "task"
