"""A zoo entry: a short-named encoder, what it is, and how to get it when it is not installed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from alignkit.encoders.base import Encoder, EncoderOptions, Modality


@dataclass
class ZooEntry:
    """A named encoder: what it is, and how to get it when it is not installed."""

    name: str
    modality: Modality
    dim: int
    params: int
    description: str
    install_hint: str
    is_installed: Callable[[], bool]
    factory: Callable[[EncoderOptions], Encoder]
    kind: str = "offline"  # offline | control | hub
    tags: list[str] = field(default_factory=list)

    def installed(self) -> bool:
        try:
            return bool(self.is_installed())
        except Exception:  # an import error inside a probe means "not installed"
            return False
