"""The `alignkit` command: a thin click group over the Python API.

Each sub-command lives in its own module here and is imported only when it runs, so
`alignkit --help` stays fast and one stage's heavy imports never slow another.
"""

from __future__ import annotations

import importlib
import sys

import click

from alignkit.version import __version__
from alignkit.errors import AlignkitError, InputError

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
    if getattr(shown, "alignkit_one_line", False):  # already installed (run() called again in one process)
        return

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, DegenerateResultWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    show.alignkit_one_line = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def _available(name: str) -> bool:
    module = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alignkit")
def cli() -> None:
    """Align two frozen encoders (image, text) into a CLIP-like model."""


def main(args: list[str] | None = None) -> None:
    """Console entry point: every error is one line, never a traceback; the exit code says which
    kind it was (alignkit.cli.common.EXIT_CODES: 1 failed work, 2 usage error)."""
    sys.exit(run(args))


def run(args: list[str] | None = None) -> int:
    """Run the command line ``args`` (default: ``sys.argv[1:]``); return the exit code. A degenerate
    result's warning is one line too."""
    _one_line_warnings()
    try:
        code = cli.main(args, prog_name="alignkit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.UsageError as e:
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"Error: {_one_line(e.format_message())}{where}", err=True)
        return 2
    except click.ClickException as e:
        click.echo(f"Error: {_one_line(e.format_message())}", err=True)
        return e.exit_code
    except InputError as e:
        click.echo(f"Error: {_one_line(str(e))}", err=True)
        return 2
    except AlignkitError as e:
        click.echo(f"Error: {_one_line(str(e))}", err=True)
        return 1
    except OSError as e:  # a disk or permission problem the work ran into: one line, never a traceback
        where = f": {e.filename}" if e.filename else ""
        click.echo(f"Error: {e.strerror or e}{where}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Interrupted; finished shards and checkpoints are kept, rerun to resume.", err=True)
        return 130
    return code if isinstance(code, int) else 0


def _one_line(message: str) -> str:
    return " ".join(message.split())
