"""The recipe's value types, checked where a value enters (YAML, JSON, ``--set``, the Python
constructor, attribute assignment), with one-line errors naming the key.

Each recipe key is declared once in ``alignkit.align.recipe`` with one of the types below; the type
carries a ``Key`` (section, help text, range) that does three jobs: it checks and converts the
value (a pydantic ``BeforeValidator``), it describes the key for ``alignkit align --list-keys``,
and it gives the CLI its click type (``Key.click_type``), so the range a recipe file is held to is
the range the command line is held to. pydantic 2 dataclasses run the checks: they keep the plain
dataclass API the code uses (positional fields, ``asdict``, ``replace``, ``fields``) and build
nested heads from mappings, while the wording of every error stays ours.

Conventions (docs/alignment.md): numbers may be written as strings ("1e-3": YAML 1.1 reads a
bare ``1e-3`` as one), never as true/false, and must be finite; an integer key takes a whole
number only; a flag takes true or false only (YAML's unquoted yes/no/on/off are booleans too), so
a quoted "false" is an error, never silently true.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, ValidationError

from alignkit.errors import InputError

SECTIONS = ("heads", "loss", "optimisation", "memory", "data", "runtime")
# every recipe dataclass: unknown keys refused, assignments checked too
CHECKED = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
FLAG_WORDS = "true or false (unquoted: true/false, yes/no, on/off)"


class ConfigError(InputError):
    """A recipe value is unknown or out of range."""


@dataclasses.dataclass(frozen=True)
class Key:
    """One recipe key's section, help text and accepted values (``kind``: number, integer, flag,
    choice, text, head; ``lo``/``hi`` bounds, open when ``*_open``; ``choices`` for a choice)."""

    section: str
    help: str
    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False

    def describe(self) -> str:
        """The accepted values in words, as errors and ``--list-keys`` say them."""
        if self.kind == "flag":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind in ("text", "head"):
            return "a string" if self.kind == "text" else "a mapping of head keys"
        what = "a finite number" if self.kind == "number" else "an integer"
        if self.lo is not None and self.hi is not None:
            left = "(" if self.lo_open else "["
            what += f" in {left}{_num(self.lo)}, {_num(self.hi)}]"
        elif self.lo == 0 and self.lo_open:
            what = "a positive finite number"
        elif self.lo is not None:
            what += f" {'above' if self.lo_open else 'of at least'} {_num(self.lo)}"
        return what + (" (or null)" if self.optional else "")

    def parse(self, value: Any) -> Any:
        """The value converted to the key's type, or ``ValueError`` saying what is accepted."""
        if value is None and self.optional:
            return None
        if self.kind == "head":
            return value  # a HeadConfig or a mapping: pydantic builds and checks it
        if self.kind == "flag":
            if not isinstance(value, bool):
                raise ValueError(f"must be {FLAG_WORDS}")
            return value
        if self.kind in ("text", "choice"):
            if not isinstance(value, str) or (self.kind == "choice" and value not in self.choices):
                raise ValueError(f"must be {self.describe()}")
            return value
        number = _number(value, whole=self.kind == "integer")
        if number is None or not self._in_range(number):
            raise ValueError(f"must be {self.describe()}")
        return number

    def _in_range(self, x: float) -> bool:
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            return False
        return self.hi is None or x <= self.hi

    def click_type(self) -> Any:
        """The click type of a command-line option for this key (same range, same choices)."""
        import click

        from alignkit.options import finite_float

        if self.kind == "choice":
            return click.Choice(self.choices)
        if self.kind == "integer":
            return click.IntRange(None if self.lo is None else int(self.lo), None if self.hi is None else int(self.hi))
        if self.kind == "number":
            return finite_float(self.lo, self.hi, min_open=self.lo_open)
        return None


def _num(x: float) -> str:
    return f"{x:g}"


def _number(value: Any, whole: bool) -> float | int | None:
    """A finite number from a number or a numeric string (scientific notation too); None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if whole:
        return int(value) if float(value).is_integer() else None
    return float(value)


def typed(base: Any, key: Key) -> Any:
    """``base`` annotated with ``key``: checked and converted before pydantic's own type check."""
    return Annotated[base, BeforeValidator(key.parse), key]


def number(section: str, help: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> Any:
    return typed(float, Key(section, help, "number", lo, hi, lo_open))


def integer(section: str, help: str, lo: int | None = 1, hi: int | None = None, *, optional: bool = False) -> Any:
    return typed(int | None if optional else int, Key(section, help, "integer", lo, hi, optional=optional))


def flag(section: str, help: str) -> Any:
    return typed(bool, Key(section, help, "flag"))


def choice(section: str, help: str, choices: tuple[str, ...]) -> Any:
    return typed(str, Key(section, help, "choice", choices=tuple(choices)))


def string(section: str, help: str) -> Any:
    return typed(str, Key(section, help, "text"))


def key_of(cls: type, name: str) -> Key | None:
    """The ``Key`` a recipe dataclass declares for field ``name`` (None for an unknown name)."""
    info = getattr(cls, "__pydantic_fields__", {}).get(name)
    return next((m for m in info.metadata if isinstance(m, Key)), None) if info else None


def checked(cls: type) -> type:
    """Make a pydantic dataclass raise ``ConfigError`` (one line, naming the key) instead of
    pydantic's multi-line ``ValidationError``, on construction and on assignment."""
    init, setattr_ = cls.__init__, cls.__setattr__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as e:
            raise config_error(e, cls) from None

    def __setattr__(self: Any, name: str, value: Any) -> None:
        try:
            setattr_(self, name, value)
        except ValidationError as e:
            raise config_error(e, cls) from None

    cls.__init__, cls.__setattr__ = __init__, __setattr__
    return cls


def config_error(error: ValidationError, cls: type) -> ConfigError:
    """The first problem of a pydantic ``ValidationError`` as one line: key, what it accepts, what it got."""
    first = error.errors()[0]
    loc = [str(p) for p in first["loc"]]
    name = ".".join(loc)
    owner = cls
    for part in loc[:-1]:
        owner = _field_type(owner, part) or owner
    key = key_of(owner, loc[-1]) if loc else None
    got = first.get("input")
    if first["type"] in ("unexpected_keyword_argument", "unexpected_positional_argument"):
        known = ", ".join(getattr(owner, "__pydantic_fields__", {}))
        return ConfigError(f"unknown key(s) in {'.'.join(loc[:-1]) or 'config'}: {name}; known keys: {known}")
    if first["type"] == "value_error" and "error" in first.get("ctx", {}):
        return ConfigError(f"{name} {first['ctx']['error']}, got {got!r}")
    if key is not None and key.kind == "head":
        heads = ", ".join(getattr(_field_type(owner, loc[-1]), "__pydantic_fields__", {}))
        return ConfigError(f"{name} must be a mapping of head keys ({heads}), got {got!r}")
    return ConfigError(f"{name}: {first['msg']}, got {got!r}")


def _field_type(cls: type, name: str) -> type | None:
    info = getattr(cls, "__pydantic_fields__", {}).get(name)
    return info.annotation if info is not None and dataclasses.is_dataclass(info.annotation) else None
