"""Choosing a recipe on folds of the training data only (``folds.py``), never on a test task.

Every candidate recipe and every training-free baseline is trained or fitted on the same fold
and scored by the evaluation module's retrieval code on the fold's validation images and their
captions; the score of a candidate is its mean image-to-text R@1 over folds. Per-item hits are
kept, so a candidate's lead over a baseline gets the same paired interval as a test verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from alignkit.align.recipe import AlignConfig
from alignkit.align.workflow.folds import Fold, make_folds
from alignkit.errors import AlignkitError
from alignkit.features.pairs import CachedPairs

SELECTION_DIR = "recipe-selection"


def fold_scores(model: Any, data: CachedPairs, fold: Fold) -> dict[str, Any]:
    """R@1 of any feature-level model (aligned or baseline) on a fold's validation rows: a
    retrieved caption (or image) of the query's concept group counts as a hit."""
    import torch
    import torch.nn.functional as F

    from alignkit.align.training.validation import retrieval_r1

    val = data.subset(fold.val)
    with torch.no_grad():
        zi = F.normalize(torch.as_tensor(_array(model.encode_image_features(val.pooled_features("image")))), dim=-1)
        zt = F.normalize(torch.as_tensor(_array(model.encode_text_features(val.pooled_features("text")))), dim=-1)
    r = retrieval_r1(zi, zt, val.text_owner, val.image_groups())
    return {"i2t_R@1": r["i2t_r1"], "t2i_R@1": r["t2i_r1"], "chance": r["i2t_chance"], "images": len(fold.val), "hits": r["i2t_hits"]}


def _array(x: Any) -> np.ndarray:
    return x.detach().cpu().float().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=np.float32)


@dataclass
class Selection:
    """The outcome of a selection run: one row per (candidate or baseline, fold), and the choice."""

    rows: list[dict[str, Any]]
    chosen: str
    scores: dict[str, float]
    hits: dict[tuple[str, str], np.ndarray]


def select_recipe(
    candidates: dict[str, AlignConfig],
    data: CachedPairs,
    out_dir: str | Path,
    *,
    folds: Sequence[Fold] | None = None,
    baselines: Sequence[str] = (),
    train: Callable[..., Any] | None = None,
    progress: bool = False,
    say: Callable[[str], None] = lambda s: None,
) -> Selection:
    """Train every candidate on every fold (runs under ``out_dir/<candidate>/<fold>``), score it
    on the fold's validation rows, fit the baselines on the same folds, and choose the candidate
    with the best mean image-to-text R@1 (ties: the earlier candidate)."""
    from alignkit.align.training.loop import train_pairs
    from alignkit.evaluate import make_baseline, paired_rows

    if not candidates:
        raise AlignkitError("no candidate recipes to choose from")
    train = train or train_pairs
    folds = list(folds) if folds is not None else make_folds(data)
    out = Path(out_dir)
    rows: list[dict[str, Any]] = []
    hits: dict[tuple[str, str], np.ndarray] = {}
    for fold in folds:
        sub = data.subset(fold.train)
        for name in baselines:
            x, y = paired_rows(sub.pooled_features("image").numpy(), sub.pooled_features("text").numpy(), sub.text_owner)
            s = fold_scores(make_baseline(name).fit(x, y), data, fold)
            hits[(name, fold.name)] = s.pop("hits")
            rows.append({"model": name, "kind": "baseline", "fold": fold.name, **s})
        for name, cfg in candidates.items():
            fixed = cfg.with_overrides({"refit": False, "val_fraction": 0.0})
            run = out / _slug(name) / _slug(fold.name)
            say(f"selection: {name} on {fold.name} ({len(fold.train)} train / {len(fold.val)} validation images)")
            model = _fold_run(train, fixed, sub, run, progress)
            s = fold_scores(model, data, fold)
            hits[(name, fold.name)] = s.pop("hits")
            rows.append({"model": name, "kind": "candidate", "fold": fold.name, **s})
    scores = {name: float(np.mean([r["i2t_R@1"] for r in rows if r["model"] == name])) for name in candidates}
    chosen = max(candidates, key=lambda n: (scores[n], -list(candidates).index(n)))
    return Selection(rows, chosen, scores, hits)


def _fold_run(train: Callable[..., Any], cfg: AlignConfig, data: CachedPairs, run: Path, progress: bool) -> Any:
    """A fold's training run: reused when finished with this recipe, resumed when interrupted."""
    import json

    from alignkit.align.model.aligned_model import AlignedModel
    from alignkit.atomic import atomic_write_json

    marker = run / "fold-run.json"
    identity = {"recipe": cfg.to_dict(), "images": len(data.image_keys), "captions": len(data.text_keys)}
    if marker.exists() and json.loads(marker.read_text(encoding="utf-8")) == identity:
        return AlignedModel.from_pretrained(run)
    if marker.exists():
        raise AlignkitError(f"{run} holds a fold run of another recipe or data; remove it or choose another --out")
    model = train(cfg, data, run, resume=(run / "checkpoints" / "last" / "state.json").exists(), progress=progress)
    atomic_write_json(marker, identity)
    return model


def selection_table(sel: Selection) -> list[dict[str, Any]]:
    """One row per model: its validation i2t R@1 on each fold, the mean, and whether it was chosen."""
    out = []
    for name in dict.fromkeys(r["model"] for r in sel.rows):
        mine = [r for r in sel.rows if r["model"] == name]
        out.append({"model": name, "kind": mine[0]["kind"], **{r["fold"]: round(r["i2t_R@1"], 4) for r in mine},
                    "mean i2t R@1": round(float(np.mean([r["i2t_R@1"] for r in mine])), 4),
                    "chosen": "yes" if name == sel.chosen else ""})
    return sorted(out, key=lambda r: -r["mean i2t R@1"])


def write_selection(sel: Selection, recipes: dict[str, AlignConfig], folder: str | Path) -> Path:
    """``selection.json`` (every row, the scores, the chosen recipe in full) and ``selection.md``."""
    import json

    from alignkit.atomic import atomic_write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = selection_table(sel)
    atomic_write_json(folder / "selection.json", {"chosen": sel.chosen, "scores": sel.scores, "rows": sel.rows, "table": table,
                                                   "recipes": {n: r.to_dict() for n, r in recipes.items()}})
    cols = list(table[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in table]
    text = (f"# Recipe selection on folds of the training data\n\nChosen: **{sel.chosen}** (highest mean validation "
            "image-to-text R@1 over the folds; no test task was scored).\n\n" + "\n".join(lines) + "\n")
    (folder / "selection.md").write_text(text, encoding="utf-8")
    return folder / "selection.json"


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"
