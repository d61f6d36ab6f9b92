"""The benchmark pipeline: rank every pair, align, evaluate against baselines, report.

    rank (all metrics, raw and calibrated) -> align (one recipe, one budget) -> evaluate the
    aligned model and the training-free baselines on the same cached task features -> how well
    each metric predicts accuracy, a data-efficiency curve and a head comparison for the chosen
    pair, compute accounting -> one tidy results table and one HTML report.

Everything expensive is cached or reused: features through the shared features cache, scores
through the rank module's cache, finished training runs by their saved model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from alignkit.align import AlignConfig, AlignedModel
from alignkit.align.training.loop import train_pairs
from alignkit.align.training.run_folder import SELECTION, read_metrics
from alignkit.align.workflow.from_specs import train_from_specs as align
from alignkit.bench.meter import Meter
from alignkit.bench.config import BenchConfig
from alignkit.bench.correlation import correlation_rows, tidy_rank_rows
from alignkit.bench.plan import pairs_to_align
from alignkit.evaluate.compare import check_task_names
from alignkit.bench.prefetch import prefetch_layers
from alignkit.bench.probe_ranking import embed_probes as _embed_probes, rank_pairs as _rank
from alignkit.bench.train_runs import reuse_or_train, subset
from alignkit.bench.seeds import mean_over_seeds
from alignkit.bench.study import study_rows
from alignkit.data import open_source
from alignkit.data.base import caption_items, image_items
from alignkit.data.tasks import open_task
from alignkit.encoders import EncoderSlot
from alignkit.evaluate import TaskResult, make_baseline, paired_rows
from alignkit.evaluate.cached import TaskFeatures, embed_task_side, features_from_stores, is_cached, score, task_inputs
from alignkit.evaluate.verdicts import HEADLINE, verdicts
from alignkit.features.cache import cached_features, slug
from alignkit.features.pairs import CachedPairs
from alignkit.locks import locks_folder

MIN_SUBSET_IMAGES = 20
Say = Callable[[str], None]


@dataclass
class BenchOutcome:
    """What a run produced: the tidy rows, the ranking, per-task verdicts and the run folders."""

    rows: list[dict[str, Any]]
    ranked: list[dict[str, Any]]
    rank_rows: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    chosen: tuple[str, str]
    chosen_note: str
    runs: dict[str, Path] = field(default_factory=dict)  # run label -> folder
    results: list[TaskResult] = field(default_factory=list)  # the chosen pair's aligned model, for plots
    notes: list[str] = field(default_factory=list)
    # the crossover: per training subset, {"train_images", "seeds", "verdicts"} (paired intervals)
    crossover: list[dict[str, Any]] = field(default_factory=list)


@locks_folder("out", "output folder")
def run_bench(config: BenchConfig, out: str | Path, *, say: Say = lambda s: None, progress: bool = False) -> BenchOutcome:
    """Run the whole benchmark into ``out`` (runs/ holds the training runs); returns the outcome."""
    config.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meter = Meter()
    try:
        vision, text = _embed_probes(config, meter, say, progress)
        ranked, rank_rows = _rank(config, meter, say, vision, text, config.rank.n_probe, bars=progress)
        targets, chosen_note = pairs_to_align(ranked, config.align)
        with meter.stage("open tasks"):
            tasks = {spec: open_task(spec) for spec in config.tasks}
        check_task_names(tasks)
        bench = _PairBench(config, out, tasks, meter, say, progress)
        if config.align == "all":  # several layers of one encoder: one pass over each data set for all of them
            with meter.stage("prefetch layers"):
                prefetch_layers(bench, [e["vision"] for e in targets], [e["text"] for e in targets])
        rows = tidy_rank_rows(ranked, config.rank.metrics)
        outcome = BenchOutcome(rows, ranked, rank_rows, [], (targets[0]["vision"], targets[0]["text"]), chosen_note)
        for i, entry in enumerate(targets):
            outcome.rows += bench.main(entry, outcome, chosen=i == 0)
        outcome.rows += bench.heads(targets[0], outcome)
        outcome.rows += bench.data_efficiency(targets[0], outcome)
        outcome.rows += correlation_rows(ranked, outcome.rows, config.rank.metrics, config.pair_bootstrap, config.seed)
        if config.probe_sizes:
            by_size = {n: ranked if n == config.rank.n_probe else _rank(config, meter, say, vision, text, n, bars=progress)[0]
                       for n in config.probe_sizes}
            outcome.rows += study_rows(by_size, outcome.rows, config.rank.metrics, config.baselines, config.pair_bootstrap, config.seed)
        headline = [r for r in outcome.rows if r["section"] == "zero-shot" and r["headline"]
                    and (r["vision"], r["text"]) == outcome.chosen]
        outcome.verdicts = verdicts(headline, "aligned", config.baselines, hits=bench.hits)
    finally:
        meter.close()
    outcome.rows += [{"section": "compute", **r} for r in meter.rows]
    return outcome


class _PairBench:
    """Aligns and evaluates pairs; task features are built once and shared, and one frozen
    encoder is in memory at a time (each data set is embedded side by side: all images, then all text)."""

    def __init__(self, config: BenchConfig, out: Path, tasks: dict[str, Any], meter: Meter, say: Say, progress: bool):
        self.config, self.out, self.tasks, self.meter, self.say, self.progress = config, out, tasks, meter, say, progress
        self._encoders = EncoderSlot(device=config.device, engine=config.engine)
        self._task_features: dict[tuple[str, str], dict[str, TaskFeatures]] = {}
        self._train: dict[tuple[str, str], CachedPairs] = {}
        self._models: dict[tuple[str, str], AlignedModel] = {}
        # (task, model) -> per-item headline hits of the chosen pair's main run, (seeds, items) for "aligned"
        self.hits: dict[tuple[str, str], np.ndarray] = {}

    # ---- shared pieces ------------------------------------------------------------
    def encoder(self, spec: str) -> Any:
        return self._encoders.get(spec)

    def recipe(self, entry: dict[str, Any], **overrides: Any) -> AlignConfig:
        base = AlignConfig().with_overrides(self.config.recipe)
        return base.with_overrides({"vision": entry["vision"], "text": entry["text"], "data": self.config.train,
                                    "seed": self.config.seed, "epochs": self.config.epochs, **overrides}).validate()

    def run_dir(self, entry: dict[str, Any], name: str, identity: dict[str, Any]) -> Path:
        """A run's folder, named by the recipe's digest too: a rerun with another recipe trains
        beside the old run instead of tripping over it."""
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
        return self.out / "runs" / slug(f"{entry['vision']}+{entry['text']}", 40) / f"{name}-{digest}"

    def train_data(self, entry: dict[str, Any], recipe: AlignConfig) -> CachedPairs:
        key = (entry["vision"], entry["text"])
        if key not in self._train:
            stores = {}
            for side, items in (("image", image_items), ("text", caption_items)):
                enc = self.encoder(entry["vision" if side == "image" else "text"])
                with self.meter.stage("encode training pairs", encoder=enc.spec, data=self.config.train) as m:
                    m["reused"] = is_cached(enc, self.config.train)
                    self.say(f"embedding {self.config.train} with {enc.spec}" + (" (cached)" if m["reused"] else ""))
                    todo = list(items(open_source(self.config.train)))  # sized: the bar shows a total and an ETA
                    stores[side] = cached_features(enc, todo, self.config.train,
                                                   batch_size=recipe.encode_batch_size, progress=self.progress)
            self._train[key] = CachedPairs.from_stores(stores["image"], stores["text"], concept_of=open_source(self.config.train).concept_of)
        return self._train[key]

    def features(self, entry: dict[str, Any]) -> dict[str, TaskFeatures]:
        key = (entry["vision"], entry["text"])
        if key not in self._task_features:
            stores = {}
            for side, spec_of in (("image", entry["vision"]), ("text", entry["text"])):
                enc = self.encoder(spec_of)
                for spec, task in self.tasks.items():
                    with self.meter.stage("encode task", task=spec, encoder=enc.spec) as m:
                        m["reused"] = is_cached(enc, task_inputs(task, spec, side)[0])
                        self.say(f"task {spec}: {side} with {enc.spec}" + (" (cached)" if m["reused"] else ""))
                        stores[spec, side] = embed_task_side(task, spec, side, enc, self.progress)
            self._task_features[key] = {spec: features_from_stores(task, stores[spec, "image"], stores[spec, "text"])
                                        for spec, task in self.tasks.items()}
        return self._task_features[key]

    def fit_baselines(self, data: CachedPairs, label: str) -> dict[str, Any]:
        x, y = paired_rows(data.pooled_features("image"), data.pooled_features("text"), data.text_owner)
        fitted = {}
        for name in self.config.baselines:
            with self.meter.stage("fit baseline", baseline=name, pair=label, train_images=len(data.image_keys)):
                fitted[name] = make_baseline(name).fit(x, y)
        return fitted

    def train(self, run: Path, identity: dict[str, Any], fit: Callable[[bool], AlignedModel], label: str) -> AlignedModel:
        self._encoders.clear()  # a training run builds the encoders it needs itself
        with self.meter.stage("train", run=label) as m:
            model, m["reused"] = reuse_or_train(run, identity, fit)
            log = read_metrics(run / SELECTION) + read_metrics(run)  # a refit trains twice: count both
            m["train_loop_seconds"] = round(sum(r["seconds"] for r in log), 3)
            m["epochs_run"] = len(log)
        self.say(f"{label}: {'reused the finished run' if m['reused'] else 'trained'} in {run}")
        return model

    def evaluate(self, entry: dict[str, Any], models: dict[str, Any], section: str, data: CachedPairs,
                 head: str, keep_hits: bool = False,
                 hits: dict[tuple[str, str], np.ndarray] | None = None) -> tuple[list[dict[str, Any]], dict[str, TaskResult]]:
        """Score ``models`` on every task; with ``keep_hits``, per-item hits go to ``hits``
        (default: the main run's), the seeds of "aligned" stacked as rows."""
        rows, aligned = [], {}
        store = self.hits if hits is None else hits
        for spec, tf in self.features(entry).items():
            for name, model in models.items():
                res = score(model, tf, name)
                if name == "aligned":
                    aligned[spec] = res
                if keep_hits and res.hits is not None:
                    model_key = "aligned" if name.startswith("aligned") else name
                    prev = store.get((res.task, model_key))
                    new = np.atleast_2d(res.hits)
                    store[(res.task, model_key)] = new if prev is None or not name.startswith("aligned@") else np.vstack([prev, new])
                for r in res.rows:
                    rows.append({"section": section, "vision": entry["vision"], "text": entry["text"],
                                 "control": entry["control"], **r, "kind": tf.kind,
                                 "headline": r["metric"] == HEADLINE[tf.kind], "task_spec": spec,
                                 "head": head if name == "aligned" else None, "train_images": len(data.image_keys),
                                 "train_captions": len(data.text_keys), "skipped": len(tf.skipped)})
        return rows, aligned

    # ---- the three kinds of run ---------------------------------------------------
    def main(self, entry: dict[str, Any], outcome: BenchOutcome, chosen: bool) -> list[dict[str, Any]]:
        """The pair under the bench recipe on all training pairs, beside every baseline. The chosen
        pair is trained with ``config.seeds`` seeds; its aligned rows are the mean over them."""
        label = f"{entry['vision']} + {entry['text']}"
        seeds = [self.config.seed + i for i in range(self.config.seeds if chosen or self.config.seeds_all else 1)]
        models: dict[str, Any] = {}
        for s in seeds:
            recipe = self.recipe(entry, seed=s)
            data = self.train_data(entry, recipe)
            identity = {"recipe": recipe.to_dict()}
            run = self.run_dir(entry, _head_name(recipe), identity)
            name = "aligned" if s == seeds[0] else f"aligned@seed{s}"
            seed_label = label if s == seeds[0] else f"{label} (seed {s})"
            models[name] = self.train(run, identity,
                                      lambda resume, recipe=recipe, run=run: align(recipe, run, resume=resume, progress=self.progress),
                                      seed_label)
            outcome.runs[seed_label] = run
        self._models[(entry["vision"], entry["text"])] = models["aligned"]
        models.update(self.fit_baselines(data, label))
        rows, aligned = self.evaluate(entry, models, "zero-shot", data, _head_name(recipe), keep_hits=chosen)
        if chosen:
            outcome.results = list(aligned.values())
        return mean_over_seeds(rows, len(seeds))
    def heads(self, entry: dict[str, Any], outcome: BenchOutcome) -> list[dict[str, Any]]:
        """The chosen pair with each other head kind, everything else unchanged."""
        rows = []
        main_head = _head_name(self.recipe(entry))
        for kind in self.config.heads:
            if kind == main_head:
                continue
            recipe = self.recipe(entry, **{"image_head.kind": kind, "text_head.kind": kind})
            data = self.train_data(entry, recipe)
            identity = {"recipe": recipe.to_dict()}
            run = self.run_dir(entry, kind, identity)
            label = f"{entry['vision']} + {entry['text']} ({kind} heads)"
            model = self.train(run, identity,
                               lambda resume: align(recipe, run, resume=resume, progress=self.progress), label)
            outcome.runs[label] = run
            rows += self.evaluate(entry, {"aligned": model}, "heads", data, kind)[0]
        return rows

    def data_efficiency(self, entry: dict[str, Any], outcome: BenchOutcome) -> list[dict[str, Any]]:
        """The chosen pair (and the baselines) on nested subsets of the training images: one subset
        per size (drawn with ``config.seed``), the heads trained with ``config.seeds`` seeds on it,
        and per size the same paired verdicts as the main run (``outcome.crossover``)."""
        recipe = self.recipe(entry)
        full = self.train_data(entry, recipe)
        sizes = sorted({round(f * len(full.image_keys)) for f in self.config.data_fractions})
        too_small = [n for n in sizes if n < MIN_SUBSET_IMAGES]
        if too_small:
            outcome.notes.append(f"data-efficiency sizes {too_small} skipped: fewer than {MIN_SUBSET_IMAGES} training images")
        encoders = {side: {"spec": enc.spec, "fingerprint": enc.fingerprint()}
                    for side, enc in (("image", self.encoder(entry["vision"])), ("text", self.encoder(entry["text"])))}
        seeds = [self.config.seed + i for i in range(self.config.seeds)]
        rows = []
        for n in (n for n in sizes if n >= MIN_SUBSET_IMAGES):
            data = subset(full, n, self.config.seed)
            label = f"{entry['vision']} + {entry['text']} ({n} images)"
            models: dict[str, Any] = {}
            for s in seeds:
                seeded = self.recipe(entry, seed=s)
                identity = {"recipe": seeded.to_dict(), "subset_images": n, "subset_seed": self.config.seed}
                run = self.run_dir(entry, f"{_head_name(seeded)}-{n}-images", identity)
                seed_label = label if s == seeds[0] else f"{label} (seed {s})"
                models["aligned" if s == seeds[0] else f"aligned@seed{s}"] = self.train(
                    run, identity, lambda resume, seeded=seeded, run=run: train_pairs(
                        seeded, data, run, encoders=encoders, resume=resume, progress=self.progress), seed_label)
                outcome.runs[seed_label] = run
            models.update(self.fit_baselines(data, label))
            hits: dict[tuple[str, str], np.ndarray] = {}
            scored = self.evaluate(entry, models, "data-efficiency", data, _head_name(recipe), keep_hits=True, hits=hits)[0]
            scored = mean_over_seeds(scored, len(seeds))
            headline = [r for r in scored if r["section"] == "data-efficiency" and r["headline"]]
            outcome.crossover.append({"train_images": n, "seeds": len(seeds),
                                      "verdicts": verdicts(headline, "aligned", self.config.baselines, hits=hits)})
            rows += scored
        return rows


def _head_name(recipe: AlignConfig) -> str:
    i, t = recipe.image_head.kind, recipe.text_head.kind
    return i if i == t else f"{i}-{t}"
