"""The selection study: does a similarity score, measured on probe pairs before any training,
predict how well a pair aligns?

For every probe size, each metric (raw and calibrated) is rank-correlated across the aligned
pairs with two targets: the aligned model's mean headline accuracy (mean over its training
seeds, then over the tasks) and the best training-free baseline's (the baseline with the best
mean over the tasks, per pair). Correlations come with bootstrap intervals over pairs, once over
all pairs and once without the control pairs (controls separate easily from real encoders and
can carry a correlation on their own). A metric degenerate or not computed on any pair at a
probe size is marked unusable there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from alignkit.bench.correlation import rank_correlation

Pair = tuple[str, str]


def pair_accuracy(rows: list[dict[str, Any]], baselines: tuple[str, ...]) -> dict[Pair, dict[str, Any]]:
    """Per aligned pair: the mean headline accuracy over seeds and tasks, the spread of the
    per-seed means (sample sd), and the best training-free baseline with its mean."""
    aligned: dict[Pair, list[float]] = {}
    per_seed: dict[Pair, dict[str, list[float]]] = {}
    base: dict[Pair, dict[str, list[float]]] = {}
    control: dict[Pair, bool] = {}
    for r in rows:
        if r.get("section") not in ("zero-shot", "seeds") or not r.get("headline"):
            continue
        key = (r["vision"], r["text"])
        if r["section"] == "seeds":
            per_seed.setdefault(key, {}).setdefault(r["model"], []).append(r["value"])
        elif r["model"] == "aligned":
            aligned.setdefault(key, []).append(r["value"])
            per_seed.setdefault(key, {}).setdefault("first", []).append(r.get("first_seed_value", r["value"]))
            control[key] = bool(r.get("control"))
        elif r["model"] in baselines:
            base.setdefault(key, {}).setdefault(r["model"], []).append(r["value"])
    out = {}
    for key, values in aligned.items():
        seeds = [float(np.mean(v)) for v in per_seed[key].values()]
        means = {m: float(np.mean(v)) for m, v in base.get(key, {}).items()}
        best = max(means, key=lambda m: means[m]) if means else None
        out[key] = {"aligned": float(np.mean(values)), "seeds": len(seeds),
                    "seed_sd": float(np.std(seeds, ddof=1)) if len(seeds) > 1 else math.nan,
                    "best_baseline": best, "best_baseline_value": means.get(best, math.nan) if best else math.nan,
                    "control": control[key]}
    return out


def study_rows(by_size: dict[int, list[dict[str, Any]]], rows: list[dict[str, Any]], metrics: tuple[str, ...],
               baselines: tuple[str, ...], bootstrap: int, seed: int) -> list[dict[str, Any]]:
    """Rows of section ``study-pairs`` (one per aligned pair) and ``study`` (one per probe size,
    target, pair set, metric and variant)."""
    acc = pair_accuracy(rows, baselines)
    out: list[dict[str, Any]] = [{"section": "study-pairs", "vision": v, "text": t, **a} for (v, t), a in acc.items()]
    for n, ranked in sorted(by_size.items()):
        entries = [e for e in ranked if (e["vision"], e["text"]) in acc]
        for pairs in ("all", "no controls"):
            chosen = [e for e in entries if pairs == "all" or not e["control"]]
            for target, field in (("aligned", "aligned"), ("best baseline", "best_baseline_value")):
                y = [acc[(e["vision"], e["text"])][field] for e in chosen]
                for m in metrics:
                    bad = sum(bool(e.get(f"{m}_degenerate") or e.get(f"{m}_error")) for e in chosen)
                    for variant, key in (("raw", m), ("calibrated", f"{m}_cal")):
                        x = [float(e.get(key, math.nan)) for e in chosen]
                        out.append({"section": "study", "n_probe": n, "pairs": pairs, "target": target, "metric": m,
                                    "variant": variant, **rank_correlation(x, y, bootstrap, seed),
                                    "usable": bad == 0, "degenerate_pairs": bad})
    return out
