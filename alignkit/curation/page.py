"""The coverage report of a curation run: what was chosen, what was left empty, what was removed."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from alignkit.curation.concepts import Concepts
from alignkit.curation.curate import CurateConfig, Selection
from alignkit.report import Report, write_table
from alignkit.locks import locks_folder


def selection_rows(selection: Selection, concepts: Concepts, captions: dict[str, list[str]]) -> list[dict]:
    return [
        {"key": k, "concept": concepts.names[c], "score": s, "caption": (captions.get(k) or [""])[0]}
        for k, c, s in zip(selection.keys, selection.concepts, selection.scores)
    ]


def concept_rows(selection: Selection, concepts: Concepts, captions: dict[str, list[str]], examples: int = 3) -> list[dict]:
    by_concept: dict[int, list[tuple[str, float]]] = {}
    for k, c, s in zip(selection.keys, selection.concepts, selection.scores):
        by_concept.setdefault(c, []).append((k, s))
    rows = []
    for c, name in enumerate(concepts.names):
        chosen = by_concept.get(c, [])
        rows.append({
            "concept": name,
            "from": (concepts.sources or ["?"] * len(concepts.names))[c],
            "pairs": len(chosen),
            "best score": max((s for _, s in chosen), default=None),
            "example captions": " | ".join((captions.get(k) or [""])[0] for k, _ in chosen[:examples]),
        })
    return rows


@locks_folder("out", "output folder")
def write_curation_report(
    out: str | Path,
    selection: Selection,
    concepts: Concepts,
    config: CurateConfig,
    captions: dict[str, list[str]],
    pool_spec: str,
    command: str,
    examples: Sequence[tuple[object, str]] = (),
) -> Path:
    """results tables (selection, concepts) and index.html in ``out``."""
    out = Path(out)
    sel_rows = selection_rows(selection, concepts, captions)
    con_rows = concept_rows(selection, concepts, captions)
    write_table(sel_rows, out / "selection")
    write_table(con_rows, out / "concepts")
    counts = selection.counts
    rep = Report("Curation coverage", f"pool {pool_spec}: {counts['selected']} of {counts['pool_pairs']} pairs chosen")
    rep.code(command)
    rep.heading("Summary").table([{"what": k.replace("_", " "), "count": v} for k, v in counts.items()])
    if counts["leaks_found"]:
        kept = "kept (--keep-leaks)" if config.keep_leaks else "left out"
        rep.note(f"{counts['leaks_found']} pool images are near-copies of evaluation images "
                 f"(image cosine >= {config.leak_threshold}); they were {kept}.", "warning")
    empty = [r["concept"] for r in con_rows if r["pairs"] == 0]
    rep.heading("Concepts")
    if empty:
        rep.note(f"{len(empty)} concepts got no pair: {', '.join(empty[:50])}" + (" ..." if len(empty) > 50 else ""), "warning")
    rep.table(con_rows, caption="Pairs per concept", max_rows=1000)
    rep.figure(_histogram([r["pairs"] for r in con_rows], "pairs per concept", "concepts"), caption="Pairs per concept")
    if len(selection.candidate_scores):
        rep.figure(_histogram(selection.candidate_scores, f"cosine to best concept (by {config.by})", "candidates",
                              marks={"min score": config.min_score}), caption="Scores of all candidates")
    leak = selection.leak_similarity[np.isfinite(selection.leak_similarity)]
    if len(leak):
        rep.figure(_histogram(leak, "highest image cosine to an evaluation image", "pool pairs",
                              marks={"leak threshold": config.leak_threshold}), caption="Leakage check")
    if examples:
        rep.heading("Examples").image_grid(list(examples), caption="Chosen pairs: concept | caption")
    rep.heading("Selected pairs").table(sel_rows, max_rows=300)
    return rep.write(out)


def _histogram(values: Sequence[float], xlabel: str, ylabel: str, marks: dict[str, float] | None = None):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    ax.hist(np.asarray(values, dtype=float), bins=30, color="#4c72b0")
    for label, x in (marks or {}).items():
        ax.axvline(x, color="#c44e52", linestyle="--", label=label)
    if marks:
        ax.legend()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig
