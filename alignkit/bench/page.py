"""The benchmark page: one tidy results table and one self-contained HTML report of a bench run."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from alignkit.align.model.run_state import REFIT
from alignkit.align.training.run_folder import SELECTION, read_metrics
from alignkit.evaluate import compare_models
from alignkit.bench.crossover import crossover_figure
from alignkit.evaluate.page import verdict_section
from alignkit.provenance import run_provenance
from alignkit.report import Report, plots, write_table
from alignkit.rank.table import floor_note, label, metric_matrix, pair_notes
from alignkit.locks import locks_folder

if TYPE_CHECKING:
    from alignkit.bench.runner import BenchOutcome


def machine_facts() -> dict[str, Any]:
    """What the numbers were measured on (timings depend on it; accuracies should not)."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "load_average_at_report": [round(x, 2) for x in load] if load else None}


@locks_folder("out", "output folder")
def write_bench_outputs(outcome: BenchOutcome, out: str | Path, title: str, command: str, config: dict[str, Any],
                        intro: Sequence[str] = ()) -> Path:
    """``results.{parquet,csv,jsonl}`` (every number), ``rank.*`` (full ranking rows) and ``index.html``."""
    out = Path(out)
    write_table(outcome.rows, out / "results")
    write_table(outcome.rank_rows, out / "rank")
    rows = outcome.rows
    chosen = outcome.chosen
    rep = Report(title, f"chosen pair: {chosen[0]} + {chosen[1]} ({outcome.chosen_note})")
    rep.code(command)
    for line in intro:
        rep.note(line)
    _verdicts(rep, outcome)
    _ranking(rep, outcome, config)
    _zero_shot(rep, rows, outcome)
    _curves(rep, outcome)
    _score_vs_accuracy(rep, outcome, config)
    _study(rep, outcome, config)
    _heads(rep, rows, chosen)
    _data_efficiency(rep, rows, chosen)
    _compute(rep, rows)
    trained_on = {name: _training_data(run) for name, run in outcome.runs.items()}
    facts = {**run_provenance(command, data=trained_on), "time": rep.provenance["time"]}
    rep.heading("Setup").code(json.dumps({"config": config, "machine": machine_facts(), "provenance": facts}, indent=1, default=str))
    return rep.write(out)


def _training_data(run: Path) -> Any:
    """The training-data digest a run's model folder recorded (None for a run without one)."""
    path = run / "config.json"
    return json.loads(path.read_text(encoding="utf-8")).get("training_data") if path.exists() else None


def _verdicts(rep: Report, outcome: BenchOutcome) -> None:
    verdict_section(rep, outcome.verdicts, against="the training-free baselines (fitted on the same training pairs)")
    rep.paragraph("Headline number per task: top-1 accuracy (classification) or image-to-text R@1 (retrieval). WIN: every "
                  "interval lies above zero (and the model beats chance); LOSS: some baseline is better beyond its "
                  "interval; TIE: otherwise.")
    for note in outcome.notes:
        rep.note(note, kind="warning")
    crossover_figure(rep, outcome)


def _ranking(rep: Report, outcome: BenchOutcome, config: dict[str, Any]) -> None:
    metrics, primary = config["rank"]["metrics"], config["rank"]["primary"]
    table = [{"rank": e["rank"], "vision": e["vision"], "text": e["text"], "control": "yes" if e["control"] else "",
              **{m: e.get(m) for m in metrics}, **{f"{m} (cal.)": e.get(f"{m}_cal") for m in metrics},
              "notes": pair_notes(e, metrics, e.get("n_probe"))}
             for e in outcome.ranked]
    rep.heading("Encoder pair ranking")
    ci = [e.get(f"{primary}_cal_ci", (math.nan, math.nan)) for e in outcome.ranked]
    rep.figure(plots.ranked_bars([label(e) for e in outcome.ranked], [e.get(f"{primary}_cal", math.nan) for e in outcome.ranked],
                                 lower=[c[0] for c in ci], upper=[c[1] for c in ci], xlabel=f"{primary} (calibrated)",
                                 title=f"ranking by calibrated {primary}, 95% intervals",
                                 highlight=[label(e) for e in outcome.ranked if e["control"]], reference=0.0,
                                 reference_label="shuffled-pairing level"),
               caption=f"The ranking: calibrated {primary} of every pair with its 95% interval; controls (floors) in orange.")
    rep.table(
        table, caption=f"sorted by calibrated {primary} on {outcome.ranked[0]['n_probe']} probe pairs; controls highlighted",
        highlight=lambda r: r["control"] == "yes", best={f"{primary} (cal.)": "max"})
    if floor := floor_note(outcome.ranked, metrics, config["rank"]["permutations"]):
        rep.note(floor, kind="warning")
    rep.paragraph("Calibrated = (raw - null mean) / (1 - null mean), the null being the same pair with its image-caption "
                  "pairing shuffled: 0 is no better than unpaired data. Controls (pixels, n-grams, random weights) are floors.")
    for cal in (False, True):
        mat, v, t = metric_matrix(outcome.ranked, primary, cal)
        name = f"{primary} ({'calibrated' if cal else 'raw'})"
        rep.figure(plots.heatmap(mat, v, t, title=name), caption=f"{name}: vision encoders (rows) x text encoders (columns)")


