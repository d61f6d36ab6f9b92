"""Evaluation: zero-shot classification, retrieval, training-free baselines, result records
(the HTML page is ``alignkit.evaluate.page``).

    from alignkit.evaluate import evaluate_task
    rows = evaluate_task(AlignedModel.from_pretrained("runs/m"), open_task("builtin:fashion-mnist"), "m").rows

One public way per job: ``evaluate_task`` scores one model on one task (raw images and texts);
``alignkit.evaluate.compare.evaluate_models`` (what ``alignkit eval`` runs) scores models and
baselines on many tasks through the features cache.
"""

from alignkit.evaluate.baselines import ASIF, CCA, BASELINES, Baseline, CentredASIF, Procrustes, RidgeMap, make_baseline
from alignkit.evaluate.score_tasks import (
    BaselineModel,
    TaskResult,
    classification_result,
    evaluate_task,
    paired_rows,
    retrieval_result,
)
from alignkit.evaluate.records import clip_benchmark_records, compare_models
from alignkit.evaluate.retrieval import retrieval_chance, retrieval_metrics
from alignkit.evaluate.zeroshot import classification_chance, classification_metrics, zero_shot_classifier

__all__ = [
    "ASIF", "BASELINES", "CCA", "Baseline", "CentredASIF", "BaselineModel", "Procrustes", "RidgeMap", "TaskResult",
    "classification_chance", "classification_metrics", "classification_result", "clip_benchmark_records", "compare_models", "evaluate_task",
    "make_baseline", "paired_rows", "retrieval_chance", "retrieval_metrics", "retrieval_result",
    "zero_shot_classifier",
]  # fmt: skip
