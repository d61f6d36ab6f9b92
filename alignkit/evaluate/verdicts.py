"""Per task: does the aligned model beat every training-free baseline, and chance, beyond the noise?

Stated on each task's headline number (``HEADLINE``: top-1 for classification, image-to-text R@1
for retrieval). Against each baseline the per-item difference gets a paired bootstrap interval
over test items (and over training seeds where several were run, ``alignkit.evaluate.paired``):

- WIN: every baseline's interval lies above zero and the aligned model beats chance;
- LOSS: some baseline's interval lies below zero (that baseline is better beyond the noise);
- TIE: otherwise (some difference is within its interval).

``alignkit eval --baseline`` and ``alignkit bench``/``demo`` both call ``verdicts``; the tables,
counts and figures every page and terminal shows come from ``verdict_rows`` and ``tally``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from alignkit.evaluate.paired import call, paired_difference

# the one number a verdict is about, per task kind
HEADLINE = {"classification": "top1", "retrieval": "i2t_R@1"}
OUTCOMES = ("win", "tie", "loss")


def verdicts(rows: Sequence[dict[str, Any]], aligned: str, baselines: Sequence[str],
             hits: Mapping[tuple[str, str], np.ndarray] | None = None) -> list[dict[str, Any]]:
    """One verdict per task from headline rows ``{task, metric, value, chance, model}``.

    ``hits[(task, model)]`` holds per-item hits, (items,) or (seeds, items) for the aligned
    model; without them (older results) a verdict can only be a strict comparison and is
    marked as such (``intervals`` empty).
    """
    hits = hits or {}
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = {r["model"]: r for r in rows if r["task"] == task}
        if aligned not in mine:
            continue
        me = mine[aligned]
        others = {b: mine[b]["value"] for b in baselines if b in mine}
        best = max(others, key=others.get) if others else None
        comparisons = {}
        for b in others:
            if (task, aligned) in hits and (task, b) in hits:
                comparisons[b] = paired_difference(hits[(task, aligned)], hits[(task, b)])
        beats_chance = me["value"] > me["chance"]
        if others and len(comparisons) == len(others):
            calls = {b: call(c) for b, c in comparisons.items()}
            if any(c == "loss" for c in calls.values()):
                outcome = "loss"
            elif all(c == "win" for c in calls.values()) and beats_chance:
                outcome = "win"
            else:
                outcome = "tie"
        else:
            calls = {b: ("win" if me["value"] > v else "loss") for b, v in others.items()}
            outcome = "win" if others and all(c == "win" for c in calls.values()) and beats_chance else "loss"
        out.append({
            "task": task, "metric": me["metric"], "aligned": me["value"], "chance": me["chance"],
            "best_baseline": best, "best_baseline_value": others.get(best) if best else None,
            "beats_chance": beats_chance, "beats_all_baselines": outcome == "win", "verdict": outcome,
            "calls": calls, "intervals": comparisons, "baseline_values": others,
            "seeds": int(np.atleast_2d(hits[(task, aligned)]).shape[0]) if (task, aligned) in hits else 1,
        })
    return out


def verdict_rows(found: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The verdicts as a table: one row per task and baseline (best baseline first), with the
    difference, its 95% interval and that comparison's call; a task without baselines gets one row."""
    out = []
    for v in found:
        head = {"task": v["task"], "metric": v["metric"], "verdict": v["verdict"].upper(), "aligned": v["aligned"],
                "chance": v["chance"]}
        others = v.get("baseline_values") or {}
        if not others:
            out.append({**head, "baseline": "(none)"})
        for b, value in sorted(others.items(), key=lambda kv: -kv[1]):
            c = v["intervals"].get(b)
            out.append({**head, "baseline": b, "baseline value": value, "difference": v["aligned"] - value,
                        "95% low": c["low"] if c else None, "95% high": c["high"] if c else None,
                        "call": v["calls"][b] if c else f"{v['calls'][b]} (no per-item scores)"})
    return out


def plural(n: int, word: str) -> str:
    """``1 win``, ``2 wins``, ``1 loss``, ``0 losses``."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}{'es' if word.endswith(('s', 'x', 'ch', 'sh')) else 's'}"


def tally(found: Sequence[dict[str, Any]]) -> str:
    """``2 wins, 1 tie, 0 losses`` over the verdicts."""
    return ", ".join(plural(sum(v["verdict"] == k for v in found), k) for k in OUTCOMES)


def seeds_note(found: Sequence[dict[str, Any]]) -> str:
    """What the intervals cover: test items and training seeds, or (one seed) test items only."""
    seeds = max((v.get("seeds", 1) for v in found), default=1)
    if seeds > 1:
        return f"paired 95% intervals over test items and {seeds} training seeds"
    return ("one training seed: the paired 95% intervals cover test-item noise only, not the spread between "
            "training runs (train more seeds for that)")


def model_verdicts(results: Sequence[Any], aligned: Sequence[str], baselines: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Verdicts of each aligned model against the baselines from ``TaskResult``s (``alignkit eval``);
    per-item hits are paired only where both sides scored the same items."""
    rows = [r for res in results for r in res.rows if r["metric"] == HEADLINE[res.kind]]
    hits = {(res.task, res.rows[0]["model"]): res.hits for res in results if res.rows and res.hits is not None}
    out = {}
    for name in aligned:
        paired = {k: h for k, h in hits.items()
                  if k[1] == name or (k[1] in baselines and (k[0], name) in hits and len(hits[(k[0], name)]) == len(h))}
        if (found := verdicts(rows, name, baselines, paired)) and baselines:
            out[name] = found
    return out