def _zero_shot(rep: Report, rows: list[dict[str, Any]], outcome: BenchOutcome) -> None:
    rep.heading("Zero-shot results with baselines and chance")
    pairs = list(dict.fromkeys((r["vision"], r["text"]) for r in rows if r["section"] == "zero-shot"))
    for v, t in pairs:
        mine = [r for r in rows if r["section"] == "zero-shot" and (r["vision"], r["text"]) == (v, t)]
        wide = compare_models(mine)
        models = [c for c in wide.columns if c not in ("task", "metric", "chance")]
        n_img = mine[0]["train_images"]
        rep.table(wide, caption=f"{v} + {t}: aligned heads vs training-free baselines, all fitted on the same "
                                f"{n_img} training images ({mine[0]['train_captions']} captions); best per row in bold",
                  row_best=models, max_rows=None)
        skipped = {r["task"]: r["skipped"] for r in mine if r["skipped"]}
        if skipped:
            rep.note("skipped items (the metrics cover the rest): " + ", ".join(f"{k}: {n}" for k, n in skipped.items()),
                     kind="warning")
    for res in outcome.results:
        if res.confusion is not None and res.classnames is not None:
            rep.figure(plots.confusion_matrix(res.confusion, res.classnames, title=f"{res.task}: aligned model"),
                       caption=f"{res.task}: confusion of the chosen pair's aligned model (rows: true class)")


def _curves(rep: Report, outcome: BenchOutcome) -> None:
    rep.heading("Training curves")
    for name, run in outcome.runs.items():
        log = read_metrics(run)
        if not log:
            continue
        epochs = [r["epoch"] for r in log]
        series = {"train loss": (epochs, [r["train_loss"] for r in log])}
        val_log = read_metrics(run / SELECTION) or log  # a refit run validates in its selection run
        if "val_i2t_r1" in val_log[0]:
            val_epochs = [r["epoch"] for r in val_log]
            val = {"val R@1 image->text": (val_epochs, [r["val_i2t_r1"] for r in val_log]),
                   "val R@1 text->image": (val_epochs, [r["val_t2i_r1"] for r in val_log])}
            kept = (f"best epoch {val_log[-1]['best_epoch']}; refit on every pair for {_refit_epochs(run)} epochs, the latest "
                    "within the refit tolerance of the best" if val_log is not log else f"best epoch {val_log[-1]['best_epoch']} kept")
            rep.figure(plots.line_curves(val, "epoch", "R@1", f"{name}: validation", reference=val_log[0].get("val_chance_r1")),
                       caption=f"{name}: held-out validation R@1 per epoch ({kept})")
        rep.figure(plots.line_curves(series, "epoch", "InfoNCE loss", f"{name}: training loss"),
                   caption=f"{name}: training loss per epoch")


def _refit_epochs(run: Path) -> int | str:
    path = run / REFIT
    return json.loads(path.read_text(encoding="utf-8"))["epochs"] if path.exists() else "?"


