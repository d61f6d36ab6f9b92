"""Fixtures shared by the test folders (one folder per stage: align/, bench/, data/, ...).

Helpers that are plain functions (fake encoders, synthetic pairs, tiny saved models) live in
``tests/helpers/`` and are imported by name (``from tests.helpers.fakes import FakeImageEncoder``).

Markers (registered in pyproject.toml): ``slow`` -- real pretrained models, training runs of more
than a few seconds, subprocesses; ``scripts/test.sh --fast`` leaves them out. ``cuda`` -- needs a GPU.
"""

from __future__ import annotations

import os
import socket

import pytest

from alignkit.paths import data_root

# tests isolate the derived-files cache ($ALIGNKIT_CACHE -> a tmp folder), not the fetched data
# sets: pin $ALIGNKIT_DATA to where they are before any test moves the cache
os.environ.setdefault("ALIGNKIT_DATA", str(data_root()))


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch):
    """HF_HUB_CACHE -> a tmp folder and HF_HUB_OFFLINE=1 (env and the hub client's constants,
    which it reads at import), and no network connection at all."""
    import huggingface_hub.constants as hub_constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)

    connect = socket.socket.connect

    def refuse(sock, address):  # local (Unix) sockets stay: data-loader workers pass tensors over them
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"a test tried to reach the network ({address})")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return cache


@pytest.fixture(autouse=True)
def _loud_again():
    """Each test starts at the default verbosity: a command run with --quiet earlier in the
    process must not silence the bars of the next test."""
    from alignkit import progress

    yield
    progress._STATE["quiet"] = False


@pytest.fixture()
def terminal(monkeypatch):
    """stderr counts as a terminal, so progress bars are drawn (into the test's capture)."""
    monkeypatch.setattr("alignkit.progress.on_terminal", lambda: True)
