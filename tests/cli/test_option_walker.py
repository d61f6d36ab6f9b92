"""Every option of every command (alignkit.cli.COMMANDS and their sub-commands), fed hostile
values at parse time: each answer is exit 2 with one line of error output naming the option, or
(the value being legal) a clean parse. Every numeric option has a range type, every float refuses
nan and inf, every text option refuses an empty value, every option has help and shows its default.

The commands' callbacks are replaced by a stand-in, so only parsing runs (no model is loaded).
"""

from __future__ import annotations

import importlib
import math
import os
from pathlib import Path

import click
import pytest

from alignkit.cli import COMMANDS, cli, run
from alignkit.options import FiniteFloat, NonEmpty

HOSTILE = ("0", "-1", "nan", "inf", "1e308", "99999999999999999999", "word", "")


def _commands() -> list[tuple[list[str], click.Command]]:
    """(path, command) for every command and sub-command."""
    out = []
    for name, target in COMMANDS.items():
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        if isinstance(command, click.Group):
            out += [([name, sub], c) for sub, c in command.commands.items()]
        else:
            out.append(([name], command))
    return out


COMMAND_LIST = _commands()
OPTIONS = [(path, cmd, p) for path, cmd in COMMAND_LIST for p in cmd.params
           if isinstance(p, click.Option) and not p.is_flag and not p.count and not p.hidden and not p.is_eager]


def _legal(param: click.Parameter, tmp: Path) -> str:
    """A value the parser takes for ``param`` (for the required options beside the one under test)."""
    t = param.type
    if isinstance(t, click.Path):
        return str(tmp / "out")
    if isinstance(t, click.Choice):
        return t.choices[0]
    if isinstance(t, (click.IntRange, click.FloatRange)):
        return str(t.min if t.min is not None and not t.min_open else 1 if t.min is None or t.min < 1 else t.min + 1)
    return "x"


def _args(path: list[str], cmd: click.Command, option: click.Option, value: str, tmp: Path) -> list[str]:
    args = list(path)
    for p in cmd.params:
        if p is not option and p.required:
            args += [p.opts[0], _legal(p, tmp)] if isinstance(p, click.Option) else [_legal(p, tmp)]
    return args + [option.opts[0], value]


@pytest.fixture()
def parse_only(monkeypatch):
    """Replace every command's callback: a parse that succeeds reaches this and stops."""
    for _, cmd in COMMAND_LIST:
        monkeypatch.setattr(cmd, "callback", lambda *a, **k: None)


def _kind(option: click.Option) -> str:
    t = option.type
    if isinstance(t, click.types.FloatParamType):
        return "float"
    if isinstance(t, click.types.IntParamType):
        return "int"
    if isinstance(t, (click.Choice, click.Path, click.File)):
        return "other"
    return "text"


@pytest.mark.parametrize("path,cmd,option", OPTIONS, ids=[f"{' '.join(p)} {o.opts[0]}" for p, _, o in OPTIONS])
def test_hostile_values_are_one_line_usage_errors_or_legal(path, cmd, option, parse_only, capsys, tmp_path):
    kind = _kind(option)
    if kind == "int":
        assert isinstance(option.type, click.IntRange), f"{option.opts[0]}: an int option needs a range (click.IntRange)"
    if kind == "float":
        assert isinstance(option.type, FiniteFloat), f"{option.opts[0]}: a float option needs alignkit.options.finite_float"
    if kind == "text":
        assert isinstance(option.type, NonEmpty) or option.name == "baselines", f"{option.opts[0]}: free text needs NON_EMPTY"
    for value in HOSTILE:
        capsys.readouterr()
        code = run(_args(path, cmd, option, value, tmp_path))
        out, err = capsys.readouterr()
        assert code in (0, 2), f"{path} {option.opts[0]}={value!r}: exit {code}\n{err}"
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and out == "", f"{option.opts[0]}={value!r}: {err!r}"
            assert option.opts[0] in err or any(o in err for o in option.opts), err
        must_refuse = (kind in ("int", "float") and value in ("nan", "inf", "word", "")) or \
                      (kind == "int" and value == "1e308") or (kind == "float" and value == "inf") or \
                      (kind == "text" and value == "" and option.name != "baselines")
        if must_refuse:
            assert code == 2, f"{path} {option.opts[0]} took {value!r}"
        if code == 0 and kind in ("int", "float") and value not in ("word", ""):
            assert math.isfinite(float(value))


@pytest.mark.parametrize("path,cmd", COMMAND_LIST, ids=[" ".join(p) for p, _ in COMMAND_LIST])
def test_every_option_has_help_and_shows_its_default(path, cmd):
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.hidden or p.name == "help":
            continue
        assert p.help and p.help.strip(), f"alignkit {' '.join(path)} {p.opts[0]} has no help text"
        unset = type(p.default).__name__ == "Sentinel"  # click's "no default given"
        has_default = not unset and p.default not in (None, False, ()) and not p.is_flag and not p.count
        if has_default:
            assert p.show_default or "default" in p.help.lower(), f"alignkit {' '.join(path)} {p.opts[0]} hides its default {p.default!r}"


def test_long_running_commands_take_quiet_and_verbose():
    long_running = {"embed", "rank-encoders", "align", "eval", "bench", "demo", "curate", "data fetch"}
    for path, cmd in COMMAND_LIST:
        if " ".join(path) in long_running:
            names = {o for p in cmd.params for o in getattr(p, "opts", [])}
            assert {"-q", "--quiet", "-v", "--verbose"} <= names, f"alignkit {' '.join(path)} lacks -q/-v"


def test_one_output_format_flag(capsys):
    """Every command with a choice of output format calls it --format; --json is only a hidden alias."""
    import json

    for path, cmd in COMMAND_LIST:
        for p in cmd.params:
            if "--json" in getattr(p, "opts", []):
                assert p.hidden, f"alignkit {' '.join(path)} has a visible --json; use --format"
    for args in (["data", "list", "--json"], ["data", "list", "--format", "json"]):
        capsys.readouterr()
        assert run(args) == 0
        assert all(json.loads(line)["name"] for line in capsys.readouterr().out.splitlines())


def test_the_one_line_error_names_the_command_help(capsys):
    assert run(["embed", "--encoder", "x", "--out", "o", "--shard-size", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--shard-size" in err and "alignkit embed --help" in err


def test_cli_group_lists_every_command():
    assert set(cli.list_commands(click.Context(cli))) == set(COMMANDS)


def test_quiet_reaches_the_process_verbosity(tmp_path, capsys, monkeypatch):
    """-q on a command runs set_verbosity(-1): alignkit's bars off, the hub's bars off for workers too."""
    from alignkit import progress

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")  # restored after the test
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "warning")
    (tmp_path / "t.txt").write_text("a cat\na dog\n")
    assert run(["embed", "--encoder", "hashed-ngrams", "--texts", str(tmp_path / "t.txt"), "--out", str(tmp_path / "s"), "-q"]) == 0
    assert progress._STATE["quiet"] and progress.progress_bar(3, "x", True).__class__.__name__ == "_NoBar"
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
