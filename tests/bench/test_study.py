"""The selection study: every pair with several seeds, correlations with intervals over pairs at
several probe sizes, against the aligned and the best baseline accuracy, with and without controls."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tests.helpers.bench_data import tiny_setup

from alignkit.bench.correlation import rank_correlation
from alignkit.bench.prefetch import model_groups
from alignkit.bench.study import pair_accuracy, study_rows
from alignkit.bench.page import best_predictors


def test_pair_bootstrap_interval_brackets_the_estimate_and_narrows_with_agreement():
    perfect = rank_correlation(list(range(12)), [x * x for x in range(12)], bootstrap=300)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["spearman_low"] == pytest.approx(1.0)
    noisy = rank_correlation([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], bootstrap=300)
    assert noisy["spearman_low"] < noisy["spearman"] < noisy["spearman_high"]
    assert noisy["spearman_high"] - noisy["spearman_low"] > 0.3 and noisy["bootstrap"] > 250
    assert "spearman_low" not in rank_correlation([1, 2, 3], [1, 2, 3])  # no bootstrap asked


def _rows(pairs):
    rows = []
    for (v, t, control, accs, base) in pairs:
        for task in ("a", "b"):
            rows.append({"section": "zero-shot", "model": "aligned", "headline": True, "vision": v, "text": t,
                         "control": control, "task": task, "value": sum(accs) / len(accs), "first_seed_value": accs[0]})
            for s, acc in enumerate(accs[1:], start=1):
                rows.append({"section": "seeds", "model": f"aligned@seed{s}", "headline": True, "vision": v, "text": t,
                             "control": control, "task": task, "value": acc})
            for name, value in base.items():
                rows.append({"section": "zero-shot", "model": name, "headline": True, "vision": v, "text": t,
                             "control": control, "task": task, "value": value})
    return rows


def test_study_rows_targets_pair_sets_and_degenerate_metrics():
    pairs = [(f"v{i}", "t", i == 0, [0.1 * i, 0.1 * i + 0.02], {"asif": 0.05 * i, "ridge": 0.4 - 0.01 * i}) for i in range(6)]
    rows = _rows(pairs)
    acc = pair_accuracy(rows, ("asif", "ridge"))
    assert acc[("v3", "t")]["aligned"] == pytest.approx(0.31) and acc[("v3", "t")]["seeds"] == 2
    assert acc[("v3", "t")]["seed_sd"] == pytest.approx(0.02 / math.sqrt(2))
    assert acc[("v5", "t")]["best_baseline"] == "ridge" and acc[("v5", "t")]["best_baseline_value"] == pytest.approx(0.35)
    ranked = [{"vision": f"v{i}", "text": "t", "control": i == 0, "good": i, "good_cal": i, "bad": -i, "bad_cal": -i,
               "bad_degenerate": i == 2} for i in range(6)]
    out = study_rows({40: ranked, 20: ranked}, rows, ("good", "bad"), ("asif", "ridge"), bootstrap=50, seed=0)
    study = [r for r in out if r["section"] == "study"]
    assert len(study) == 2 * 2 * 2 * 2 * 2  # sizes x pair sets x targets x metrics x variants
    best = best_predictors(study, 40)
    assert best[0]["metric"] == "good" and best[0]["usable"] and best[0]["n"] == 5  # the control pair left out
    assert best[-1]["metric"] == "bad" and not best[-1]["usable"] and best[-1]["spearman"] == pytest.approx(-1.0)
    vs_base = best_predictors(study, 40, target="best baseline")
    assert vs_base[0]["spearman"] == pytest.approx(-1.0)  # the ridge baseline gets worse as the score grows
    assert len([r for r in out if r["section"] == "study-pairs"]) == 6


def test_model_groups_join_layers_of_one_encoder_only():
    groups = model_groups(["efficientnet-lite0", "efficientnet-lite0?layer=12", "efficientnet-lite1",
                           "minilm-l6?layer=3&dtype=float16", "minilm-l6?dtype=float16", "minilm-l6"])
    assert groups == [["efficientnet-lite0", "efficientnet-lite0?layer=12"], ["efficientnet-lite1"],
                      ["minilm-l6?layer=3&dtype=float16", "minilm-l6?dtype=float16"], ["minilm-l6"]]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch) -> dict:
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    return tiny_setup(tmp_path / "data")


@pytest.mark.slow
def test_bench_study_from_one_command(setup: dict, tmp_path: Path):
    from alignkit.cli import cli

    out = tmp_path / "study"
    args = ["bench", "--study", "--vision-zoo", "pixels?size=4,pixels?size=6,pixels?size=8", "--text-zoo",
            "hashed-ngrams?dim=64,hashed-ngrams?dim=3", "--probe", setup["probe"], "--n", "30", "--probe-sizes", "20,30",
            "--train", setup["train"], "--metrics", "linear_cka,mutual_knn", "--primary", "linear_cka", "--bootstrap", "5",
            "--permutations", "5", "--epochs", "2", "--seeds", "2", "--pair-bootstrap", "50", "--out", str(out), "--quiet"]
    for t in setup["tasks"]:
        args += ["--task", t]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    df = pl.read_parquet(out / "results.parquet")
    pairs = df.filter(pl.col("section") == "study-pairs")
    assert pairs.height == 6 and (pairs["seeds"] == 2).all()  # every pair, not only the chosen one, has both seeds
    seeds = df.filter(pl.col("section") == "seeds")
    assert seeds.select("vision", "text").unique().height == 6
    study = df.filter(pl.col("section") == "study")
    assert set(study["n_probe"]) == {20, 30} and set(study["target"]) == {"aligned", "best baseline"}
    assert set(study["pairs"]) == {"all", "no controls"}
    everything = study.filter((pl.col("pairs") == "all") & (pl.col("n_probe") == 30))
    assert (everything["n"] == 6).all() and everything["spearman_low"].is_not_null().all()
    rank = df.filter(pl.col("section") == "rank")
    assert set(rank["n"]) == {30}
    page = (out / "index.html").read_text()
    assert "Selection study" in page and "linear_cka, calibrated, 30 probe pairs" in page


def test_bench_refuses_two_tasks_under_one_name(setup: dict, tmp_path: Path):
    from alignkit.cli import cli

    task = setup["tasks"][0]
    args = ["bench", "--vision-zoo", "pixels?size=4", "--text-zoo", "hashed-ngrams?dim=64", "--probe", setup["probe"],
            "--n", "30", "--train", setup["train"], "--metrics", "linear_cka", "--bootstrap", "0", "--permutations", "0",
            "--epochs", "1", "--task", task, "--task", task + "/", "--out", str(tmp_path / "b"), "--quiet"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0 and "their results would mix" in str(res.exception)
