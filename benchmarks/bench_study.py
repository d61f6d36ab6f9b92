"""The selection study as a results file: does a similarity score predict which pair aligns best?

Runs `alignkit bench --study` (the same function, its defaults: 4 x 4 real encoders at final and
middle layers plus the pixel floor, 20 pairs, every pair aligned with the demo's recipe and 2 seeds,
evaluated on the demo's six held-out tasks, ranked at 200, 500 and 1,000 probe pairs) into
``reports/study`` and writes ``benchmarks/results/selection_study.{md,json}``.

Usage: HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python benchmarks/bench_study.py [--out reports/study]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from provenance import ROOT, header, provenance, table

RESULTS = ROOT / "benchmarks" / "results"


def _ci(r: dict) -> str:
    if r.get("spearman_low") is None or not math.isfinite(r["spearman"]):
        return ""
    return f"[{r['spearman_low']:+.2f}, {r['spearman_high']:+.2f}]"


def _rows(study: list[dict], n: int, pairs: str, target: str) -> list[dict]:
    from alignkit.bench.page import best_predictors

    return [{"metric": r["metric"], "variant": r["variant"], "usable": "yes" if r["usable"] else f"no ({r['degenerate_pairs']} degenerate)",
             "pairs": r["n"], "Spearman": r["spearman"], "95% interval": _ci(r), "Kendall": r["kendall"]}
            for r in best_predictors(study, n, pairs, target)]


def summary(study: list[dict], n: int) -> str:
    """The answer in plain words, computed from the rows (never typed in)."""
    from alignkit.bench.page import best_predictors

    usable = [r for r in best_predictors(study, n) if r["usable"] and math.isfinite(r["spearman"])]
    if not usable:
        return "No metric was usable on every pair without a control."
    best = usable[0]
    excl = best.get("spearman_low", -1) > 0
    lines = [f"Best predictor of aligned accuracy among pairs without a control, at {n} probe pairs: "
             f"{best['metric']} ({best['variant']}), Spearman {best['spearman']:+.2f} {_ci(best)} over {best['n']} pairs; "
             + ("the interval excludes zero." if excl else "the interval includes zero, so no metric is shown to predict.")]
    positive = [r for r in usable if r.get("spearman_low", -1) > 0]
    lines.append(f"Metrics (raw or calibrated) whose interval lies above zero: {len(positive)} of {len(usable)} usable"
                 + (f" ({', '.join(sorted({r['metric'] + ' ' + r['variant'] for r in positive}))})." if positive else "."))
    cal = {(r["metric"], r["variant"]): r["spearman"] for r in usable}
    better = [m for (m, v) in cal if v == "calibrated" and (m, "raw") in cal and cal[(m, "calibrated")] > cal[(m, "raw")]]
    lines.append(f"Calibration raises Spearman for {len(better)} of {sum(1 for (m, v) in cal if v == 'raw')} metrics "
                 f"({', '.join(better) or 'none'}).")
    return "\n".join(f"- {line}" for line in lines)


def main() -> None:
    from alignkit.align import AlignConfig
    from alignkit.bench import run_bench, study_config, write_bench_outputs

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "study")
    args = ap.parse_args()
    config = study_config()
    recipe = AlignConfig().with_overrides(config.recipe).to_dict()
    facts = provenance(recipe)
    t0 = time.perf_counter()
    outcome = run_bench(config, args.out, progress=False)
    write_bench_outputs(outcome, args.out, "alignkit bench --study", facts["command"], config.to_dict(), [])
    facts["wall_seconds"] = round(time.perf_counter() - t0, 1)
    study = [r for r in outcome.rows if r["section"] == "study"]
    pairs = [r for r in outcome.rows if r["section"] == "study-pairs"]
    (RESULTS / "selection_study.json").write_text(json.dumps({"provenance": facts, "config": config.to_dict(), "pairs": pairs,
                                                              "study": study}, indent=1, default=float), encoding="utf-8")
    n0 = config.rank.n_probe
    text = header("Selection study: does the similarity score pick the pair that aligns best?", facts)
    text += (f"{len(pairs)} pairs ({sum(not p['control'] for p in pairs)} without a control): image encoders `{config.vision_zoo}`, "
             f"text encoders `{config.text_zoo}`. Every pair aligned with the demo's recipe (digest above) on `{config.train}`, "
             f"{config.seeds} seeds each, evaluated on {', '.join(f'`{t}`' for t in config.tasks)}; accuracy = mean headline "
             f"number over tasks and seeds. Scores on the first {', '.join(map(str, config.probe_sizes))} pairs of "
             f"`{config.probe}`. Spearman with a 95% bootstrap interval over pairs ({config.pair_bootstrap} resamples). "
             f"Wall time {facts['wall_seconds']} s.\n\n## The answer\n\n{summary(study, n0)}\n\n")
    text += f"## Against aligned accuracy, pairs without a control, {n0} probe pairs\n\n" + table(r := _rows(study, n0, "no controls", "aligned"), list(r[0])) + "\n\n"
    text += "## The same over all pairs (controls included)\n\n" + table(r := _rows(study, n0, "all", "aligned"), list(r[0])) + "\n\n"
    text += ("## Against the best training-free baseline's accuracy, pairs without a control\n\n"
             + table(r := _rows(study, n0, "no controls", "best baseline"), list(r[0])) + "\n\n")
    sizes = sorted({r["n_probe"] for r in study})
    by_size = []
    for m in config.rank.metrics:
        for v in ("raw", "calibrated"):
            row = {"metric": m, "variant": v}
            for n in sizes:
                hit = next(r for r in study if (r["metric"], r["variant"], r["n_probe"], r["pairs"], r["target"]) == (m, v, n, "no controls", "aligned"))
                row[f"n={n}"] = (f"{hit['spearman']:+.2f} {_ci(hit)}" if math.isfinite(hit["spearman"]) else "") + ("" if hit["usable"] else " (degenerate)")
            by_size.append(row)
    text += "## Probe size: Spearman against aligned accuracy, pairs without a control\n\n" + table(by_size, list(by_size[0])) + "\n\n"
    prow = [{"vision": p["vision"], "text": p["text"], "control": p["control"], "aligned": p["aligned"], "seed sd": p["seed_sd"],
             "best baseline": f"{p['best_baseline']} {p['best_baseline_value']:.3f}"} for p in sorted(pairs, key=lambda p: -p["aligned"])]
    text += "## Per pair\n\n" + table(prow, list(prow[0])) + "\n"
    (RESULTS / "selection_study.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
