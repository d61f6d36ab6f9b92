"""What a bench run will do, decided before any training: which pairs it aligns (its tasks'
names are checked by ``alignkit.evaluate.compare.check_task_names``, as `alignkit eval` does)."""

from __future__ import annotations

from typing import Any


def pairs_to_align(ranked: list[dict[str, Any]], mode: str) -> tuple[list[dict[str, Any]], str]:
    """Every pair (best first), or only the best non-control one; with a sentence saying which and why."""
    real = [e for e in ranked if not e["control"]]
    if mode == "all":
        first = real[0] if real else ranked[0]
        return [first] + [e for e in ranked if e is not first], f"all {len(ranked)} pairs aligned; the chosen pair is the best-ranked non-control pair"
    if real:
        return [real[0]], f"the best-ranked non-control pair (rank {real[0]['rank']} of {len(ranked)})"
    return [ranked[0]], "every ranked pair is a control, so the best-ranked control pair was aligned"