def _score_vs_accuracy(rep: Report, outcome: BenchOutcome, config: dict[str, Any]) -> None:
    corr = [r for r in outcome.rows if r["section"] == "correlation"]
    n = corr[0]["n"] if corr else 0
    if n < 2:  # one aligned pair: nothing to correlate (`alignkit bench` aligns every pair)
        return
    rep.heading("Does the similarity score predict accuracy?")
    rep.note(corr[0]["note"], kind="warning" if n < 8 else "info")
    acc: dict[tuple[str, str], list[float]] = {}
    for r in outcome.rows:
        if r["section"] == "zero-shot" and r["model"] == "aligned" and r["headline"]:
            acc.setdefault((r["vision"], r["text"]), []).append(r["value"])
    entries = [e for e in outcome.ranked if (e["vision"], e["text"]) in acc]
    y = [float(np.mean(acc[(e["vision"], e["text"])])) for e in entries]
    primary = config["rank"]["primary"]
    for key, name in ((f"{primary}_cal", f"{primary} (calibrated)"), (primary, f"{primary} (raw)")):
        rep.figure(plots.scatter_fit([e.get(key, math.nan) for e in entries], y, [label(e) for e in entries],
                                     name, "mean headline accuracy (aligned)", f"{name} vs zero-shot accuracy"),
                   caption=f"each point one aligned pair; {name} on the probe vs the aligned model's mean headline accuracy")
    rep.table(corr, caption="Rank correlation of each metric with the aligned models' mean headline accuracy", max_rows=None)


def _study(rep: Report, outcome: BenchOutcome, config: dict[str, Any]) -> None:
    """The selection study: every metric against accuracy, with intervals, per probe size."""
    study = [r for r in outcome.rows if r["section"] == "study"]
    if not study:
        return
    pairs = [r for r in outcome.rows if r["section"] == "study-pairs"]
    rep.heading("Selection study: which score predicts post-alignment accuracy?")
    rep.paragraph(f"{len(pairs)} aligned pairs ({sum(not p['control'] for p in pairs)} without a control), each trained "
                  f"with {max(p['seeds'] for p in pairs)} seeds; accuracy is the mean headline number over the tasks and "
                  "seeds. Spearman's rho with a 95% bootstrap interval over pairs; a metric degenerate or not computed "
                  "on any pair is marked unusable and never called the best predictor.")
    n0 = config["rank"]["n_probe"]
    for pair_set in ("no controls", "all"):
        table = [{"metric": r["metric"], "variant": r["variant"], "usable": r["usable"], "n": r["n"],
                  "spearman": r["spearman"], "95% interval": _interval(r), "kendall": r["kendall"]}
                 for r in best_predictors(study, n0, pair_set)]
        rep.table(table, caption=f"Score vs aligned accuracy, {pair_set} pairs, {n0} probe pairs (best first)", max_rows=None)
    sizes = sorted({r["n_probe"] for r in study})
    by_size = [{"metric": m, "variant": v, **{f"n={n}": _cell(study, m, v, n) for n in sizes}}
               for m in config["rank"]["metrics"] for v in ("raw", "calibrated")]
    rep.table(by_size, caption="Spearman (95% interval) against aligned accuracy, pairs without a control, by probe size",
              max_rows=None)
    rep.table(best_predictors(study, n0, "no controls", "best baseline"),
              caption="The same scores against the best training-free baseline's accuracy", max_rows=None)
    acc = {(p["vision"], p["text"]): p["aligned"] for p in pairs}
    entries = [e for e in outcome.ranked if (e["vision"], e["text"]) in acc]
    for m in config["rank"]["metrics"]:
        rep.figure(plots.scatter_fit([e.get(f"{m}_cal", math.nan) for e in entries], [acc[(e["vision"], e["text"])] for e in entries],
                                     [label(e) for e in entries], f"{m} (calibrated)", "mean headline accuracy (aligned)",
                                     f"{m} vs accuracy"),
                   caption=f"{m}, calibrated, {n0} probe pairs: each point one aligned pair (controls included)")
    rep.table(pairs, caption="Per pair: aligned accuracy (mean of seeds), the spread of its seeds, the best baseline", max_rows=None)


def _interval(r: dict[str, Any]) -> str:
    lo, hi = r.get("spearman_low"), r.get("spearman_high")
    return "" if lo is None else f"[{lo:+.2f}, {hi:+.2f}]"


