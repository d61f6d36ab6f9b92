"""Evaluation results as records: CLIP_benchmark's result shape, and several models side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import polars as pl

if TYPE_CHECKING:
    from alignkit.evaluate.score_tasks import TaskResult

# CLIP_benchmark's names for alignkit's metrics: i2t (an image query ranks captions) is its text
# retrieval, t2i its image retrieval
CB_TASK = {"classification": "zeroshot_classification", "retrieval": "zeroshot_retrieval"}
CB_METRIC = {"top1": "acc1", "top5": "acc5", "mean_per_class_recall": "mean_per_class_recall"}


def clip_benchmark_records(results: Sequence[TaskResult], pretrained: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One record per (task, model) in CLIP_benchmark's result shape, ``{"dataset", "model",
    "pretrained", "task", "metrics": {...}}``, so tools that read its JSON read ours too."""
    records = []
    for res in results:
        by_model: dict[str, dict[str, float]] = {}
        for r in res.rows:
            by_model.setdefault(r["model"], {})[_cb_metric(r["metric"])] = r["value"]
        for model, metrics in by_model.items():
            records.append({"dataset": res.task, "model": model, "pretrained": (pretrained or {}).get(model, model),
                            "task": CB_TASK[res.kind], "metrics": metrics})
    return records


def _cb_metric(name: str) -> str:
    if name in CB_METRIC:
        return CB_METRIC[name]
    direction, k = name.split("_R@")
    return f"{'text' if direction == 'i2t' else 'image'}_retrieval_recall@{k}"


def compare_models(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Rows of several models -> one row per (task, metric) with the chance level and one
    column per model, in first-seen order: the aligned model beside its baselines."""
    df = pl.from_dicts(list(rows), infer_schema_length=None)
    models = list(dict.fromkeys(df["model"].to_list()))
    keys = df.select("task", "metric", "chance").unique(subset=["task", "metric"], keep="first", maintain_order=True)
    wide = df.pivot(on="model", index=["task", "metric"], values="value", aggregate_function="first")
    return keys.join(wide, on=["task", "metric"], how="left", maintain_order="left").select("task", "metric", "chance", *models)
