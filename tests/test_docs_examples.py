"""Docs as contracts: every `alignkit ...` command line in docs/*.md (bash blocks and inline code)
parses with the real commands' options, as the README's do (tests/test_readme_examples.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from tests.test_readme_examples import cli_lines

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
INLINE = re.compile(r"(?<!`)`(alignkit [^`\n]+)`(?!`)")


def doc_commands(text: str) -> list[tuple[str, bool]]:
    """(line, complete): the bash blocks' command lines (complete: they must run as written), then
    every inline `alignkit ...` span (a mention: its command and options must exist)."""
    blocks = [(line, "..." not in line) for line in cli_lines(text)]
    return blocks + [(m.group(1).strip(), False) for m in INLINE.finditer(text)]


def parse(line: str, complete: bool = True) -> None:
    """Parse ``line`` with the real command tree; a click.UsageError names what does not exist.
    A mention (``complete`` false: an inline span, or a line eliding options with ``...``) may
    leave out required options, but every command and option it names must exist."""
    from alignkit.cli import cli

    argv = [a for a in shlex.split(line)[1:] if a != "..."]
    if not argv:
        return
    with click.Context(cli) as top:
        command = cli.get_command(top, argv[0])
        if command is None:
            raise click.UsageError(f"no command {argv[0]!r}")
        args = argv[1:]
        while isinstance(command, click.Group) and args and not args[0].startswith("-"):
            with click.Context(command, parent=top) as sub:
                nxt = command.get_command(sub, args[0])
            if nxt is None:
                raise click.UsageError(f"no subcommand {args[0]!r} of {argv[0]}")
            command, args = nxt, args[1:]
        if "--help" in args:
            return
        if complete:
            command.make_context(command.name or argv[0], args)
            return
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
        unknown = [a.split("=", 1)[0] for a in args if a.startswith("-") and a.split("=", 1)[0] not in known]
        if unknown:
            raise click.NoSuchOption(unknown[0])
        command.make_context(command.name or argv[0], args, resilient_parsing=True)


CASES = [(page.name, line, complete) for page in DOCS for line, complete in doc_commands(page.read_text(encoding="utf-8"))]


def test_the_docs_hold_command_lines():
    assert len(CASES) >= 40 and {name for name, *_ in CASES} >= {"ranking.md", "evaluation.md", "data.md", "benchmarks.md"}
    assert sum(complete for *_, complete in CASES) >= 20  # most are whole command lines, held to run as written


@pytest.mark.parametrize("page,line,complete", CASES, ids=[f"{n}:{i}" for i, (n, *_) in enumerate(CASES)])
def test_every_docs_command_line_parses_with_the_real_options(page: str, line: str, complete: bool):
    try:
        parse(line, complete)
    except click.UsageError as e:
        pytest.fail(f"docs/{page}: `{line}` does not parse: {e.format_message()}")


def test_the_parse_check_catches_a_made_up_option_and_command():
    with pytest.raises(click.UsageError):
        parse("alignkit eval m --task builtin:mnist --no-such-flag")
    with pytest.raises(click.UsageError):
        parse("alignkit no-such-command --x")
    with pytest.raises(click.UsageError):
        parse("alignkit eval ... --no-such-flag", complete=False)  # a mention's options must exist too
    with pytest.raises(click.UsageError):
        parse("alignkit eval m")  # a whole line must give the required options
    parse("alignkit eval", complete=False)
