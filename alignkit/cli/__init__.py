"""The `alignkit` command: a thin click group over the Python API.

Each sub-command lives in its own module here and is imported only when it runs, so
`alignkit --help` stays fast and one stage's heavy imports never slow another.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from alignkit.version import __version__
from alignkit.errors import AlignkitError

# command name -> "module:function" (a click.Command)
COMMANDS: dict[str, str] = {
    "zoo": "alignkit.cli.zoo:zoo",
    "embed": "alignkit.cli.embed:embed",
    "data": "alignkit.cli.data:data",
    "rank-encoders": "alignkit.cli.rank:rank_encoders",
    "align": "alignkit.cli.align:align",
    "eval": "alignkit.cli.evaluate:eval_cmd",
    "bench": "alignkit.cli.bench:bench",
    "demo": "alignkit.cli.demo:demo",
    "curate": "alignkit.cli.curate:curate",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _available(n))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(name):
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


def _one_line_warnings() -> None:
    """Print each ``DegenerateResultWarning`` as ``warning: <message>``, without file and source line."""
    import warnings

    from alignkit.errors import DegenerateResultWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, DegenerateResultWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _available(name: str) -> bool:
    module = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alignkit")
def cli() -> None:
    """Align two frozen encoders (image, text) into a CLIP-like model."""


def main() -> None:
    """Console entry point: user errors print one clear line, not a traceback (and a degenerate
    result's warning one line too)."""
    _one_line_warnings()
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except AlignkitError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted; finished shards and checkpoints are kept, rerun to resume.", err=True)
        sys.exit(130)
