"""`alignkit demo --quick` on tiny settings (control encoders, data the test writes): the report
has a verdict line per task, aligns only one pair, and says why that pair was chosen."""

from __future__ import annotations

import pytest
import re
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from tests.helpers.bench_data import tiny_setup


@pytest.mark.slow
def test_demo_writes_verdicts_per_task(tmp_path: Path, monkeypatch):
    from alignkit.cli import cli

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    setup = tiny_setup(tmp_path / "data")
    out = tmp_path / "reports" / "demo"
    args = ["demo", "--quick", "--out", str(out), "--vision-zoo", "pixels?size=4,pixels?size=6",
            "--text-zoo", "hashed-ngrams?dim=64", "--probe", setup["probe"], "--n", "40", "--train", setup["train"],
            "--epochs", "3", "--quiet"]
    for t in setup["tasks"]:
        args += ["--task", t]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    lines = res.output.splitlines()
    assert lines[0].startswith("alignkit demo --quick will: rank the encoders") and "minutes on 2 cores" in lines[0]  # even --quiet
    assert f"report: {out / 'index.html'}" in res.output
    assert re.fullmatch(r"answer: aligned .+ on 2 held-out tasks: (1 win|\d+ wins), (1 tie|\d+ ties), (1 loss|\d+ losses) "
                        r"\(paired 95% intervals\)", lines[-1]), lines[-1]

    page = (out / "index.html").read_text()
    df = pl.read_parquet(out / "results.parquet")
    zs = df.filter(pl.col("section") == "zero-shot")
    assert zs.select("vision", "text").unique().height == 1  # the demo aligns one pair
    tasks = zs["task"].unique().to_list()
    assert len(tasks) == 2
    for task in tasks:  # a verdict table row per task and baseline, on the page and in the terminal
        row = re.search(rf"<tr><td(?: class=\"long\")?>{re.escape(task)}</td><td>(top1|i2t_R@1)</td><td>(WIN|LOSS|TIE)</td>"
                        r'<td class="num">[0-9.]+</td>', page)
        assert row, f"no verdict row for {task}"
        assert re.search(rf"^{re.escape(task)} +(top1|i2t_R@1) +(WIN|LOSS|TIE) +[0-9.]+ ", res.output, re.M), task
    verdicts_at = page.index('alt="Verdicts: aligned model minus')  # the verdict section opens with its figure
    assert verdicts_at < page.index("<table") and "one training seed" in page
    assert "1 losses" not in page and "1 ties" not in page and "1 wins" not in page  # plurals
    assert "every ranked pair is a control" in page  # and it says why a control pair was aligned
    assert "Sizes for a 2-core machine" in page and "Zero-shot results with baselines and chance" in page
    for empty in ("Does the similarity score predict accuracy?", "Head types", "Data efficiency", "Only one"):
        assert empty not in page  # one aligned pair, one head kind, no subsets: those sections are left out
    assert "too small to show a win" in page and "note: These quick sizes" in res.output  # honest small runs
    assert 'alt="Verdicts' in page and "alignkit " in page and "commit " in page  # provenance under the title
    for model in ("aligned", "asif", "procrustes", "ridge", "cca", "chance"):
        assert f"<th>{model}</th>" in page
