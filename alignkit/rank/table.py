"""The ranking as tables: scored rows -> ranked pairs, per-pair notes, best layers, JSON, matrices.

Pure functions over the tidy rows `alignkit.rank.scoring.score_all` returns; the CLI, the
rank page and the bench page all read a ranking through these.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.stats import spearmanr

from alignkit.errors import AlignkitError
from alignkit.similarity.stats import calibrate, paired_gap


def ranking(rows: list[dict[str, Any]], primary: str) -> list[dict[str, Any]]:
    """Final-layer pairs, best first by the primary metric's calibrated score (then raw)."""
    final = [r for r in rows if r["vision_layer"] is None and r["text_layer"] is None]
    by_pair: dict[tuple[str, str], dict[str, Any]] = {}
    for r in final:
        entry = by_pair.setdefault((r["vision"], r["text"]), {"vision": r["vision"], "text": r["text"], "control": r["control"]})
        entry[r["metric"]] = r["raw"]
        entry[f"{r['metric']}_cal"] = r["calibrated"]
        entry[f"{r['metric']}_ci"] = (r["ci_low"], r["ci_high"])
        entry[f"{r['metric']}_cal_ci"] = (r.get("calibrated_ci_low", float("nan")), r.get("calibrated_ci_high", float("nan")))
        entry[f"{r['metric']}_p"] = r["p_value"]
        entry[f"{r['metric']}_error"] = r.get("error") or ""
        entry[f"{r['metric']}_degenerate"] = bool(r.get("degenerate"))
        entry[f"{r['metric']}_rank"] = r.get("retained_rank")
        entry[f"{r['metric']}_note"] = r.get("note") or ""
        null = r.get("null_mean", float("nan"))
        entry[f"{r['metric']}_cal_resampled"] = [calibrate(v, null) for v in r.get("resampled") or []]
    if not by_pair:
        raise AlignkitError("no pair was scored")
    def key(e: dict[str, Any]) -> tuple[float, float]:
        cal = e.get(f"{primary}_cal")
        return (-(cal if cal is not None and np.isfinite(cal) else -np.inf), -e.get(primary, -np.inf))
    ranked = sorted(by_pair.values(), key=key)
    for i, e in enumerate(ranked, 1):
        e["rank"] = i
    return ranked


def ties(ranked: list[dict[str, Any]], primary: str, confidence: float = 0.95) -> list[dict[str, Any]]:
    """The pairs statistically tied with the best non-control pair: the paired interval of their
    difference in calibrated ``primary`` (over the same bootstrap resamples) holds zero."""
    real = [e for e in ranked if not e["control"]]
    if len(real) < 2 or not real[0].get(f"{primary}_cal_resampled"):
        return []
    best, out = real[0], []
    for e in real[1:]:
        if len(e.get(f"{primary}_cal_resampled") or []) != len(best[f"{primary}_cal_resampled"]):
            continue
        diff, lo, hi = paired_gap(best[f"{primary}_cal"], best[f"{primary}_cal_resampled"], e[f"{primary}_cal"],
                                  e[f"{primary}_cal_resampled"], confidence=confidence)
        if np.isfinite(diff) and lo <= 0 <= hi:
            out.append({"rank": e["rank"], "vision": e["vision"], "text": e["text"], "difference": diff, "low": lo, "high": hi})
    return out


def floor_note(ranked: list[dict[str, Any]], metrics: Sequence[str], permutations: int) -> str:
    """A warning when some p-value sits at its permutation floor 1/(permutations+1): the null never
    reached the score, and the real p-value may be far smaller than the one shown."""
    if permutations < 1:
        return ""
    floor = 1.0 / (permutations + 1)
    at = sorted({m for e in ranked for m in metrics if np.isclose(e.get(f"{m}_p", np.nan), floor)})
    if not at:
        return ""
    return (f"warning: p-values of {', '.join(at)} on some pairs are at the permutation floor 1/({permutations}+1) = "
            f"{floor:.3f}: no shuffled pairing scored as high, so the real p-value may be much smaller; raise "
            "--permutations to resolve it")


