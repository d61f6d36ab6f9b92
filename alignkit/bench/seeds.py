"""Several training seeds of one pair, folded into one row per (task, metric)."""

from __future__ import annotations

from typing import Any

import numpy as np


def mean_over_seeds(rows: list[dict[str, Any]], n_seeds: int) -> list[dict[str, Any]]:
    """Fold the extra seeds' rows into the "aligned" rows: value = mean over seeds, with the
    first seed's value, min and max kept; the per-seed rows move to section "seeds"."""
    if n_seeds == 1:
        return rows
    per_seed: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r["model"].startswith("aligned"):
            per_seed.setdefault((r["task"], r["metric"]), []).append(r["value"])
    out = []
    for r in rows:
        if r["model"].startswith("aligned@"):
            out.append({**r, "section": "seeds"})
        elif r["model"] == "aligned":
            values = per_seed[(r["task"], r["metric"])]
            out.append({**r, "value": float(np.mean(values)), "first_seed_value": r["value"], "seeds": len(values),
                        "seed_min": float(min(values)), "seed_max": float(max(values))})
        else:
            out.append(r)
    return out
