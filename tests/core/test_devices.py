"""One device resolver: `auto` is the default of every command and API that takes a device,
and every stage resolves names the same way (unavailable devices are one clear error)."""

from __future__ import annotations

import importlib

import pytest
import torch

from alignkit.cli import COMMANDS
from alignkit.devices import resolve_device
from alignkit.encoders import create_encoder
from alignkit.errors import AlignkitError


def test_auto_and_explicit_names():
    want = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == resolve_device(None) == resolve_device(" AUTO ") == want
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(AlignkitError, match="not a device name"):
        resolve_device("gpu-please")
    with pytest.raises(AlignkitError, match="CUDA"):
        resolve_device("cuda:99")  # absent here whether or not this machine has CUDA


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused_everywhere():
    with pytest.raises(AlignkitError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(AlignkitError, match="CUDA is not available"):
        create_encoder("pixels", device="cuda")
    from alignkit.similarity.metrics import measure

    x = torch.randn(8, 3)
    with pytest.raises(AlignkitError, match="CUDA is not available"):
        measure("linear_cka", x, x, device="cuda")


def test_every_command_defaults_to_auto():
    checked = []
    for name, target in COMMANDS.items():
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        for sub in getattr(command, "commands", {}).values() or [command]:
            for param in sub.params:
                if param.name == "device":
                    default = param.default if isinstance(param.default, str) else None  # unset: the API's (auto)
                    assert default in (None, "auto"), f"{name}: --device defaults to {default!r}"
                    assert "auto" in (param.help or ""), f"{name}: --device help does not name auto"
                    checked.append(name)
    assert {"eval", "embed", "rank-encoders", "curate", "align", "bench"} <= set(checked)


def test_apis_default_to_auto():
    from alignkit.align.recipe import AlignConfig
    from alignkit.bench.config import BenchConfig
    from alignkit.encoders.base import EncoderOptions
    from alignkit.rank import RankConfig

    assert AlignConfig().device == BenchConfig("pixels", "hashed-ngrams").device == RankConfig().device == EncoderOptions().device == "auto"
    assert create_encoder("pixels").options.device == "auto"
