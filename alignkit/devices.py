"""One device resolver for every stage, so ``--device auto`` means the same thing everywhere.

``auto`` (the default of every command and API) picks the current CUDA device when there is
one and the CPU otherwise; an explicit ``cuda``/``cuda:N``/``mps``/``cpu`` is honoured, and one
that this machine does not have is refused with a clear error instead of a deep torch failure.
"""

from __future__ import annotations

from typing import Any

from alignkit.errors import AlignkitError

AUTO = "auto"
DEVICE_HELP = "auto (CUDA when available, else CPU) | cpu | cuda | cuda:N | mps"


def resolve_device(device: Any = AUTO) -> "torch.device":  # noqa: F821 (torch imported lazily)
    """``device`` (a name, None meaning auto, or a torch.device) -> a torch.device this machine has."""
    import torch

    if device is None or (isinstance(device, str) and device.strip().lower() == AUTO):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    try:
        dev = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as e:
        raise AlignkitError(f"device {device!r} is not a device name ({e}); use {DEVICE_HELP}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise AlignkitError(f"device {device!r} was asked for but CUDA is not available here; use --device auto or cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise AlignkitError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise AlignkitError(f"device {device!r} was asked for but MPS is not available here; use --device auto or cpu")
    return dev


def device_name(device: Any = AUTO) -> str:
    """The resolved device as a string (``"cpu"``, ``"cuda:0"``), for code that passes names on."""
    return str(resolve_device(device))
