"""Option values every stage shares: the one encode batch-size default, parsing of ``?key=value``
options in encoder, data and task specs (one place that turns a bad value into an ``InputError``
naming the option and the spec, at parse time, before any work), and the click types the CLI's
options use beside click's ``IntRange`` (``FiniteFloat``: a range that refuses nan and inf;
``NON_EMPTY``: a string that refuses an empty value)."""

from __future__ import annotations

import math
from pathlib import Path

import click

from alignkit.errors import InputError

DTYPES = ("float32", "float16", "bfloat16")
# items per encoder forward pass wherever frozen encoders run (extraction, evaluation, --online,
# AlignedModel.encode_*), unless a caller or --batch-size says otherwise
ENCODE_BATCH_SIZE = 64


def int_option(value: str | int | None, name: str, where: str, *, minimum: int | None = 1) -> int | None:
    """``value`` as an int of at least ``minimum`` (None stays None): ``?n=abc`` or ``?n=-1`` is refused."""
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InputError(f"{where}: {name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise InputError(f"{where}: {name} must be at least {minimum}, got {number}")
    return number


def dtype_option(value: str | None, where: str) -> str | None:
    """A dtype name the encoders support (None stays None)."""
    if value is not None and value not in DTYPES:
        raise InputError(f"{where}: dtype must be one of {', '.join(DTYPES)}, got {value!r}")
    return value



class FiniteFloat(click.FloatRange):
    """A click float type with a range that also refuses nan and inf (click's FloatRange lets nan
    through, since every comparison with nan is false): every float option of the CLI is one."""

    name = "finite float"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def finite_float(lo: float | None = None, hi: float | None = None, *, min_open: bool = False, max_open: bool = False) -> FiniteFloat:
    """A ``FiniteFloat`` in [lo, hi] (either end open or absent)."""
    return FiniteFloat(lo, hi, min_open=min_open, max_open=max_open)


class NonEmpty(click.types.StringParamType):
    """A string option that refuses an empty or blank value (a spec, a name, an address)."""

    name = "text"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        value = super().convert(value, param, ctx)
        if not value.strip():
            self.fail("an empty value; give one or leave the option out.", param, ctx)
        return value


NON_EMPTY = NonEmpty()


class KeyValue(NonEmpty):
    """A ``KEY=VALUE`` option (``--set``): the shape is checked here, the key and value by the recipe."""

    name = "key=value"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        value = super().convert(value, param, ctx)
        key, sep, _ = value.partition("=")
        if not sep or not key.strip():
            self.fail(f"{value!r} is not KEY=VALUE (see `alignkit align --list-keys` for the keys).", param, ctx)
        return value


KEY_VALUE = KeyValue()


class OutFolder(click.Path):
    """An output folder option (``--out``, ``--cache``): refused at parse time when it, or a folder
    above it, is a regular file (alignkit.paths.folder_to_write), so no work starts that cannot be saved."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        from alignkit.paths import folder_to_write

        path = super().convert(value, param, ctx)
        if not str(value).strip():
            self.fail("an empty path; give a folder.", param, ctx)
        try:
            return folder_to_write(path, "folder")
        except InputError as e:
            self.fail(str(e), param, ctx)


OUT_FOLDER = OutFolder()
