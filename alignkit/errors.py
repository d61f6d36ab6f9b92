"""Error and warning types shared by every stage, so the CLI can print them without a traceback."""


class AlignkitError(Exception):
    """A problem the user can fix: the message says what was wrong and what to do."""


class InputError(AlignkitError):
    """A value the user typed cannot be taken (an option, a recipe key, a spec's ``?key=value``):
    a usage error, so the command exits 2 before any work, like click's own usage errors."""


class UnknownEncoderError(InputError, KeyError):
    """An encoder spec names no registered backend or short name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class NotInstalledError(AlignkitError):
    """An offline asset (model or data package) is missing; the message says how to install it."""


class BadItemError(AlignkitError):
    """One input item (image or caption) cannot be used; callers skip and record it."""


class DegenerateResultWarning(UserWarning):
    """A result was computed, but on inputs that make it meaningless (repeated probe rows, pairs
    with no contrast, a baseline fitted on fewer pairs than its width); where results are written
    the same message is recorded beside them."""


def warn_degenerate(message: str) -> str:
    """Issue a ``DegenerateResultWarning`` (which the CLI prints as one line) and return the message to record."""
    import warnings

    warnings.warn(message, DegenerateResultWarning, stacklevel=2)
    return message
