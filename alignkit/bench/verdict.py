"""Per task: does the aligned model beat every training-free baseline, and chance, beyond the noise?

Stated on each task's headline number (top-1 for classification, image-to-text R@1 for
retrieval). Against each baseline the per-item difference gets a paired bootstrap interval over
test items (and over training seeds where several were run, ``alignkit.evaluate.paired``):

- WIN: every baseline's interval lies above zero and the aligned model beats chance;
- LOSS: some baseline's interval lies below zero (that baseline is better beyond the noise);
- TIE: otherwise (some difference is within its interval).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from alignkit.evaluate.paired import call, paired_difference


def verdicts(rows: Sequence[dict[str, Any]], aligned: str, baselines: Sequence[str],
             hits: Mapping[tuple[str, str], np.ndarray] | None = None) -> list[dict[str, Any]]:
    """One verdict per task from headline rows ``{task, metric, value, chance, model}``.

    ``hits[(task, model)]`` holds per-item hits, (items,) or (seeds, items) for the aligned
    model; without them (older results) a verdict can only be a strict comparison and is
    marked as such (``interval: None``).
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
            "calls": calls, "intervals": comparisons, "seeds": int(np.atleast_2d(hits[(task, aligned)]).shape[0]) if (task, aligned) in hits else 1,
            "text": _sentence(task, me, others, calls, comparisons, outcome, beats_chance),
        })
    return out


def _sentence(task: str, me: dict[str, Any], others: dict[str, float], calls: dict[str, str],
              comparisons: dict[str, dict[str, float]], outcome: str, beats_chance: bool) -> str:
    head = f"{task} ({me['metric']}): aligned {me['value']:.3f}"
    if not others:
        return f"{head}; no baseline was evaluated; {'beats' if beats_chance else 'does NOT beat'} chance {me['chance']:.3f}."
    parts = []
    for b, v in sorted(others.items(), key=lambda kv: -kv[1]):
        c = comparisons.get(b)
        ci = f", diff {c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]" if c else ""
        parts.append(f"{b} {v:.3f} ({calls[b]}{ci})")
    kind = "paired 95% interval" if comparisons else "strict comparison, no per-item scores"
    word = {"win": "WIN", "loss": "LOSS", "tie": "TIE"}[outcome]
    return (f"{word}: {head} vs {'; '.join(parts)} [{kind}]; "
            f"{'beats' if beats_chance else 'does NOT beat'} chance {me['chance']:.3f}.")
