"""Option values every stage shares: the one encode batch-size default, and parsing of
``?key=value`` options in encoder, data and task specs (one place that turns a bad value into an
``AlignkitError`` naming the option and the spec, at parse time, before any work)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from alignkit.errors import AlignkitError

if TYPE_CHECKING:
    import click

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
        raise AlignkitError(f"{where}: {name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise AlignkitError(f"{where}: {name} must be at least {minimum}, got {number}")
    return number


def dtype_option(value: str | None, where: str) -> str | None:
    """A dtype name the encoders support (None stays None)."""
    if value is not None and value not in DTYPES:
        raise AlignkitError(f"{where}: dtype must be one of {', '.join(DTYPES)}, got {value!r}")
    return value


def finite_float(lo: float | None = None, hi: float | None = None, *, min_open: bool = False) -> "click.ParamType":
    """A click float type with a range that also refuses nan and inf (click's FloatRange lets nan
    through, since every comparison with nan is false); the CLI's every float option uses it."""
    import click

    class FiniteFloat(click.FloatRange):
        name = "finite float"

        def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
            number = super().convert(value, param, ctx)
            if not math.isfinite(number):
                self.fail(f"{value!r} is not a finite number.", param, ctx)
            return number

    return FiniteFloat(lo, hi, min_open=min_open)
