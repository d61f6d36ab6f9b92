"""Long commands say what they will do before they start, and end with where the report is and a
one-line answer: `align`'s plan line, the demo's and bench's plan (with the demo's expected time)
and their answer line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from tests.helpers.bench_data import write_pairs


def test_align_prints_its_plan_first(tmp_path: Path, monkeypatch):
    from alignkit.cli import cli

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    pairs = write_pairs(tmp_path / "pairs", 24, 0)
    res = CliRunner().invoke(cli, ["align", "--vision", "pixels?size=4", "--text", "hashed-ngrams?dim=64", "--data", pairs,
                                   "--out", str(tmp_path / "run"), "--epochs", "2", "--image-head", "linear", "--quiet"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    first = res.output.splitlines()[0]
    assert first.startswith("alignkit align will: embed the pairs once")
    assert "train linear image and mlp text heads on pixels?size=4 + hashed-ngrams?dim=64" in first
    assert "for 2 epochs" in first and str(tmp_path / "run") in first


def test_the_demo_plan_names_the_work_and_the_expected_time(tmp_path: Path):
    from alignkit.bench import demo_config
    from alignkit.bench.demo import expected_time
    from alignkit.cli.bench import plan_line

    quick = demo_config(quick=True)
    line = plan_line(quick, tmp_path / "demo", "alignkit demo --quick", expected_time(True))
    assert line.startswith("alignkit demo --quick will: rank the encoders offline,pixels x offline,hashed-ngrams")
    assert f"on {quick.rank.n_probe} probe pairs" in line and "align the best-ranked non-control pair" in line
    assert f"{len(quick.tasks)} held-out tasks" in line and str(tmp_path / "demo" / "index.html") in line
    assert "minutes on 2 cores" in line
    full = plan_line(demo_config(crossover=True), tmp_path / "demo", "alignkit demo", expected_time(False))
    assert "(1 seed; again on 4 smaller training subset(s) for the crossover)" in full and "--quick" in full


def test_the_answer_counts_wins_ties_and_losses():
    from alignkit.cli.bench import one_line_answer

    outcome = SimpleNamespace(chosen=("a", "b"), verdicts=[{"verdict": v} for v in ("win", "tie", "tie", "loss")])
    assert one_line_answer(outcome) == ("answer: aligned a + b against the best training-free baseline on 4 held-out "
                                        "tasks: 1 win, 2 ties, 1 loss (paired 95% intervals)")
    assert "no task had a baseline" in one_line_answer(SimpleNamespace(chosen=("a", "b"), verdicts=[]))
