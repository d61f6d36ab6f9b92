"""`alignkit bench` end to end on a 2 x 1 zoo of control encoders and tiny data the test writes:
the results table (every section), the report (correlation section, escaped captions), the reuse
of finished runs on a rerun, and identical result tables from the same seed in fresh folders."""

from __future__ import annotations

import json

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tests.helpers.bench_data import tiny_setup

DETERMINISTIC = ("rank", "zero-shot", "heads", "data-efficiency", "correlation")


def bench_args(setup: dict, out: Path) -> list[str]:
    args = ["bench", "--vision-zoo", "pixels?size=4,pixels?size=6", "--text-zoo", "hashed-ngrams?dim=64",
            "--probe", setup["probe"], "--n", "40", "--train", setup["train"], "--metrics", "linear_cka,mutual_knn",
            "--bootstrap", "5", "--permutations", "5", "--epochs", "3", "--fractions", "0.5", "--seed", "3",
            "--out", str(out), "--quiet"]
    for t in setup["tasks"]:
        args += ["--task", t]
    return args


def run(args: list[str]):
    from alignkit.cli import cli

    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res


@pytest.fixture
def setup(tmp_path: Path, monkeypatch) -> dict:
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    return tiny_setup(tmp_path / "data")


def _results(out: Path) -> pl.DataFrame:
    df = pl.read_parquet(out / "results.parquet")
    return df.filter(pl.col("section").is_in(DETERMINISTIC)).sort(df.columns, nulls_last=True)


@pytest.mark.slow
def test_bench_table_report_reuse_and_seed(setup: dict, tmp_path: Path):
    out = tmp_path / "bench"
    res = run(bench_args(setup, out))
    df = pl.read_parquet(out / "results.parquet")
    assert set(df["section"]) == {"rank", "zero-shot", "heads", "data-efficiency", "correlation", "compute"}

    zs = df.filter(pl.col("section") == "zero-shot")
    assert set(zs["model"]) == {"aligned", "asif", "asif-centred", "procrustes", "ridge", "cca"}
    assert zs.select("vision", "text").unique().height == 2  # both pairs aligned with the same budget
    assert zs.filter(pl.col("model") == "aligned")["train_images"].unique().to_list() == [80]
    top1 = zs.filter((pl.col("metric") == "top1") & (pl.col("model") == "aligned"))
    assert (top1["chance"] == 0.25).all() and (top1["value"] > top1["chance"]).all()  # colours are learnable

    rank = df.filter(pl.col("section") == "rank")
    assert set(rank["variant"]) == {"raw", "calibrated"} and set(rank["metric"]) == {"linear_cka", "mutual_knn"}
    corr = df.filter(pl.col("section") == "correlation")
    assert corr.height == 4 and (corr["n"] == 2).all()
    assert corr["spearman"].is_nan().all() and corr["note"].str.contains("too few").all()  # n=2 says so plainly

    heads = df.filter(pl.col("section") == "heads")
    assert set(heads["head"]) == {"linear", "mlp"}  # beside the default recipe's residual-identity heads
    eff = df.filter((pl.col("section") == "data-efficiency") & (pl.col("model") == "aligned"))
    assert eff["train_images"].unique().to_list() == [40]
    compute = df.filter(pl.col("section") == "compute")
    assert {"rank: embed probe", "train", "encode task", "fit baseline"} <= set(compute["stage"])
    assert (compute["seconds"] >= 0).all() and (compute["process_peak_rss_mb"] > 0).all()

    page = (out / "index.html").read_text()
    for heading in ("Verdict per task", "Does the similarity score predict accuracy?", "Data efficiency", "Head types", "Compute"):
        assert heading in page
    assert "too few aligned pairs" in page and page.count("data:image/png;base64") >= 5
    assert "<script>alert" not in page
    # figures first: the verdict section opens with the forest plot, then the crossover curve (log x,
    # every baseline, intervals) and the ranking chart with intervals and controls marked
    verdicts = page.index('alt="Verdicts: aligned model minus')
    assert verdicts < page.index("Verdict per task and baseline") < page.index("The crossover: mean headline metric")
    assert "The ranking: calibrated linear_cka of every pair with its 95% interval; controls" in page
    assert "<th>difference</th>" in page and "<th>95% low</th>" in page  # the verdicts as a table
    assert "&quot;provenance&quot;" in page and "&quot;feature_stores&quot;" in page  # the Setup block records both
    assert "chosen pair" in res.output
    assert not list((out / "runs").rglob("refit.json"))  # the default recipe trains once, on every pair

    first = _results(out)
    run(bench_args(setup, out))  # rerun: finished runs reused, same numbers
    reused = pl.read_parquet(out / "results.parquet").filter((pl.col("section") == "compute") & (pl.col("stage") == "train"))
    assert reused["reused"].all()
    assert _results(out).equals(first)

    fresh = tmp_path / "bench-again"  # same seed, new run folders: training happens again
    run(bench_args(setup, fresh))
    assert _results(fresh).equals(first)


def test_bench_refuses_a_bad_head(setup: dict, tmp_path: Path):
    from alignkit.cli import cli

    res = CliRunner().invoke(cli, bench_args(setup, tmp_path / "b") + ["--heads", "token"])
    assert res.exit_code != 0 and "pooled heads" in str(res.exception)
