"""The docs' figures are the results files' figures: every number inside a figures block of the
README, HISTORY.md or a page under docs/ must appear in the results file the block names, every
results file a page names exists, and every figure that left the README still has a home."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- figures: (?P<file>\S+) -->(?P<body>.*?)<!-- /figures -->", re.S)
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+\.\d+(?![\w.])")
PAGES = sorted([ROOT / "README.md", ROOT / "HISTORY.md", *(ROOT / "docs").glob("*.md")])
# Results files whose figures the docs show, and the page each one's block lives on.
HOMES = {
    "benchmarks/results/demo.md": ("README.md", "docs/benchmarks.md"),
    "benchmarks/results/recipe_selection.md": ("docs/alignment.md",),
    "benchmarks/results/selection_study.md": ("docs/ranking.md",),
    "benchmarks/results/streaming.md": ("docs/alignment.md",),
    "benchmarks/results/engines.md": ("docs/engines.md",),
    "benchmarks/results/memory.md": ("docs/benchmarks.md",),
    "benchmarks/results/train_speed.md": ("docs/benchmarks.md",),
    "benchmarks/results/curation.md": ("README.md",),
}


def blocks(text: str) -> list[tuple[str, str]]:
    return [(m["file"], m["body"]) for m in BLOCK.finditer(text)]


def missing_figures(page: str, root: Path) -> list[str]:
    """Numbers shown in a figures block that its results file does not contain."""
    out = []
    for name, body in blocks(page):
        source = (root / name).read_text(encoding="utf-8")
        shown = set(NUMBER.findall(body))
        out += [f"{name}: {n}" for n in sorted(shown) if n not in source]
    return out


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_figures_match_the_results_files(page: Path):
    text = page.read_text(encoding="utf-8")
    assert text.count("<!-- figures:") == len(blocks(text)) == text.count("<!-- /figures -->"), "an unclosed figures block"
    assert not missing_figures(text, ROOT)
    for name in set(re.findall(r"benchmarks/results/[\w.-]+\.(?:md|json)", text)):
        assert (ROOT / name).exists(), f"{_rel(page)} cites {name}, which does not exist"


def test_every_figure_has_its_block_where_the_docs_say():
    found = {_rel(p): {f for f, _ in blocks(p.read_text(encoding="utf-8"))} for p in PAGES}
    for results, pages in HOMES.items():
        for page in pages:
            assert results in found.get(page, set()), f"{page} lost its figures block on {results}"


def test_the_check_catches_a_figure_that_is_not_in_its_file(tmp_path):
    (tmp_path / "r.md").write_text("| a | 0.443 |\n")
    good = "<!-- figures: r.md -->\n| aligned | 0.443 |\n<!-- /figures -->"
    assert missing_figures(good, tmp_path) == []
    assert missing_figures(good.replace("0.443", "0.447"), tmp_path) == ["r.md: 0.447"]
