"""The README's figures are the results files' figures: every number inside a figures block must
appear in the results file the block names, and every results file the README names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- figures: (?P<file>\S+) -->(?P<body>.*?)<!-- /figures -->", re.S)
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+\.\d+(?![\w.])")


def blocks(text: str) -> list[tuple[str, str]]:
    return [(m["file"], m["body"]) for m in BLOCK.finditer(text)]


def missing_figures(readme: str, root: Path) -> list[str]:
    """Numbers shown in a figures block that its results file does not contain."""
    out = []
    for name, body in blocks(readme):
        source = (root / name).read_text(encoding="utf-8")
        shown = set(NUMBER.findall(body))
        out += [f"{name}: {n}" for n in sorted(shown) if n not in source]
    return out


def test_readme_figures_match_the_results_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = blocks(readme)
    assert {f for f, _ in found} >= {"benchmarks/results/recipe_selection.md"}
    assert not missing_figures(readme, ROOT)
    for name in set(re.findall(r"benchmarks/results/[\w.-]+\.(?:md|json)", readme)):
        assert (ROOT / name).exists(), f"the README cites {name}, which does not exist"


def test_the_check_catches_a_figure_that_is_not_in_its_file(tmp_path):
    (tmp_path / "r.md").write_text("| a | 0.443 |\n")
    good = "<!-- figures: r.md -->\n| aligned | 0.443 |\n<!-- /figures -->"
    assert missing_figures(good, tmp_path) == []
    assert missing_figures(good.replace("0.443", "0.447"), tmp_path) == ["r.md: 0.447"]
