"""Per task: does the aligned model beat every training-free baseline, and chance?

Stated on each task's headline number (top-1 for classification, image-to-text R@1 for
retrieval), strictly: a tie is not a win.
"""

from __future__ import annotations

from typing import Any, Sequence


def verdicts(rows: Sequence[dict[str, Any]], aligned: str, baselines: Sequence[str]) -> list[dict[str, Any]]:
    """One verdict per task from headline rows ``{task, metric, value, chance, model}``."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = {r["model"]: r for r in rows if r["task"] == task}
        if aligned not in mine:
            continue
        me = mine[aligned]
        others = {b: mine[b]["value"] for b in baselines if b in mine}
        losses = {b: v for b, v in others.items() if v >= me["value"]}
        best = max(others, key=others.get) if others else None
        beats_chance = me["value"] > me["chance"]
        out.append({
            "task": task, "metric": me["metric"], "aligned": me["value"], "chance": me["chance"],
            "best_baseline": best, "best_baseline_value": others.get(best) if best else None,
            "beats_chance": beats_chance, "beats_all_baselines": bool(others) and not losses,
            "text": _sentence(task, me, others, losses, best, beats_chance),
        })
    return out


def _sentence(task: str, me: dict[str, Any], others: dict[str, float], losses: dict[str, float], best: str | None,
              beats_chance: bool) -> str:
    head = f"{task} ({me['metric']}): aligned {me['value']:.3f}"
    chance = f"chance {me['chance']:.3f}"
    if not others:
        base = "no baseline was evaluated"
    elif not losses:
        base = f"beats every training-free baseline (best: {best} {others[best]:.3f})"
    else:
        lost = ", ".join(f"{b} {v:.3f}" for b, v in sorted(losses.items(), key=lambda kv: -kv[1]))
        base = f"does NOT beat every training-free baseline (not beaten: {lost})"
    return f"{head} {base}; {'beats' if beats_chance else 'does NOT beat'} {chance}."