def _cell(study: list[dict[str, Any]], metric: str, variant: str, n: int) -> str:
    r = next((r for r in study if r["metric"] == metric and r["variant"] == variant and r["n_probe"] == n
              and r["pairs"] == "no controls" and r["target"] == "aligned"), None)
    if r is None or not math.isfinite(r["spearman"]):
        return ""
    return f"{r['spearman']:+.2f} {_interval(r)}" + ("" if r["usable"] else " (degenerate)")


def _heads(rep: Report, rows: list[dict[str, Any]], chosen: tuple[str, str]) -> None:
    mine = [r for r in rows if r["section"] in ("zero-shot", "heads") and r["model"] == "aligned" and r["headline"]
            and (r["vision"], r["text"]) == chosen]
    heads = list(dict.fromkeys(r["head"] for r in mine))
    if len(heads) < 2:  # one head type: no comparison to show
        return
    rep.heading("Head types")
    table = []
    for task in dict.fromkeys(r["task"] for r in mine):
        by = {r["head"]: r for r in mine if r["task"] == task}
        first = next(iter(by.values()))
        table.append({"task": task, "metric": first["metric"], "chance": first["chance"], **{h: by[h]["value"] for h in heads if h in by}})
    rep.table(table, caption=f"{chosen[0]} + {chosen[1]}: headline number per head type, same recipe otherwise",
              row_best=heads, max_rows=None)


def _data_efficiency(rep: Report, rows: list[dict[str, Any]], chosen: tuple[str, str]) -> None:
    mine = [r for r in rows if r["section"] in ("zero-shot", "data-efficiency") and r["headline"]
            and (r["vision"], r["text"]) == chosen]
    sizes = sorted({r["train_images"] for r in mine})
    if len(sizes) < 2:  # no training subset was run
        return
    rep.heading("Data efficiency")
    for task in dict.fromkeys(r["task"] for r in mine):
        series: dict[str, tuple[list[float], list[float]]] = {}
        for r in sorted((r for r in mine if r["task"] == task), key=lambda r: r["train_images"]):
            xs, ys = series.setdefault(r["model"], ([], []))
            xs.append(r["train_images"])
            ys.append(r.get("first_seed_value") or r["value"])  # the subsets train one seed: compare seed with seed
        chance = next(r["chance"] for r in mine if r["task"] == task)
        metric = next(r["metric"] for r in mine if r["task"] == task)
        rep.figure(plots.line_curves(series, "training images (each with all its captions)", metric, task,
                                     logx=True, reference=chance),
                   caption=f"{task}: {metric} vs training images, aligned heads (first seed) and baselines on the same "
                           "nested subsets: where the curves cross, training starts to pay")


def _compute(rep: Report, rows: list[dict[str, Any]]) -> None:
    compute = [_compute_row(r) for r in rows if r["section"] == "compute"]
    rep.heading("Compute")
    rep.paragraph("Wall time per stage (reused = served from the features cache or a finished run); Python peak is the "
                  "peak of Python-tracked allocations (numpy included, torch's allocator not) during the stage; "
                  "process peak RSS is the process's resident-set high-water mark so far (it never decreases).")
    rep.table(compute, caption="compute accounting", max_rows=None)


# each measure of a compute row and its readable column header
MEASURES = {"seconds": "seconds", "reused": "reused", "train_loop_seconds": "training loop (s)", "epochs_run": "epochs",
            "python_peak_mb": "Python peak (MiB)", "process_peak_rss_mb": "process peak RSS (MiB)"}


def _compute_row(r: dict[str, Any]) -> dict[str, Any]:
    """One stage as a compact row: what it worked on in one column (not one mostly empty column
    per label), then its measures."""
    labels = [f"{k} {v}" for k, v in r.items() if k not in (*MEASURES, "stage", "section") and v is not None]
    return {"stage": r["stage"], "on": "; ".join(labels), **{name: r.get(k) for k, name in MEASURES.items()}}


def best_predictors(rows: list[dict[str, Any]], n_probe: int, pairs: str = "no controls",
                    target: str = "aligned") -> list[dict[str, Any]]:
    """The study rows at one probe size, pair set and target, usable ones first, best Spearman first."""
    chosen = [r for r in rows if r["section"] == "study" and r["n_probe"] == n_probe and r["pairs"] == pairs
              and r["target"] == target]
    return sorted(chosen, key=lambda r: (not r["usable"], -_finite(r["spearman"])))


def _finite(x: float) -> float:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else -math.inf
