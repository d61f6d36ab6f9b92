"""The habits every command shares: ``-q/--quiet`` and ``-v/--verbose``, one ``--format`` flag
(``--json`` kept as a hidden alias where it was the flag), and the exit codes ``main`` returns.

Exit codes (README, "The CLI in five lines"): 0 done; 1 the work failed (bad data, a missing model or package, a
damaged store, a diverged run: ``AlignkitError``); 2 a usage error, found before any work (an
unknown option, a value out of range, an unknown recipe key or encoder, a malformed spec:
click's usage errors and ``alignkit.errors.InputError``); 130 interrupted.
"""

from __future__ import annotations

from typing import Any, Callable

import click

# what --permutations 0 gives, said before any work (rank-encoders, bench, demo)
DEGENERATE_PERMUTATIONS = ("warning: --permutations 0 draws no shuffled pairings: calibrated scores and p-values are NaN "
                           "and the ranking falls back to the raw metric; use at least 20 for a calibrated ranking")
EXIT_CODES = {0: "done", 1: "the work failed", 2: "usage error (before any work)", 130: "interrupted"}


def _verbosity(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    from alignkit.progress import set_verbosity

    if param.name == "quiet" and value:
        set_verbosity(-1)
    elif param.name == "verbose" and value:
        set_verbosity(int(value))
    return value


def verbosity_options(fn: Callable) -> Callable:
    """``-q/--quiet`` (passed on as ``quiet``) and ``-v/--verbose`` (counted; set here and not passed on)."""
    fn = click.option("-v", "--verbose", count=True, expose_value=False, callback=_verbosity,
                      help="More log lines (alignkit's and the libraries'): -v info, -vv debug.")(fn)
    return click.option("-q", "--quiet", is_flag=True, callback=_verbosity,
                        help="No progress bars (model loading included), notes or third-party warnings.")(fn)


def format_option(choices: tuple[str, ...], help: str, json_alias: bool = False) -> Callable:
    """``--format`` (passed on as ``fmt``), the one output-format flag; ``json_alias`` keeps a
    hidden ``--json`` meaning ``--format json`` for the commands that had it (recorded in HISTORY.md)."""

    def alias(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            ctx.meta["alignkit.json"] = True

    def chosen(ctx: click.Context, param: click.Parameter, value: str) -> str:
        from_default = ctx.get_parameter_source("fmt") is click.core.ParameterSource.DEFAULT
        return "json" if from_default and ctx.meta.get("alignkit.json") else value

    def wrap(fn: Callable) -> Callable:
        fn = click.option("--format", "fmt", type=click.Choice(choices), default=choices[0], show_default=True,
                          callback=chosen, help=help)(fn)
        if json_alias:
            fn = click.option("--json", "json_alias", is_flag=True, is_eager=True, expose_value=False, hidden=True,
                              callback=alias, help="Deprecated: --format json.")(fn)
        return fn

    return wrap
