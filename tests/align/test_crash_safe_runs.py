"""Crash-safe training runs: a crash at any point of a checkpoint write or of a refit's
second phase resumes to the uninterrupted result; a diverging run stops with a clear error and saves
no non-finite model; bad values and edited model configs are clear errors; reports escape control
characters; rank scores are keyed by the probe's content."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.helpers.synthetic import latent_pairs
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file

from alignkit.align import AlignConfig, AlignedModel

from alignkit.align.training.loop import train_pairs
from alignkit.features.pairs import CachedPairs
from alignkit.align.training import loop as trainer_mod
from alignkit.align.recipe import ConfigError
from alignkit.errors import AlignkitError


class Crash(Exception):
    pass


def recipe(**kw) -> AlignConfig:
    base = {"embed_dim": 16, "epochs": 4, "batch_size": 64, "lr": 3e-3, "val_fraction": 0.25, "patience": 0, "refit": False}
    return AlignConfig.from_dict({**base, **kw})


def data(n: int = 200) -> CachedPairs:
    d = latent_pairs(n)
    return CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"])


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_file(str(a)), load_file(str(b))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


# ---- checkpoints: never lose the last good one ----------------------------------------------


@pytest.mark.slow
def test_a_crash_before_state_json_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from alignkit import atomic as store

    cfg = recipe()
    train_pairs(cfg, data(), tmp_path / "full", progress=False)
    real, calls = store.atomic_write_json, {"n": 0}

    def crash_on_third_state(path, obj):
        if Path(path).name == "state.json":
            calls["n"] += 1
            if calls["n"] == 3:  # epoch 3: its weights and optimizer files are already written
                raise Crash()
        return real(path, obj)

    monkeypatch.setattr(store, "atomic_write_json", crash_on_third_state)
    with pytest.raises(Crash):
        train_pairs(cfg, data(), tmp_path / "cut", progress=False)
    monkeypatch.setattr(store, "atomic_write_json", real)
    train_pairs(cfg, data(), tmp_path / "cut", resume=True, progress=False)  # resumes from epoch 2
    assert same_weights(tmp_path / "full/checkpoints/last/weights.safetensors", tmp_path / "cut/checkpoints/last/weights.safetensors")
    assert [json.loads(x)["epoch"] for x in (tmp_path / "cut/metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


@pytest.mark.slow
def test_a_crash_between_the_checkpoint_renames_resumes(tmp_path: Path, monkeypatch) -> None:
    from alignkit.align.training import checkpoint

    cfg = recipe()
    train_pairs(cfg, data(), tmp_path / "full", progress=False)
    real, calls = checkpoint.os.replace, {"n": 0}

    def crash_between(src, dst):
        if Path(dst).name == "last":
            calls["n"] += 1
            if calls["n"] == 3:  # epoch 3: `last` was moved aside, the new one not yet moved in
                raise Crash()
        return real(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", crash_between)
    with pytest.raises(Crash):
        train_pairs(cfg, data(), tmp_path / "cut", progress=False)
    monkeypatch.setattr(checkpoint.os, "replace", real)
    assert not (tmp_path / "cut/checkpoints/last").exists()
    with pytest.raises(AlignkitError, match="--resume"):
        train_pairs(cfg, data(), tmp_path / "cut", progress=False)  # still a run: never started over
    train_pairs(cfg, data(), tmp_path / "cut", resume=True, progress=False)
    assert same_weights(tmp_path / "full/checkpoints/last/weights.safetensors", tmp_path / "cut/checkpoints/last/weights.safetensors")
    assert sorted(p.name for p in (tmp_path / "cut/checkpoints").iterdir()) == ["last"]


# ---- non-finite training -------------------------------------------------------------------


def test_a_diverging_run_stops_with_a_clear_error_and_saves_no_non_finite_model(tmp_path: Path) -> None:
    with pytest.raises(AlignkitError, match="training diverged.*lr 1e\\+30"):
        train_pairs(recipe(lr=1e30, epochs=3, val_fraction=0.0), data(), tmp_path, progress=False)
    for f in list(tmp_path.rglob("*.safetensors")):
        assert all(torch.isfinite(t).all() for t in load_file(str(f)).values()), f


@pytest.mark.parametrize("key,value", [("lr", math.nan), ("lr", math.inf), ("lr", "fast"), ("grad_clip", math.nan),
                                       ("epochs", "ten"), ("weight_decay", "x")])
def test_non_finite_or_non_numeric_recipe_values_are_refused(key: str, value) -> None:
    with pytest.raises(ConfigError, match=key):
        recipe(**{key: value}).validate()


def test_cli_lr_nan_is_a_clear_error(tmp_path: Path) -> None:
    from alignkit.cli import cli

    r = CliRunner().invoke(cli, ["align", "--vision", "pixels", "--text", "hashed-ngrams", "--data", "x", "--out", str(tmp_path), "--lr", "nan"])
    assert r.exit_code == 2 and "'--lr': 'nan' is not a finite number" in r.output  # refused at parse time
    r = CliRunner().invoke(cli, ["align", "--data", "x", "--out", str(tmp_path), "--set", "lr=nan"])
    assert isinstance(r.exception, ConfigError) and "lr must be a positive finite number" in str(r.exception)


# ---- refit: a kill in the second phase -------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "pairs"
    root.mkdir()
    rng = np.random.default_rng(0)
    colours = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}
    lines = []
    for i in range(48):
        name, rgb = list(colours.items())[i % 4]
        img = np.clip(np.full((16, 16, 3), rgb) + rng.integers(-30, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i:03d}.png")
        lines.append(json.dumps({"image": f"{i:03d}.png", "captions": [f"a {name} picture number {i % 7}"]}))
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.slow
def test_a_refit_killed_in_its_refit_phase_resumes_to_the_uninterrupted_result(folder: Path, tmp_path: Path, monkeypatch) -> None:
    from alignkit.cli import cli

    def args(out: Path) -> list[str]:
        return ["align", "--vision", "pixels?size=4", "--text", "hashed-ngrams?dim=64", "--data", f"folder:{folder}",
                "--out", str(out), "--cache", str(tmp_path / "cache"), "--embed-dim", "8", "--batch-size", "8",
                "--val-fraction", "0.25", "--epochs", "5", "--refit", "--set", "refit_tolerance=0.5", "--quiet"]

    full = CliRunner().invoke(cli, args(tmp_path / "full"))
    assert full.exit_code == 0, full.output
    epochs = json.loads((tmp_path / "full/refit.json").read_text())["epochs"]
    assert epochs >= 2  # a loose tolerance: the refit trains fewer epochs than the selection run or as many
    real = trainer_mod.save_checkpoint

    def killed_in_refit(folder_, module, optimizer, state):
        if "selection" not in str(folder_) and state["epoch"] == 2:
            raise Crash()
        return real(folder_, module, optimizer, state)

    for resume_args in (["--resume"], ["--resume", "--epochs", "5"]):  # as the run left it, and with the original flags
        out = tmp_path / f"cut{len(resume_args)}"
        monkeypatch.setattr(trainer_mod, "save_checkpoint", killed_in_refit)
        r = CliRunner().invoke(cli, args(out))
        assert isinstance(r.exception, Crash)
        monkeypatch.setattr(trainer_mod, "save_checkpoint", real)
        resume = ["align", "--out", str(out), "--cache", str(tmp_path / "cache"), "--quiet", *resume_args]
        r = CliRunner().invoke(cli, resume)
        assert r.exit_code == 0, r.output + repr(r.exception)
        assert f"refit on every pair for {epochs} epochs" in r.output
        assert len((out / "metrics.jsonl").read_text().splitlines()) == epochs
        assert same_weights(tmp_path / "full/model.safetensors", out / "model.safetensors")
        assert json.loads((out / "refit.json").read_text())["epochs"] == epochs


# ---- a model folder whose config.json was edited ---------------------------------------------


def test_an_edited_dim_in_config_json_is_a_clear_error(tmp_path: Path) -> None:
    from alignkit.align.model.aligned_model import ModelLoadError

    train_pairs(recipe(epochs=1, val_fraction=0.0), data(), tmp_path, progress=False)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["vision"]["dim"] = cfg["vision"]["dim"] + 3
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="does not fit config.json"):
        AlignedModel.from_pretrained(tmp_path)
    cfg["vision"]["dim"] = "wide"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="config.json"):
        AlignedModel.from_pretrained(tmp_path)


# ---- reports, rank cache ---------------------------------------------------------------------


def test_nul_and_control_characters_are_escaped_in_reports(tmp_path: Path) -> None:
    from alignkit.report.html import Report

    page = Report("t\x00itle").paragraph("cap\x00tion \x1b[31m red \x7f <b>").table([{"caption": "a\x00b\x08"}]).to_html()
    assert not any(ch in page for ch in "\x00\x1b\x7f\x08")
    assert "cap\\x00tion \\x1b[31m red \\x7f &lt;b&gt;" in page and "a\\x00b\\x08" in page


def test_rank_scores_follow_the_probe_content_not_its_keys(tmp_path: Path, monkeypatch) -> None:
    from alignkit.cli import cli

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "probe"
    root.mkdir()
    rng = np.random.default_rng(0)
    words = ["red", "green", "blue"]
    records = []
    for i in range(40):
        rgb = np.zeros(3)
        rgb[i % 3] = 220
        Image.fromarray(np.clip(rgb + rng.integers(0, 30, (16, 16, 3)), 0, 255).astype(np.uint8)).save(root / f"{i:03d}.png")
        records.append({"image": f"{i:03d}.png", "caption": f"a {words[i % 3]} square"})

    def score() -> float:
        (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in records))
        r = CliRunner().invoke(cli, ["rank-encoders", "--vision-zoo", "pixels?size=4", "--text-zoo", "hashed-ngrams",
                                     "--probe", f"folder:{root}", "--n", "40", "--metrics", "linear_cka", "--bootstrap", "0",
                                     "--permutations", "0", "--format", "json", "--out", str(tmp_path / "report")])
        assert r.exit_code == 0, r.output + repr(r.exception)
        return [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")][0]["linear_cka"]["raw"]

    intact = score()
    captions = [r["caption"] for r in records]
    for r, c in zip(records, np.random.default_rng(1).permutation(captions)):
        r["caption"] = str(c)  # same keys, shuffled captions
    shuffled = score()
    assert shuffled < intact - 0.05
