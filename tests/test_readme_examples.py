"""The README is a front door: short, an example near the top, links that resolve, and examples
that are real (the CLI lines parse with the actual commands' options; the Python session runs
against a tiny model trained here)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.helpers.bench_data import write_pairs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = ("docs/ranking.md", "docs/alignment.md", "docs/evaluation.md", "docs/data.md", "docs/benchmarks.md",
         "docs/architecture.md", "HISTORY.md")
LINK = re.compile(r"\]\((?!https?:|mailto:)(?P<path>[^)#\s]*)(?:#(?P<anchor>[^)\s]+))?\)")


def fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def cli_lines(text: str) -> list[str]:
    """Every `alignkit ...` command of the text's bash blocks, continuation lines joined."""
    out = []
    for block in fenced(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ", 1)[0].strip()  # comments: "  # ..." after the command
            if line.startswith("alignkit "):
                out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_is_short_and_starts_with_something_to_run():
    assert len(README.encode("utf-8")) <= 12_000
    head = "\n".join(README.splitlines()[:60])
    assert "scripts/setup.sh && .venv/bin/alignkit demo" in head and "scripts/test.sh" in head
    assert len(cli_lines(head)) >= 3 and "create_model_and_transforms" in head
    for words in ("not yet run", "no GPU was lent", "issue", "session"):
        assert words not in README.lower(), f"the README still says {words!r}"


def test_the_readme_links_every_docs_page_and_every_link_resolves():
    for page in PAGES:
        assert f"]({page})" in README, f"the README does not link {page}"
    for source in [ROOT / "README.md", ROOT / "HISTORY.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = source.read_text(encoding="utf-8")
        for m in LINK.finditer(text):
            target = (source.parent / m["path"]).resolve() if m["path"] else source
            assert target.exists(), f"{source.name} links {m['path']}, which does not exist"
            if m["anchor"] and target.suffix == ".md":
                heads = {slug(h) for h in re.findall(r"^#+ (.*)$", target.read_text(encoding="utf-8"), re.M)}
                assert m["anchor"] in heads, f"{source.name} links {m['path']}#{m['anchor']}: no such heading"


def test_the_readme_cli_lines_parse_with_the_real_options():
    from alignkit.cli import cli

    lines = cli_lines(README)
    assert [shlex.split(line)[1] for line in lines if "demo" not in line] == ["rank-encoders", "align", "eval"]
    for line in lines:
        argv = shlex.split(line)[1:]
        with click.Context(cli) as ctx:
            command = cli.get_command(ctx, argv[0])
            assert command is not None, f"no command {argv[0]}"
            command.make_context(argv[0], argv[1:])  # raises click.UsageError on an unknown option or a bad value


def test_the_parse_check_catches_an_option_that_does_not_exist():
    from alignkit.cli import cli

    with click.Context(cli) as ctx, pytest.raises(click.UsageError):
        cli.get_command(ctx, "align").make_context("align", ["--out", "x", "--no-such-option", "1"])


def test_the_readme_python_session_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The session as written, on a tiny model trained on coloured squares (control encoders) and
    a folder source standing in for the built-in emoji drawing it opens."""
    from alignkit.cli import cli

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    pairs = write_pairs(tmp_path / "pairs", 24, 0)
    res = CliRunner().invoke(cli, ["align", "--vision", "pixels?size=4", "--text", "hashed-ngrams?dim=64", "--data", pairs,
                                   "--out", "runs/emoji", "--epochs", "2", "--quiet"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    (session,) = [b for b in fenced(README, "python") if "create_model_and_transforms" in b]
    assert len([line for line in session.splitlines() if line.strip()]) <= 10
    assert '"builtin:emoji?split=unseen-style&n=1"' in session
    code = session.replace('"builtin:emoji?split=unseen-style&n=1"', repr(pairs))
    printed: list = []
    exec(compile(code, "README.md", "exec"), {"print": printed.append})
    (probs,) = printed
    assert len(probs) == 4 and abs(sum(probs.values()) - 1) < 1e-4
