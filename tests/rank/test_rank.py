"""`alignkit rank-encoders` end to end on a probe the test writes: ranking, JSON output, the
report (escaped), controls marked, layer-wise mode, and a rerun that does no encoder work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.helpers.tiny_models import save_vit

WORDS = ["red", "green", "blue", "dark", "bright", "striped", "dotted", "square", "round", "tiny"]


@pytest.fixture
def probe(tmp_path: Path) -> str:
    """60 pairs whose captions describe the image (colour words), so paired spaces are related."""
    rng = np.random.default_rng(0)
    root = tmp_path / "probe"
    root.mkdir()
    colours = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200)}
    records = []
    for i in range(60):
        name = list(colours)[i % 3]
        tone = rng.integers(0, 80)
        arr = np.clip(np.array(colours[name]) * (0.6 + 0.4 * (i % 5) / 4) + rng.integers(0, 40, (32, 32, 3)) + tone, 0, 255)
        Image.fromarray(arr.astype(np.uint8)).save(root / f"{i:03d}.png")
        size = ["tiny", "small", "medium", "large", "huge"][i % 5]
        records.append({"image": f"{i:03d}.png", "caption": f"a {size} {name} square"})
    records[5]["caption"] = "<script>alert(1)</script> a red square"
    (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    return f"folder:{root}"


def run(args: list[str]):
    from alignkit.cli import cli

    res = CliRunner().invoke(cli, ["rank-encoders", *args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res


@pytest.mark.slow
def test_rank_json_report_and_cached_rerun(probe: str, tmp_path: Path, monkeypatch, terminal):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report"
    args = ["--vision-zoo", "pixels,pixels?size=4", "--text-zoo", "hashed-ngrams", "--probe", probe, "--n", "60",
            "--metrics", "linear_cka,mutual_knn", "--k", "5", "--bootstrap", "10", "--permutations", "10",
            "--format", "json", "--out", str(out)]
    res = run(args)
    assert res.output.startswith("alignkit rank-encoders will: embed up to 60 probe pairs")  # the plan, before any work
    assert "score pairs" in res.output and "2/2" in res.output  # a bar over the pairs, with its total
    assert f"report: {out / 'index.html'}" in res.output
    assert "answer: every ranked pair is a control" in res.output  # pixels and hashed n-grams only
    objs = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert [o["rank"] for o in objs] == [1, 2]
    assert {o["vision"] for o in objs} == {"pixels", "pixels?size=4"} and all(o["control"] for o in objs)
    for o in objs:
        for m in ("linear_cka", "mutual_knn"):
            s = o[m]
            assert 0 <= s["raw"] <= 1 and s["ci_low"] <= s["raw"] <= s["ci_high"] and 0 < s["p_value"] <= 1
            assert s["calibrated_ci_low"] <= s["calibrated"] <= s["calibrated_ci_high"]
            assert s["calibrated"] < s["raw"]  # the null sits above zero: calibration lowers the score
    cal = [o["linear_cka"]["calibrated"] for o in objs]
    assert cal == sorted(cal, reverse=True)
    page = (out / "index.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page and page.count("data:image/png;base64") >= 4
    assert (out / "results.parquet").exists() and (out / "ranking.csv").exists()

    cache = tmp_path / "cache"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    run(args)
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert before == after  # no store written, no score recomputed


@pytest.mark.slow
def test_layerwise_reports_a_best_layer(probe: str, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    vit, _ = save_vit(tmp_path / "vit")
    res = run(["--vision-zoo", f"hf:{vit}", "--text-zoo", "hashed-ngrams", "--probe", probe, "--n", "60",
               "--metrics", "linear_cka", "--bootstrap", "0", "--permutations", "5", "--layerwise",
               "--out", str(tmp_path / "r")])
    assert "best layer of hf:" in res.stdout
    rows = json.loads("[" + ",".join((tmp_path / "r" / "results.jsonl").read_text().splitlines()) + "]")
    layers = sorted({r["vision_layer"] for r in rows if r["vision_layer"] is not None})
    assert layers == [1, 2]  # every intermediate layer of the 2-block ViT was scored
    assert (tmp_path / "r" / "layers.csv").exists()


def test_unknown_encoder_and_wrong_modality(probe: str, tmp_path: Path, monkeypatch):
    from alignkit.cli import cli

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    res = CliRunner().invoke(cli, ["rank-encoders", "--vision-zoo", "efficientnet-lite9", "--text-zoo", "hashed-ngrams",
                                   "--probe", probe])
    assert res.exit_code != 0 and "unknown encoder" in str(res.exception)
    res = CliRunner().invoke(cli, ["rank-encoders", "--vision-zoo", "hashed-ngrams", "--text-zoo", "hashed-ngrams",
                                   "--probe", probe])
    assert res.exit_code != 0 and "in the image zoo" in str(res.exception)


@pytest.mark.slow
def test_svcca_share_reaches_the_metric(probe: str, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    raw = {}
    for share in ("0.5", "0.8"):
        res = run(["--vision-zoo", "pixels", "--text-zoo", "hashed-ngrams", "--probe", probe, "--n", "60",
                   "--metrics", "linear_cka,svcca", "--svcca-share", share, "--bootstrap", "0", "--permutations", "5",
                   "--format", "json", "--out", str(tmp_path / share)])
        obj = json.loads(next(line for line in res.stdout.splitlines() if line.startswith("{")))
        raw[share] = obj["svcca"]["raw"]
    assert all(0 < v <= 1 for v in raw.values()) and raw["0.5"] != raw["0.8"]


@pytest.mark.slow
def test_a_metric_that_cannot_be_computed_is_nan_with_its_reason(probe: str, tmp_path: Path, monkeypatch):
    """One metric failing on one pair (every SVD driver refusing) must not end the ranking."""
    from alignkit import linalg
    from alignkit.linalg import NumericalError

    def refuse(a):
        raise NumericalError("SVD of a 60 x 768 matrix failed with every LAPACK driver (simulated)")

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(linalg, "torch_svd", refuse)  # the SVD behind the CCA metrics' principal subspaces
    base = ["--vision-zoo", "pixels", "--text-zoo", "hashed-ngrams", "--probe", probe, "--n", "60",
            "--metrics", "linear_cka,svcca", "--bootstrap", "0", "--permutations", "5", "--out", str(tmp_path / "r")]
    obj = json.loads(next(line for line in run(base + ["--format", "json"]).stdout.splitlines() if line.startswith("{")))
    assert 0 < obj["linear_cka"]["raw"] <= 1 and obj["linear_cka"]["error"] is None
    assert obj["svcca"]["raw"] != obj["svcca"]["raw"]  # NaN
    assert "NumericalError" in obj["svcca"]["error"] and "every LAPACK driver" in obj["svcca"]["error"]
    table = run(base).stdout
    assert "notes" in table and "svcca not computed (NumericalError" in table
    assert "svcca not computed" in (tmp_path / "r" / "ranking.csv").read_text()
    assert "svcca failed or sat in a degenerate regime" in (tmp_path / "r" / "index.html").read_text()


@pytest.mark.slow
def test_svcca_in_a_degenerate_regime_is_flagged(probe: str, tmp_path: Path, monkeypatch):
    """20 probe pairs: SVCCA keeping 3 components is fine, keeping a quarter of the rows or more (12 at share
    0.99) is flagged in the JSON and in the table."""
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    flagged = {}
    for share in ("0.5", "0.99"):
        base = ["--vision-zoo", "pixels", "--text-zoo", "hashed-ngrams", "--probe", probe, "--n", "20",
                "--metrics", "linear_cka,svcca", "--svcca-share", share, "--bootstrap", "0", "--permutations", "5",
                "--out", str(tmp_path / share)]
        obj = json.loads(next(line for line in run(base + ["--format", "json"]).stdout.splitlines() if line.startswith("{")))
        kept = obj["svcca"]["retained_rank"]
        assert obj["svcca"]["degenerate"] is (kept >= 5) and obj["linear_cka"]["degenerate"] is False
        flagged[share] = obj["svcca"]["degenerate"]
        assert (f"svcca degenerate ({kept} components kept of 20 rows" in run(base).stdout) is flagged[share]
    assert flagged == {"0.5": False, "0.99": True}
