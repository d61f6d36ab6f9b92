"""`alignkit eval` end to end: a real AlignedModel folder (control encoders, linear heads set by
hand to read colours), a folder task on disk, table/json/CLIP_benchmark output, the --out files,
baselines fitted on --train pairs beside the model, the features cache, and hub ids."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

import alignkit.features.extract as extract
from alignkit.align.model.aligned_model import AlignedModel
from alignkit.cli import cli
from alignkit.data.tasks import open_task
from alignkit.encoders import create_encoder
from alignkit.evaluate import BaselineModel, evaluate_task
from alignkit.evaluate.compare import fit_baselines
from tests.helpers.color_models import color_model, color_pairs, color_task, publish_to_hub_cache


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return color_model().save_pretrained(tmp_path_factory.mktemp("model") / "colors")


@pytest.fixture()
def color_folder(tmp_path):
    return color_task(tmp_path / "colors")


@pytest.fixture()
def pairs(tmp_path):
    return color_pairs(tmp_path / "pairs")


def test_eval_table_json_and_outputs(model_dir, color_folder, tmp_path):
    runner = CliRunner()
    spec = f"folder-task:{color_folder}"
    res = runner.invoke(cli, ["eval", str(model_dir), "--task", spec, "--format", "json", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert {r["metric"]: r["value"] for r in rows} == {"top1": 1.0, "mean_per_class_recall": 1.0}
    assert all(r["chance"] == pytest.approx(1 / 3) and r["n"] == 9 and r["model"] == "colors" for r in rows)
    assert "1 items skipped" in res.stderr and "broken.png" in res.stderr

    # the CLI is a thin layer: the API's direct path (no cache, float32 features) gives the same rows
    assert evaluate_task(AlignedModel.from_pretrained(model_dir), open_task(spec), "colors").rows == rows

    out = tmp_path / "out"
    assert pl.read_parquet(out / "results.parquet").to_dicts() == rows
    assert pl.read_csv(out / "results.csv").height == 2 and (out / "results.jsonl").exists()
    assert (out / "confusion-colors.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "top1" in page and "1 items skipped" in page and "data:image/png;base64," in page
    (record,) = [json.loads(p.read_text()) for p in (out / "clip_benchmark").glob("*.json")]
    assert record == {"dataset": "colors", "model": "colors", "pretrained": str(model_dir),
                      "task": "zeroshot_classification", "metrics": {"acc1": 1.0, "mean_per_class_recall": 1.0}}

    table = runner.invoke(cli, ["eval", str(model_dir), "--task", spec])
    assert table.exit_code == 0
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["task", "metric", "n", "chance", "colors"]
    assert lines[0].split() == ["colors", "top1", "9", "0.333", "1.000"]


def test_model_and_two_baselines_side_by_side(model_dir, color_folder, pairs, tmp_path):
    runner = CliRunner()
    spec = f"folder-task:{color_folder}"
    args = ["eval", str(model_dir), "--task", spec, "--baseline", "asif,procrustes", "--train", f"folder:{pairs}"]
    res = runner.invoke(cli, args + ["--format", "json", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["model"] for r in rows if r["metric"] == "top1"] == ["colors", "asif", "procrustes"]

    # each baseline's numbers are what the API gives for the same fitted baseline on raw inputs
    v, t = create_encoder("pixels"), create_encoder("hashed-ngrams")
    fitted = fit_baselines(["asif", "procrustes"], v, t, f"folder:{pairs}", progress=False)
    for name, baseline in fitted.items():
        direct = {r["metric"]: r["value"] for r in evaluate_task(BaselineModel(baseline, v, t), open_task(spec), name).rows}
        assert {r["metric"]: r["value"] for r in rows if r["model"] == name} == pytest.approx(direct, abs=1e-9)

    records = [json.loads(line) for line in runner.invoke(cli, args + ["--format", "clip-benchmark"]).stdout.splitlines()]
    assert [(r["model"], r["task"], sorted(r["metrics"])) for r in records] == [
        (m, "zeroshot_classification", ["acc1", "mean_per_class_recall"]) for m in ("colors", "asif", "procrustes")
    ]
    assert records[1]["pretrained"] == f"fitted on folder:{pairs}"
    assert len(list((tmp_path / "out" / "clip_benchmark").glob("*.json"))) == 3
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "Side by side" in page and "procrustes" in page

    table = runner.invoke(cli, args)
    header, first, *_ = table.stdout.splitlines()
    assert header.split() == ["task", "metric", "n", "chance", "colors", "asif", "procrustes"]
    assert first.split()[:5] == ["colors", "top1", "9", "0.333", "1.000"]


def test_second_eval_reencodes_nothing(model_dir, color_folder, pairs, monkeypatch):
    calls = []
    real = extract._embed_chunk

    def counting(encoders, chunk, *args, **kwargs):
        calls.append((encoders[0].spec, len(chunk)))
        return real(encoders, chunk, *args, **kwargs)

    monkeypatch.setattr(extract, "_embed_chunk", counting)
    args = ["eval", str(model_dir), "--task", f"folder-task:{color_folder}", "--baseline", "ridge",
            "--train", f"folder:{pairs}", "--format", "json", "--quiet"]  # fmt: skip
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert {spec for spec, _ in calls} == {"pixels", "hashed-ngrams"}  # task images, prompts, training pairs
    calls.clear()
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert calls == [] and second.stdout == first.stdout


def test_hub_id_evaluates_like_its_folder(model_dir, color_folder, hub_cache):
    publish_to_hub_cache(model_dir, hub_cache, "org/colors", "3" * 40)
    spec = f"folder-task:{color_folder}"
    by_folder = CliRunner().invoke(cli, ["eval", str(model_dir), "--task", spec, "--format", "json", "--name", "m"])
    by_id = CliRunner().invoke(cli, ["eval", "org/colors", "--task", spec, "--format", "json", "--name", "m"])
    assert by_id.exit_code == 0, by_id.output
    assert by_id.stdout == by_folder.stdout
    default_name = CliRunner().invoke(cli, ["eval", "org/colors", "--task", spec, "--format", "json"])
    assert {json.loads(line)["model"] for line in default_name.stdout.splitlines()} == {"org/colors"}


def test_quiet_prints_no_bars_and_default_prints_bars_with_totals(model_dir, color_folder, terminal):
    args = ["eval", str(model_dir), "--task", f"folder-task:{color_folder}"]
    loud = CliRunner().invoke(cli, args)
    assert "embed pixels" in loud.stderr and "10/10" in loud.stderr  # 9 good images + 1 broken, a known total
    quiet = CliRunner().invoke(cli, args + ["--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_eval_errors_are_one_clear_line(model_dir, color_folder, pairs, tmp_path):
    runner = CliRunner()
    task = f"folder-task:{color_folder}"
    res = runner.invoke(cli, ["eval", str(model_dir), "--task", "nonsense"])
    assert res.exit_code != 0 and "names no task" in str(res.exception)
    (tmp_path / "empty").mkdir()
    res = runner.invoke(cli, ["eval", str(tmp_path / "empty"), "--task", task])
    assert "not an aligned model folder" in str(res.exception)
    res = runner.invoke(cli, ["eval", str(model_dir), "--task", task, "--baseline", "asif"])
    assert "needs --train" in str(res.exception)
    res = runner.invoke(cli, ["eval", str(model_dir), "--task", task, "--baseline", "nope", "--train", f"folder:{pairs}"])
    assert "unknown baseline 'nope'" in str(res.exception)
    res = runner.invoke(cli, ["eval", "--task", task, "--baseline", "asif", "--train", f"folder:{pairs}"])
    assert "need both --vision and --text" in str(res.exception)
    res = runner.invoke(cli, ["eval", "--task", task])
    assert "nothing to evaluate" in str(res.exception)
    res = runner.invoke(cli, ["eval", str(model_dir), "--task", task, "--name", "a", "--name", "b"])
    assert res.exit_code == 2 and "name every model or none" in res.output


def test_eval_with_baselines_gives_paired_verdicts(model_dir, color_folder, pairs, tmp_path):
    """`alignkit eval --baseline` prints a verdict table (WIN/TIE/LOSS per task and baseline, with
    the paired 95% interval), says that one seed covers test items only, writes the verdicts to its
    results and opens the page with the verdict figure; the numbers are `paired_difference`'s."""
    from alignkit.evaluate.paired import paired_difference

    spec = f"folder-task:{color_folder}"
    out = tmp_path / "out"
    args = ["eval", str(model_dir), "--task", spec, "--baseline", "asif,procrustes", "--train", f"folder:{pairs}"]
    res = CliRunner().invoke(cli, args + ["--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "verdicts of colors (paired 95% intervals; one training seed" in res.stdout
    header = next(line for line in res.stdout.splitlines() if line.startswith("task ") and "verdict" in line)
    assert header.split()[:4] == ["task", "metric", "verdict", "aligned"] and "difference" in header
    assert res.stdout.rstrip().splitlines()[-1].startswith("answer: colors against asif, procrustes on 1 task: ")

    v, t = create_encoder("pixels"), create_encoder("hashed-ngrams")
    fitted = fit_baselines(["asif", "procrustes"], v, t, f"folder:{pairs}", progress=False)
    mine = evaluate_task(AlignedModel.from_pretrained(model_dir), open_task(spec), "colors").hits
    table = pl.read_csv(out / "verdicts.csv").to_dicts()
    assert {r["baseline"] for r in table} == {"asif", "procrustes"} and {r["model"] for r in table} == {"colors"}
    for r in table:
        theirs = evaluate_task(BaselineModel(fitted[r["baseline"]], v, t), open_task(spec), r["baseline"]).hits
        c = paired_difference(mine, theirs)
        assert (r["difference"], r["95% low"], r["95% high"]) == pytest.approx((c["diff"], c["low"], c["high"]), abs=1e-9)
        expected = "win" if c["low"] > 0 else "loss" if c["high"] < 0 else "tie"
        assert r["call"] == expected and r["verdict"] in ("WIN", "TIE", "LOSS")
    saved = json.loads((out / "verdicts.json").read_text())
    assert saved["verdicts"]["colors"][0]["seeds"] == 1 and saved["provenance"]["versions"]["torch"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.index('alt="Verdicts: ') < page.index("Side by side</h2>")  # the verdict figure comes first
    assert "one training seed" in page

    quiet = CliRunner().invoke(cli, ["eval", str(model_dir), "--task", spec])  # no baselines: no verdicts
    assert "verdict" not in quiet.stdout
