"""`alignkit demo`'s figures as results files: the verdicts and the crossover curves.

Runs the demo pipeline (the same function `alignkit demo` runs, with the demo's pair, recipe and
training set; `alignkit.bench.demo.recorded_config`: five training seeds, the crossover sizes and
the six held-out tasks on every item they have) into ``reports/demo`` and writes

- ``benchmarks/results/demo.{md,json}``: per task, the aligned model (mean of the seeds) beside every
  training-free baseline, with the paired 95% interval of each difference and the WIN / TIE / LOSS call;
- ``benchmarks/results/crossover.{md,json}``: the aligned model (seed 0) and every baseline against
  the number of training images (the demo's data fractions and all), the same seeds per size, paired intervals: where the heads overtake each baseline;
- ``docs/crossover.png``: the crossover as a figure (the bench page's), drawn from the run's
  ``results.jsonl``; ``--figure-only`` draws it again from a finished run without rerunning it.

Usage: HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python benchmarks/bench_demo.py [--out reports/demo] [--figure-only]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from provenance import ROOT, header, provenance, table

RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    from alignkit.align import AlignConfig
    from alignkit.bench import budget_note, run_bench, write_bench_outputs
    from alignkit.bench.demo import recorded_config

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "demo")
    ap.add_argument("--vision-zoo", help="rank only these image encoders (default: the demo's zoo)")
    ap.add_argument("--text-zoo", help="rank only these text encoders (default: the demo's zoo)")
    ap.add_argument("--figure-only", action="store_true", help="draw docs/crossover.png from the finished run in --out")
    args = ap.parse_args()
    if args.figure_only:
        draw_crossover(args.out, json.loads((RESULTS / "demo.json").read_text(encoding="utf-8"))["chosen"])
        return
    config = recorded_config()
    if args.vision_zoo:
        config.vision_zoo = args.vision_zoo
    if args.text_zoo:
        config.text_zoo = args.text_zoo
    recipe = AlignConfig().with_overrides(config.recipe).to_dict()
    facts = provenance(recipe)
    t0 = time.perf_counter()
    outcome = run_bench(config, args.out, progress=False)
    write_bench_outputs(outcome, args.out, "alignkit demo", facts["command"], config.to_dict(), [budget_note(config)])
    facts["wall_seconds"] = round(time.perf_counter() - t0, 1)

    verdicts = [{k: v for k, v in d.items() if k != "text"} for d in outcome.verdicts]
    (RESULTS / "demo.json").write_text(json.dumps({"provenance": facts, "config": config.to_dict(), "chosen": outcome.chosen,
                                                   "verdicts": verdicts}, indent=1, default=float), encoding="utf-8")
    rows = []
    for v in outcome.verdicts:
        best = v["best_baseline"]
        ci = v["intervals"].get(best, {})
        rows.append({"task": v["task"], "metric": v["metric"], "chance": v["chance"], "aligned": v["aligned"],
                     "best baseline": f"{best} {v['best_baseline_value']:.3f}",
                     "diff vs best [95% CI]": f"{ci.get('diff', float('nan')):+.3f} [{ci.get('low', float('nan')):+.3f}, {ci.get('high', float('nan')):+.3f}]",
                     "verdict": v["verdict"].upper()})
    counts = {k: sum(v["verdict"] == k for v in outcome.verdicts) for k in ("win", "tie", "loss")}
    text = header("`alignkit demo`: the aligned model against the training-free baselines", facts)
    text += (f"Chosen pair: {outcome.chosen[0]} + {outcome.chosen[1]} ({outcome.chosen_note}). Training pairs "
             f"`{config.train}`; {config.seeds} training seeds; recipe: the one chosen on training folds "
             "(AlignConfig's default, alignkit/align/recipe.py, = `benchmarks/recipes/selected.yaml`; digest above). "
             "Aligned = mean of the seeds. Verdict: paired bootstrap over test items and seeds against every baseline "
             "(WIN: all intervals above zero; LOSS: one below; TIE: otherwise). Wall time "
             f"{facts['wall_seconds']} s (features cached by earlier runs are reused).\n\n")
    text += table(rows, list(rows[0])) + f"\n\nWins {counts['win']}, ties {counts['tie']}, losses {counts['loss']} of {len(rows)} tasks.\n\n"
    per_baseline = [{"task": v["task"], **{b: f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}] {v['calls'][b]}"
                                           for b, c in v["intervals"].items()}} for v in outcome.verdicts]
    text += "Every baseline (aligned minus baseline, 95% interval, call):\n\n" + table(per_baseline, list(per_baseline[0])) + "\n"
    (RESULTS / "demo.md").write_text(text, encoding="utf-8")

    full_images = next(r["train_images"] for r in outcome.rows if r["section"] == "zero-shot"
                       and (r["vision"], r["text"]) == outcome.chosen)
    sizes = [*outcome.crossover, {"train_images": full_images, "seeds": config.seeds, "verdicts": outcome.verdicts}]
    crows = []
    for size in sizes:
        for v in size["verdicts"]:
            best = v["best_baseline"]
            ci = v["intervals"].get(best, {})
            crows.append({"train images": size["train_images"], "seeds": size["seeds"], "task": v["task"],
                          "aligned (mean of seeds)": v["aligned"], "best baseline": f"{best} {v['best_baseline_value']:.3f}",
                          "diff vs best [95% CI]": f"{ci.get('diff', float('nan')):+.3f} [{ci.get('low', float('nan')):+.3f}, {ci.get('high', float('nan')):+.3f}]",
                          "verdict": v["verdict"].upper(),
                          **{f"vs {b}": c for b, c in v["calls"].items()}})
    summary = crossover_summary(sizes, config.baselines)
    (RESULTS / "crossover.json").write_text(json.dumps({"provenance": facts, "config": config.to_dict(), "sizes": sizes,
                                                        "rows": crows, "summary": summary}, indent=1, default=float), encoding="utf-8")
    ctext = header("Crossover: aligned heads and training-free baselines against training size", facts)
    ctext += (f"Headline number per task (top-1 or image-to-text R@1) for nested subsets of the training images "
              f"(`{config.train}`, fractions {list(config.data_fractions)} and all; one subset per size, drawn with seed "
              f"{config.seed}), every model fitted on the same subset, the heads with {config.seeds} training seeds. "
              "Verdicts as in `demo.md`: paired bootstrap over test items and seeds against every baseline. "
              "From the same run as `demo.md`.\n\n" + table(crows, list(crows[0])) + "\n\n"
              + "\n".join(f"- {line}" for line in summary) + "\n")
    (RESULTS / "crossover.md").write_text(ctext, encoding="utf-8")
    draw_crossover(args.out, outcome.chosen)
    print(text)
    print(ctext)


def crossover_summary(sizes: list[dict], baselines) -> list[str]:
    """Plain words per size and per baseline: how many tasks the heads win, tie and lose, and
    from which size on they stop losing to a baseline (or that they never do)."""
    lines = []
    for size in sizes:
        calls = [v["verdict"] for v in size["verdicts"]]
        lines.append(f"{size['train_images']} images: {calls.count('win')} wins, {calls.count('tie')} ties, "
                     f"{calls.count('loss')} losses over {len(calls)} tasks (against the best of every baseline)")
    for b in baselines:
        per_size = [(size["train_images"], [v["calls"].get(b) for v in size["verdicts"]]) for size in sizes]
        wins = [(n, c.count("win"), c.count("loss")) for n, c in per_size]
        opens = next((n for n, w, lo in wins if w > lo), None)
        trend = ", ".join(f"{n}: {w} won / {lo} lost" for n, w, lo in wins)
        lines.append(f"vs {b}: " + (f"the heads win more tasks than they lose from {opens} images on" if opens
                                     else "the heads never win more tasks than they lose") + f" ({trend})")
    return lines


def draw_crossover(out: Path, chosen: list[str]) -> None:
    """docs/crossover.png from the bench's saved rows: the figure the bench page shows."""
    from alignkit.bench.crossover import crossover_plot
    from alignkit.report import read_table
    from alignkit.report.html import png_bytes

    fig = crossover_plot(read_table(Path(out) / "results.jsonl").to_dicts(), chosen)
    if fig is None:
        raise SystemExit(f"{out}/results.jsonl holds one training size: no crossover to draw")
    (ROOT / "docs" / "crossover.png").write_bytes(png_bytes(fig))


if __name__ == "__main__":
    main()
