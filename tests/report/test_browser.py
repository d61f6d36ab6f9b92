"""Render reports in headless Chromium and check what a reader would see (the browser driver is
``tests/helpers/chromium.py``). Two control pages prove the checks can fail: a broken image
must show naturalWidth 0 and a network load must be reported as an error. The screenshots in
docs/ are made by the same driver (``scripts/screenshots.py``); a test renders one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from alignkit.report import Report, plots
from tests.helpers.chromium import CHROMIUM, render, screenshot

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium, or scripts/setup.sh --test)"
)


def test_report_renders_tables_and_images_without_errors(tmp_path):
    evil = '<script>console.error("pwned")</script><img src=x onerror=alert(1)>'
    rep = Report("Browser check", subtitle=evil)
    rep.heading("Results").table(
        [{"model": "aligned", "top1": 0.61, "caption": evil}, {"model": "asif", "top1": 0.42, "caption": "ok"}],
        caption="zero-shot",
        best={"top1": "max"},
    )
    rep.figure(plots.heatmap(np.arange(6.0).reshape(2, 3), ["a", "b"], ["x", "y", "z"], title="cka"), caption=evil)
    rep.image_grid([(Image.new("RGB", (28, 28), (200, 30, 30)), evil), (Image.new("L", (300, 200), 128), "grey")])
    page = rep.write(tmp_path / "report")

    probe, errors = render(page, tmp_path / "profile")
    assert errors == []
    assert probe["title"] == "Browser check"
    assert probe["scripts"] == 0
    assert probe["tables"] == [3]  # header + two rows
    assert len(probe["images"]) == 3
    for complete, natural_width, shown_width in probe["images"]:
        assert complete and natural_width > 0 and shown_width > 0
    assert 'console.error("pwned")' in probe["text"]  # shown as text, not run


def test_controls_broken_image_and_network_load_are_caught(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(Report("control").to_html().replace(
        "</body>",
        '<img src="data:image/png;base64,AAAA"><img src="http://127.0.0.1:9/x.png"></body>',
    ))  # fmt: skip
    probe, errors = render(page, tmp_path / "profile")
    assert [w for _, w, _ in probe["images"]] == [0, 0]
    assert errors, "a blocked network load must be reported as an error"


def test_evaluation_report_renders(tmp_path):
    from alignkit.evaluate import classification_result
    from alignkit.evaluate.page import write_eval_outputs

    labels = np.arange(4).repeat(5)
    result = classification_result(np.eye(4)[labels], labels, np.eye(4), "toy <b>task</b>", "m", ["a", "b", "<i>c</i>", "d"])
    page = write_eval_outputs([result], tmp_path / "eval", "Evaluation of m")
    probe, errors = render(page, tmp_path / "profile")
    assert errors == []
    assert probe["tables"] == [3]  # header + top1 + mean per-class recall
    assert len(probe["images"]) == 1 and probe["images"][0][1] > 0
    assert "toy <b>task</b>" in probe["text"]


def _ranking_entries() -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """A ranking as wide as a real one: every default metric raw and calibrated, long specs."""
    from alignkit.similarity import DEFAULT_METRICS

    vision = ["hf:facebook/dinov2-with-registers-giant?layer=-2&pool=cls+mean",
              "timm:vit_large_patch14_clip_224.openai_ft_in12k_in1k", "efficientnet-lite0-random"]
    text = ["st:sentence-transformers/paraphrase-multilingual-mpnet-base-v2", "st:sentence-transformers/all-roberta-large-v1",
            "hashed-ngrams"]
    rng = np.random.default_rng(0)
    ranked = []
    for v in vision:
        for t in text:
            e: dict[str, Any] = {"rank": len(ranked) + 1, "vision": v, "text": t, "control": "random" in v or t == "hashed-ngrams"}
            for m in DEFAULT_METRICS:
                e[m], e[f"{m}_cal"] = float(rng.random()), float(rng.random())
                e[f"{m}_ci"] = (e[m] - 0.05, e[m] + 0.05)
            ranked.append(e)
    return ranked, tuple(DEFAULT_METRICS)


@pytest.mark.slow
def test_ranking_and_wide_tables_fit_a_1280px_page(tmp_path):
    from alignkit.rank.page import write_rank_report

    ranked, metrics = _ranking_entries()
    rows = [{"vision": e["vision"], "text": e["text"], "metric": m, "value": e[m]} for e in ranked for m in metrics]
    page = write_rank_report(tmp_path / "rank", rows, ranked, [], metrics, metrics[0], "builtin:emoji?split=probe", 500,
                             "alignkit rank-encoders --vision-zoo big --text-zoo big")
    probe, errors = render(page, tmp_path / "profile")
    assert errors == []
    assert probe["scrollWidth"] <= 1280 and probe["contentWidth"] <= 1280

    wide = Report("wide").table([{f"column number {j}": 0.5 + j for j in range(40)} for _ in range(3)])
    probe, _ = render(wide.write(tmp_path / "wide"), tmp_path / "profile2")
    assert probe["scrollWidth"] <= 1280 and probe["contentWidth"] <= 1280
    (inner, shown), = probe["wraps"]
    assert inner > shown  # the table scrolls inside its own box


def test_control_an_unwrapped_wide_table_is_caught(tmp_path):
    html = Report("wide").table([{f"column number {j}": 0.5 + j for j in range(40)}]).to_html()
    page = tmp_path / "unwrapped.html"
    page.write_text(html.replace('<div class="tablewrap">', "<div>"), encoding="utf-8")
    probe, _ = render(page, tmp_path / "profile")
    assert probe["scrollWidth"] > 1280 and probe["contentWidth"] > 1280


def test_a_report_screenshot_is_the_rendered_page(tmp_path):
    """What scripts/screenshots.py does for docs/: the top of a rendered report as a PNG."""
    rep = Report("Screenshot check")
    rep.heading("Results").table([{"model": "aligned", "top1": 0.61}, {"model": "asif", "top1": 0.42}])
    png = screenshot(rep.write(tmp_path / "report"), tmp_path / "shot.png", tmp_path / "profile", width=1280, height=600)
    img = np.asarray(Image.open(png).convert("L"))
    assert img.shape == (600, 1280)
    assert img.min() < 100 and (img > 240).mean() > 0.5  # dark text on a mostly white page


def test_the_docs_screenshots_are_there_at_the_scripts_sizes():
    root = Path(__file__).resolve().parents[2]
    for name, height in (("demo-report.png", 2000), ("rank-report.png", 1500)):
        with Image.open(root / "docs" / name) as img:
            assert img.size == (1280, height), f"docs/{name}: rerun scripts/screenshots.py"


def _demo_page(tmp_path: Path, monkeypatch) -> Path:
    """A real bench page: the quick demo on tiny settings (control encoders, data the test writes)."""
    from click.testing import CliRunner

    from alignkit.cli import cli
    from tests.helpers.bench_data import tiny_setup

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    setup = tiny_setup(tmp_path / "data")
    out = tmp_path / "demo"
    args = ["demo", "--quick", "--out", str(out), "--vision-zoo", "pixels?size=4,pixels?size=6", "--text-zoo",
            "hashed-ngrams?dim=64", "--probe", setup["probe"], "--n", "40", "--train", setup["train"], "--epochs", "2",
            "--quiet"] + [a for t in setup["tasks"] for a in ("--task", t)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    return out / "index.html"


@pytest.mark.slow
def test_no_cell_overflows_or_breaks_a_number_at_1400_and_900_px(tmp_path, monkeypatch):
    """The pages that give verdicts and rankings, read at a desktop and a narrow width: every
    cell's text fits its cell and no number is split across lines (wide tables scroll instead)."""
    from alignkit.rank.page import write_rank_report
    from tests.helpers.chromium import CELLS

    ranked, metrics = _ranking_entries()
    rows = [{"vision": e["vision"], "text": e["text"], "metric": m, "value": e[m]} for e in ranked for m in metrics]
    pages = [_demo_page(tmp_path, monkeypatch),
             write_rank_report(tmp_path / "rank", rows, ranked, [], metrics, metrics[0], "builtin:emoji?split=probe", 500,
                               "alignkit rank-encoders")]
    for page in pages:
        assert 'class="num"' in page.read_text(encoding="utf-8")
        for width in (1400, 900):
            problems, errors = render(page, tmp_path / f"profile-{width}", width=width, probe=CELLS)
            assert errors == [] and problems == [], (page, width, problems[:5])


def test_control_a_broken_number_and_an_overflowing_cell_are_caught(tmp_path):
    from tests.helpers.chromium import CELLS

    html = Report("narrow").table([{"interval": "+0.0213 [-0.0104, +0.0561]", "value": 1234567.891}]).to_html()
    squeezed = html.replace("</style>", "td{max-width:2.5rem!important;min-width:0;white-space:normal!important;"
                                         "overflow-wrap:anywhere!important}</style>")
    page = tmp_path / "squeezed.html"
    page.write_text(squeezed, encoding="utf-8")
    problems, _ = render(page, tmp_path / "profile", width=900, probe=CELLS)
    assert any(p["problem"].startswith("breaks the number") for p in problems), problems
    clipped = html.replace("</style>", "td{max-width:2.5rem!important;width:2.5rem;overflow:hidden}table{table-layout:fixed;"
                                       "width:5rem}</style>")
    page.write_text(clipped, encoding="utf-8")
    problems, _ = render(page, tmp_path / "profile2", width=900, probe=CELLS)
    assert any(p["problem"] == "overflows its cell" for p in problems), problems
