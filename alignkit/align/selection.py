"""Choosing a recipe on splits of the training data only, never on a test task.

Two kinds of fold, both cut from the training pairs:

- **leave one domain out**: train on every domain but one, validate on the left-out domain's
  images of concepts that training saw (a new drawing style of known concepts). A pair's domain
  is the part of its key before the first ``/`` (``google/1f600``), as the built-in sources and
  folder layouts write it; data with one domain gets no such fold.
- **held-out concepts**: a seeded ``fraction`` of the concept groups (``image_groups``) never
  trained on, validated in every domain (new concepts).

Every candidate recipe and every training-free baseline is trained or fitted on the same fold
and scored by the evaluation module's retrieval code on the fold's validation images and their
captions; the score of a candidate is its mean image-to-text R@1 over folds. Per-item hits are
kept, so a candidate's lead over a baseline gets the same paired interval as a test verdict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from alignkit.align.config import AlignConfig
from alignkit.features.pairs import CachedPairs, PairsError
from alignkit.errors import AlignkitError

FOLD_KINDS = ("domain", "concepts")
SELECTION_DIR = "recipe-selection"
MIN_FOLD_IMAGES = 10


@dataclass
class Fold:
    """Image rows to train on and image rows to validate on (with all their captions)."""

    name: str
    train: np.ndarray
    val: np.ndarray


def domain_of(key: str) -> str:
    """A pair key's domain: the part before the first ``/`` (empty when there is none)."""
    return key.split("/", 1)[0] if "/" in key else ""


def domain_folds(keys: Sequence[str], groups: np.ndarray) -> list[Fold]:
    """Leave-one-domain-out folds; validation keeps only images whose group training saw."""
    domains = np.array([domain_of(k) for k in keys])
    names = sorted(set(domains.tolist()))
    if len(names) < 2:
        return []
    folds = []
    for d in names:
        train = np.flatnonzero(domains != d)
        seen = np.isin(groups, groups[train])
        val = np.flatnonzero((domains == d) & seen)
        if len(train) >= MIN_FOLD_IMAGES and len(val) >= MIN_FOLD_IMAGES:
            folds.append(Fold(f"domain {d} held out", train, val))
    return folds


def concept_fold(groups: np.ndarray, fraction: float = 0.2, seed: int = 0) -> Fold | None:
    """Hold out whole groups, in a seeded hash order, until ``fraction`` of the images is reached."""
    if not 0 < fraction < 1:
        raise AlignkitError(f"the held-out concept fraction must lie in (0, 1), got {fraction}")
    order = sorted(set(groups.tolist()), key=lambda g: hashlib.sha256(f"select:{seed}:{g}".encode()).hexdigest())
    target, held, count = fraction * len(groups), set(), 0
    sizes = {g: int(n) for g, n in zip(*np.unique(groups, return_counts=True))}
    for g in order:
        if count >= target:
            break
        held.add(g)
        count += sizes[g]
    val = np.flatnonzero(np.isin(groups, list(held)))
    train = np.flatnonzero(~np.isin(groups, list(held)))
    if len(val) < MIN_FOLD_IMAGES or len(train) < MIN_FOLD_IMAGES:
        return None
    return Fold(f"{fraction:.0%} of concepts held out", train, val)


def make_folds(data: CachedPairs, kinds: Sequence[str] = FOLD_KINDS, fraction: float = 0.2, seed: int = 0) -> list[Fold]:
    """The folds of ``kinds`` that this data supports (a clear error when none does)."""
    bad = [k for k in kinds if k not in FOLD_KINDS]
    if bad:
        raise AlignkitError(f"unknown fold kind(s) {bad}; choose from {', '.join(FOLD_KINDS)}")
    groups = data.image_groups()
    folds: list[Fold] = []
    if "domain" in kinds:
        folds += domain_folds(data.image_keys, groups)
    if "concepts" in kinds:
        fold = concept_fold(groups, fraction, seed)
        folds += [fold] if fold else []
    if not folds:
        raise PairsError(f"the training pairs support none of the folds {list(kinds)} ({len(data.image_keys)} images, "
                         f"{len(set(groups.tolist()))} concept groups, domains from key prefixes: "
                         f"{sorted(set(domain_of(k) for k in data.image_keys))})")
    return folds


def rows_subset(data: CachedPairs, rows: np.ndarray) -> CachedPairs:
    """The pairs of image ``rows`` with all their captions, as a new in-memory data set."""
    keep = np.zeros(len(data.image_keys), dtype=bool)
    keep[rows] = True
    rows = np.flatnonzero(keep)
    text_rows = np.flatnonzero(keep[data.text_owner])
    image, text = data.pooled_features("image").numpy(), data.pooled_features("text").numpy()
    concepts = None if data.concepts is None else [data.concepts[i] for i in rows]
    return CachedPairs([data.image_keys[i] for i in rows], image[rows], [data.text_keys[j] for j in text_rows], text[text_rows],
                       concepts=concepts)


def fold_scores(model: Any, data: CachedPairs, fold: Fold) -> dict[str, Any]:
    """R@1 of any feature-level model (aligned or baseline) on a fold's validation rows: a
    retrieved caption (or image) of the query's concept group counts as a hit."""
    import torch
    import torch.nn.functional as F

    from alignkit.align.validation import retrieval_r1

    val = rows_subset(data, fold.val)
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
    from alignkit.align.trainer import train_pairs
    from alignkit.evaluate import make_baseline, paired_rows

    if not candidates:
        raise AlignkitError("no candidate recipes to choose from")
    train = train or train_pairs
    folds = list(folds) if folds is not None else make_folds(data)
    out = Path(out_dir)
    rows: list[dict[str, Any]] = []
    hits: dict[tuple[str, str], np.ndarray] = {}
    for fold in folds:
        sub = rows_subset(data, fold.train)
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

    from alignkit.align.model import AlignedModel
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
