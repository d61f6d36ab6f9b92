"""What a bench run will do, decided before any training: which pairs it aligns, and whether
its tasks can be told apart in the results (rows are keyed by task name)."""

from __future__ import annotations

from typing import Any

from alignkit.errors import AlignkitError


def check_task_names(tasks: dict[str, Any]) -> None:
    """Results are keyed by task name: two specs under one name would silently merge."""
    seen: dict[str, str] = {}
    for spec, task in tasks.items():
        if task.name in seen:
            raise AlignkitError(f"tasks {seen[task.name]!r} and {spec!r} are both named {task.name!r}; "
                                "their results would mix. Give one of them another name (or drop one).")
        seen[task.name] = spec


def pairs_to_align(ranked: list[dict[str, Any]], mode: str) -> tuple[list[dict[str, Any]], str]:
    """Every pair (best first), or only the best non-control one; with a sentence saying which and why."""
    real = [e for e in ranked if not e["control"]]
    if mode == "all":
        first = real[0] if real else ranked[0]
        return [first] + [e for e in ranked if e is not first], f"all {len(ranked)} pairs aligned; the chosen pair is the best-ranked non-control pair"
    if real:
        return [real[0]], f"the best-ranked non-control pair (rank {real[0]['rank']} of {len(ranked)})"
    return [ranked[0]], "every ranked pair is a control, so the best-ranked control pair was aligned"
