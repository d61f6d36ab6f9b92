"""Check before work: every encoder of both zoos is resolved before anything is embedded; the
missing ones are named together in one error, and --skip-missing ranks the rest. The hub is
offline in tests (HF_HUB_OFFLINE=1), so uncached hub specs cannot resolve."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from alignkit.encoders.availability import check_specs, missing_reason
from alignkit.errors import AlignkitError
from tests.rank.test_rank import probe  # noqa: F401  (the probe fixture)

MISSING_IMAGE = "hf:nobody-here/uncached-vision-model"
MISSING_TEXT = "st:nobody-here/uncached-text-model"


def test_each_kind_of_missing_spec_has_a_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert missing_reason("pixels") is None and missing_reason("hashed-ngrams") is None
    assert "not in the local hub cache" in missing_reason(MISSING_IMAGE)
    assert "not in the local hub cache" in missing_reason(MISSING_TEXT)
    assert missing_reason("no-such-short-name")  # unknown names are named too
    with pytest.raises(AlignkitError) as e:
        check_specs(["pixels", MISSING_IMAGE, MISSING_TEXT])
    assert MISSING_IMAGE in str(e.value) and MISSING_TEXT in str(e.value) and "--skip-missing" in str(e.value)
    assert check_specs(["pixels", MISSING_IMAGE], skip_missing=True)[0] == ["pixels"]


@pytest.mark.slow
def test_rank_lists_every_missing_encoder_before_embedding_and_skip_missing_ranks_the_rest(probe, tmp_path: Path, monkeypatch):  # noqa: F811
    from alignkit.cli import cli

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    args = ["rank-encoders", "--vision-zoo", f"pixels,{MISSING_IMAGE}", "--text-zoo", f"{MISSING_TEXT},hashed-ngrams",
            "--probe", probe, "--n", "40", "--metrics", "linear_cka", "--bootstrap", "5", "--permutations", "5",
            "--out", str(tmp_path / "report")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0
    message = str(res.exception)
    assert "2 encoder(s) cannot be loaded" in message and MISSING_IMAGE in message and MISSING_TEXT in message
    assert not list((tmp_path / "cache").rglob("manifest.json"))  # nothing was embedded first

    res = CliRunner().invoke(cli, args + ["--skip-missing"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert f"skipping {MISSING_IMAGE}" in res.output and f"skipping {MISSING_TEXT}" in res.output
    assert "1 pair on 40 probe pairs" in res.output


def test_align_names_both_missing_encoders_before_any_work(tmp_path: Path, monkeypatch):
    from alignkit.cli import cli

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    res = CliRunner().invoke(cli, ["align", "--vision", MISSING_IMAGE, "--text", MISSING_TEXT, "--data", "builtin:emoji?n=20",
                                   "--out", str(tmp_path / "run"), "--epochs", "1"])
    assert res.exit_code != 0 and MISSING_IMAGE in str(res.exception) and MISSING_TEXT in str(res.exception)
    assert not (tmp_path / "cache" / "features").exists()
