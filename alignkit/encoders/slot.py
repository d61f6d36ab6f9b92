"""One frozen encoder in memory at a time.

A stage that works through several encoders (the probe zoo, a pair's two sides, a task's images
then its prompts) asks a slot for each in turn; asking for another spec drops the one held and
gives its memory back first, so the stage's peak is its largest encoder, not their sum.
"""

from __future__ import annotations

from typing import Any, Callable

from alignkit.encoders.base import Encoder
from alignkit.memory import release_memory


class EncoderSlot:
    """Holds at most one encoder, built on demand by ``build(spec)`` (default: ``create_encoder``
    with ``options``)."""

    def __init__(self, build: Callable[[str], Encoder] | None = None, **options: Any):
        if build is None:
            from alignkit.encoders.registry import create_encoder

            build = lambda spec: create_encoder(spec, **options)  # noqa: E731
        self._build = build
        self._spec: str | None = None
        self._encoder: Encoder | None = None
        self.builds = 0  # how many encoders this slot has built (tests and compute tables read it)

    @property
    def held(self) -> str | None:
        """The spec of the encoder held now (None when empty)."""
        return self._spec

    def get(self, spec: str) -> Encoder:
        """The encoder for ``spec``; another one held is dropped first."""
        if spec != self._spec or self._encoder is None:
            self.clear()
            self._encoder, self._spec = self._build(spec), spec
            self.builds += 1
        return self._encoder

    def clear(self) -> None:
        """Drop the encoder held (if any) and give its memory back."""
        if self._encoder is not None:
            self._encoder = self._spec = None
            release_memory()