def pair_notes(entry: dict[str, Any], metrics: Sequence[str], n: int | None = None) -> str:
    """One line on what is wrong with a ranked pair's scores: failed metrics (with the reason),
    metrics in a degenerate regime, numeric fallbacks taken; '' when nothing is."""
    parts = []
    for m in metrics:
        if entry.get(f"{m}_error"):
            parts.append(f"{m} not computed ({entry[f'{m}_error']})")
        if entry.get(f"{m}_degenerate"):
            of = f" of {n}" if n else ""
            parts.append(f"{m} degenerate ({entry.get(f'{m}_rank')} components kept{of} rows; the score mostly measures that ratio)")
        if entry.get(f"{m}_note"):
            parts.append(f"{m}: {entry[f'{m}_note']}")
    return "; ".join(parts)


def best_layers(rows: list[dict[str, Any]], primary: str) -> list[dict[str, Any]]:
    """For every encoder scored layer-wise: its best layer by the primary metric's mean raw score."""
    scores: dict[tuple[str, str, Any], list[float]] = {}
    for r in rows:
        if r["metric"] != primary:
            continue
        if r["vision_layer"] is not None or (r["text_layer"] is None and r["vision_layer"] is None):
            scores.setdefault(("image", r["vision"], r["vision_layer"]), []).append(r["raw"])
        if r["text_layer"] is not None or (r["text_layer"] is None and r["vision_layer"] is None):
            scores.setdefault(("text", r["text"], r["text_layer"]), []).append(r["raw"])
    out = []
    for modality, spec in sorted({(m, s) for m, s, _ in scores}):
        layers = {l: float(np.mean(v)) for (m, s, l), v in scores.items() if m == modality and s == spec}
        if len(layers) < 2:
            continue
        best = max(layers, key=lambda l: layers[l])
        out.append({"modality": modality, "encoder": spec, "best_layer": "final" if best is None else best,
                    f"best_{primary}": layers[best], f"final_{primary}": layers[None],
                    "layers_scored": len(layers)})
    return out


def pair_json(entry: dict[str, Any], metrics: Sequence[str]) -> dict[str, Any]:
    """One ranked pair as the JSON object `--format json` prints."""
    out: dict[str, Any] = {"rank": entry["rank"], "vision": entry["vision"], "text": entry["text"], "control": entry["control"]}
    for m in metrics:
        if m in entry:
            lo, hi = entry[f"{m}_ci"]
            clo, chi = entry[f"{m}_cal_ci"]
            out[m] = {"raw": entry[m], "ci_low": lo, "ci_high": hi, "calibrated": entry[f"{m}_cal"],
                      "calibrated_ci_low": clo, "calibrated_ci_high": chi, "p_value": entry[f"{m}_p"],
                      "error": entry.get(f"{m}_error") or None, "degenerate": entry.get(f"{m}_degenerate", False),
                      "retained_rank": entry.get(f"{m}_rank"), "note": entry.get(f"{m}_note") or None}
    return out


def metric_matrix(ranked: list[dict[str, Any]], metric: str, calibrated: bool) -> tuple[np.ndarray, list[str], list[str]]:
    vision = list(dict.fromkeys(e["vision"] for e in ranked))
    text = list(dict.fromkeys(e["text"] for e in ranked))
    m = np.full((len(vision), len(text)), np.nan)
    key = f"{metric}_cal" if calibrated else metric
    for e in ranked:
        if key in e and e[key] is not None:
            m[vision.index(e["vision"]), text.index(e["text"])] = e[key]
    return m, vision, text


def agreement(ranked: list[dict[str, Any]], metrics: Sequence[str]) -> np.ndarray:
    """Spearman correlation between metrics' calibrated scores across pairs."""
    cols = np.array([[e.get(f"{m}_cal", np.nan) for e in ranked] for m in metrics], dtype=float)
    out = np.eye(len(metrics))
    for i in range(len(metrics)):
        for j in range(i + 1, len(metrics)):
            ok = np.isfinite(cols[i]) & np.isfinite(cols[j])
            varies = ok.sum() >= 3 and np.ptp(cols[i][ok]) > 0 and np.ptp(cols[j][ok]) > 0  # a constant has no order
            rho = spearmanr(cols[i][ok], cols[j][ok]).statistic if varies else np.nan
            out[i, j] = out[j, i] = rho
    return out


def label(e: dict[str, Any]) -> str:
    return f"{e['vision']} + {e['text']}" + (" (control)" if e["control"] else "")
