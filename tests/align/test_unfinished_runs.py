"""A run folder says whether its run finished: a killed run is refused by every loader (folder,
`alignkit eval`, hub id) with the way to resume, until it is resumed; folders written before
run.json existed load when what they hold says they finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignkit.align import AlignConfig, AlignedModel
from alignkit.align.model.run_state import RUN, UnfinishedRunError
from alignkit.align.training import loop as trainer_mod
from alignkit.align.training.loop import train_pairs
from alignkit.features.pairs import CachedPairs
from tests.helpers.synthetic import latent_pairs


class Kill(Exception):
    """Stands in for `kill -9`: the run stops between two epochs and writes nothing more."""


def recipe(**kw) -> AlignConfig:
    return AlignConfig.from_dict({"embed_dim": 16, "epochs": 4, "batch_size": 64, "lr": 3e-3, **kw})  # memory on (default)


def data() -> CachedPairs:
    d = latent_pairs(120)
    return CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"])


def killed_run(out: Path, monkeypatch, at_epoch: int = 2) -> None:
    real = trainer_mod.save_checkpoint

    def kill(folder, module, optimizer, state):
        if state["epoch"] == at_epoch + 1:
            raise Kill()
        return real(folder, module, optimizer, state)

    monkeypatch.setattr(trainer_mod, "save_checkpoint", kill)
    with pytest.raises(Kill):
        train_pairs(recipe(), data(), out, progress=False)
    monkeypatch.setattr(trainer_mod, "save_checkpoint", real)
    assert (out / "config.json").exists() and "memory" not in json.loads((out / "config.json").read_text())


def test_a_killed_run_is_refused_naming_resume_until_it_is_resumed(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    killed_run(out, monkeypatch)
    with pytest.raises(UnfinishedRunError, match=r"not a finished model.*alignkit align --out .* --resume") as e:
        AlignedModel.from_pretrained(out)
    assert "\n" not in str(e.value)
    train_pairs(recipe(), data(), out, resume=True, progress=False)
    model = AlignedModel.from_pretrained(out)
    assert model.memory is not None and json.loads((out / RUN).read_text())["finished"] is True


def test_alignkit_eval_refuses_a_killed_run(tmp_path: Path, monkeypatch) -> None:
    from alignkit.cli import cli

    out = tmp_path / "run"
    killed_run(out, monkeypatch)
    r = CliRunner().invoke(cli, ["eval", str(out), "--task", "builtin:emoji", "--quiet"])
    assert isinstance(r.exception, UnfinishedRunError) and "--resume" in str(r.exception)


def test_a_hub_copy_of_an_unfinished_run_is_refused(tmp_path: Path, monkeypatch, hub_cache) -> None:
    from tests.helpers.color_models import publish_to_hub_cache

    import shutil

    out, upload = tmp_path / "run", tmp_path / "upload"
    killed_run(out, monkeypatch)
    upload.mkdir()
    for name in ("config.json", "model.safetensors", RUN):  # a run folder's model files, uploaded mid-run
        shutil.copy(out / name, upload / name)
    publish_to_hub_cache(upload, hub_cache, "org/cut", "3" * 40)
    with pytest.raises(UnfinishedRunError, match="--resume"):
        AlignedModel.from_pretrained("org/cut")


def test_folders_written_before_run_json_load_when_they_finished(tmp_path: Path, monkeypatch) -> None:
    finished = tmp_path / "finished"
    train_pairs(recipe(), data(), finished, progress=False)
    (finished / RUN).unlink()  # as an older alignkit left it: checkpoint at the last epoch, memory built
    assert AlignedModel.from_pretrained(finished).memory is not None

    cut = tmp_path / "cut"
    killed_run(cut, monkeypatch)
    (cut / RUN).unlink()
    with pytest.raises(UnfinishedRunError, match="stopped at epoch 2 of 4"):
        AlignedModel.from_pretrained(cut)

    saved = AlignedModel.from_pretrained(finished).save_pretrained(tmp_path / "plain")  # no checkpoint: a model
    assert not (saved / RUN).exists()
    AlignedModel.from_pretrained(saved)
