"""`alignkit eval` end to end: a real AlignedModel folder (control encoders, linear heads set by
hand to read colours), a folder task on disk, table/json output and the --out files."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alignkit.align.config import HeadConfig
from alignkit.align.model import AlignedModel
from alignkit.cli import cli
from alignkit.data.tasks import open_task
from alignkit.encoders import create_encoder
from alignkit.evaluate import evaluate

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


@pytest.fixture(scope="module")
def color_model(tmp_path_factory):
    """Linear heads: image -> least-squares read-out of the pure colours, text -> overlap with
    each colour word's hashed n-grams. A correct evaluation gives top-1 = 1."""
    pixels, ngrams = create_encoder("pixels"), create_encoder("hashed-ngrams")
    pure = pixels.encode([Image.new("RGB", (8, 8), rgb) for rgb in COLORS.values()]).pooled.double()
    words = ngrams.encode(list(COLORS)).pooled
    model = AlignedModel.create(
        {"spec": pixels.spec, "dim": pixels.dim, "fingerprint": pixels.fingerprint()},
        {"spec": ngrams.spec, "dim": ngrams.dim, "fingerprint": ngrams.fingerprint()},
        HeadConfig(kind="linear"), HeadConfig(kind="linear"), shared_dim=3,
    )  # fmt: skip
    with torch.no_grad():
        model.image_head.proj.weight.copy_(torch.linalg.pinv(pure).T.float() - torch.linalg.pinv(pure).T.float().mean(0))
        model.image_head.proj.bias.zero_()
        model.text_head.proj.weight.copy_(words)
        model.text_head.proj.bias.zero_()
    return model.save_pretrained(tmp_path_factory.mktemp("model") / "colors")


@pytest.fixture()
def color_folder(tmp_path):
    root = tmp_path / "colors"
    for name, rgb in COLORS.items():
        (root / name).mkdir(parents=True)
        for i in range(3):
            shade = tuple(min(255, v + 10 * i) for v in rgb)
            Image.new("RGB", (10, 10), shade).save(root / name / f"{i}.png")
    (root / "red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def test_eval_table_json_and_outputs(color_model, color_folder, tmp_path):
    runner = CliRunner()
    spec = f"folder-task:{color_folder}"
    res = runner.invoke(cli, ["eval", str(color_model), "--task", spec, "--format", "json", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert {r["metric"]: r["value"] for r in rows} == {"top1": 1.0, "mean_per_class_recall": 1.0}
    assert all(r["chance"] == pytest.approx(1 / 3) and r["n"] == 9 and r["model"] == "colors" for r in rows)
    assert "1 items skipped" in res.stderr and "broken.png" in res.stderr

    # the CLI is a thin layer: the API gives the same rows
    assert evaluate(AlignedModel.from_pretrained(color_model), open_task(spec), "colors") == rows

    out = tmp_path / "out"
    assert pl.read_parquet(out / "results.parquet").to_dicts() == rows
    assert pl.read_csv(out / "results.csv").height == 2 and (out / "results.jsonl").exists()
    assert (out / "confusion-colors.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "top1" in page and "1 items skipped" in page and "data:image/png;base64," in page

    table = runner.invoke(cli, ["eval", str(color_model), "--task", spec])
    assert table.exit_code == 0
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["task", "metric", "value", "chance", "n"]
    assert lines[0].split() == ["colors", "top1", "1.000", "0.333", "9"]


def test_eval_errors_are_one_clear_line(color_model, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["eval", str(color_model), "--task", "nonsense"])
    assert res.exit_code != 0 and "names no task" in str(res.exception)
    (tmp_path / "empty").mkdir()
    res = runner.invoke(cli, ["eval", str(tmp_path / "empty"), "--task", "nonsense"])
    assert "not an aligned model folder" in str(res.exception)
