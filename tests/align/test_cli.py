"""`alignkit align` end to end on a small folder source with the weight-free control encoders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alignkit.align import AlignedModel
from alignkit.cli import cli

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30), "black": (10, 10, 10), "white": (245, 245, 245)}
SHAPES = ("square", "stripe")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """60 images: a colour and a shape, captioned with both."""
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    lines = []
    for i in range(60):
        name, rgb = list(COLOURS.items())[i % len(COLOURS)]
        shape = SHAPES[(i // len(COLOURS)) % 2]
        img = np.full((24, 24, 3), 128, np.uint8)
        if shape == "square":
            img[4:20, 4:20] = rgb
        else:
            img[:, 8:16] = rgb
        img = np.clip(img + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i:03d}.png")
        lines.append(json.dumps({"image": f"{i:03d}.png", "captions": [f"a {name} {shape}", f"{shape} in {name}"]}))
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root


def invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def common(folder, out, cache):
    return ["align", "--vision", "pixels", "--text", "hashed-ngrams", "--data", f"folder:{folder}", "--out", str(out),
            "--cache", str(cache), "--embed-dim", "16", "--batch-size", "16", "--val-fraction", "0.2", "--quiet", *PLAIN]


# the plain heads (not the default recipe), so the runs here stay small and 16-d
PLAIN = ["--image-head", "mlp", "--text-head", "mlp", "--set", "memory=0", "--set", "text_head.center=false"]


def test_help_lists_every_head_kind_and_the_recipe_defaults():
    from alignkit.align.recipe import HEAD_KINDS, LOSSES

    r = invoke("align", "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for kind in HEAD_KINDS:
        assert text.count(kind) >= 2, kind  # in --image-head's and --text-head's choices
    assert "[" + "|".join(HEAD_KINDS) + "]" in text and "[" + "|".join(LOSSES) + "]" in text
    assert "Image projector. [default: identity]" in text and "Text projector. [default: mlp]" in text


def test_the_default_recipe_is_the_selected_one():
    """alignkit align, bench and demo train AlignConfig's defaults: benchmarks/recipes/selected.yaml."""
    from pathlib import Path

    from alignkit.align import AlignConfig
    from alignkit.bench import demo_config, study_config

    selected = AlignConfig.from_file(Path(__file__).resolve().parents[2] / "benchmarks" / "recipes" / "selected.yaml")
    default = AlignConfig()
    assert not default.closed_form_init() and not selected.closed_form_init()  # init auto = none for these heads
    assert {**selected.to_dict(), "init": "auto"} == default.to_dict()
    assert demo_config().recipe == demo_config(quick=True).recipe == study_config().recipe == {}


def test_bench_and_demo_take_config_and_set(tmp_path):
    from alignkit.align.recipe import ConfigError
    from alignkit.bench import demo_config
    from alignkit.cli.bench import apply_options

    recipe = tmp_path / "r.yaml"
    recipe.write_text("image_head: {kind: residual}\ntext_head: {kind: identity}\nmemory: 0.0\n")
    options = {k: None for k in ("probe", "n_probe", "epochs", "seed", "seeds", "bootstrap", "permutations", "device")}
    config = apply_options(demo_config(), fractions=None, tasks=(), train_spec=None, config_file=recipe,
                           sets=("lr=0.003", "text_head.center=true"), **options)
    # a head given in the file takes HeadConfig's field defaults (center false) for what it leaves out
    assert config.recipe == {"image_head.kind": "residual", "image_head.center": False, "text_head.kind": "identity",
                             "text_head.center": True, "memory": 0.0, "lr": 0.003}
    with pytest.raises(ConfigError, match="unknown config key 'epochz'"):
        apply_options(demo_config(), fractions=None, tasks=(), train_spec=None, config_file=None, sets=("epochz=3",), **options)
    for command in ("bench", "demo"):
        r = invoke(command, "--help")
        assert "--config FILE" in r.output and "--set KEY=VALUE" in r.output


def test_align_trains_saves_and_resumes(folder, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    r = invoke(*common(folder, out, cache), "--epochs", "2", "--set", "warmup_fraction=0.0", "--image-head", "linear")
    assert r.exit_code == 0, r.output
    assert "validation R@1" in r.output and "saved" in r.output
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["image_head"]["kind"] == "linear" and recipe["warmup_fraction"] == 0.0 and recipe["data"] == f"folder:{folder}"
    assert len(list((cache / "features").glob("*/*/manifest.json"))) == 2  # one store per encoder
    # resume to more epochs with the saved recipe (only --epochs changes)
    r = invoke("align", "--out", str(out), "--resume", "--epochs", "4", "--cache", str(cache), "--quiet")
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    model = AlignedModel.from_pretrained(out)
    z = model.encode_image([folder / "000.png", folder / "001.png"])
    t = model.encode_text(["a red square", "a green square"])
    assert z.shape == (2, 16) and t.shape == (2, 16)
    assert torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)


def test_refit_trains_again_on_every_pair(folder, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    r = invoke(*common(folder, out, cache), "--epochs", "2", "--image-head", "linear", "--refit")
    assert r.exit_code == 0, r.output
    refit = json.loads((out / "refit.json").read_text())
    assert f"refit on every pair for {refit['epochs']} epochs" in r.output and (out / "selection" / "metrics.jsonl").exists()


def test_online_mode_trains_without_a_cache(folder, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    r = invoke(*common(folder, out, cache), "--epochs", "1", "--online")
    assert r.exit_code == 0, r.output
    assert not (cache / "features").exists()
    assert json.loads((out / "recipe.json").read_text())["online"] is True


def test_config_file_and_bad_options(folder, tmp_path):
    cfg = tmp_path / "r.yaml"
    cfg.write_text(f"vision: pixels\ntext: hashed-ngrams\ndata: folder:{folder}\nepochs: 1\nloss: siglip\ninit_temperature: 0.1\n")
    r = invoke("align", "--config", str(cfg), "--out", str(tmp_path / "a"), "--cache", str(tmp_path / "c"), "--batch-size", "16", "--quiet", *PLAIN)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "a/recipe.json").read_text())["loss"] == "siglip"
    from alignkit.align import ConfigError

    with pytest.raises(ConfigError, match="needs vision"):
        invoke("align", "--out", str(tmp_path / "b"), "--text", "hashed-ngrams", "--data", f"folder:{folder}")
    with pytest.raises(ConfigError, match="is a text encoder"):
        invoke("align", "--out", str(tmp_path / "b"), "--vision", "hashed-ngrams", "--text", "hashed-ngrams", "--data", f"folder:{folder}")
    with pytest.raises(ConfigError, match="unknown config key"):
        invoke(*common(folder, tmp_path / "b", tmp_path / "c"), "--set", "epochz=3")


@pytest.mark.slow
def test_align_select_chooses_on_training_folds_then_trains_the_choice(folder, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    cands = tmp_path / "candidates.yaml"
    cands.write_text("short: {epochs: 1}\nlonger: {epochs: 6}\n")
    r = invoke(*common(folder, out, cache), "--select", str(cands), "--no-refit", "--val-fraction", "0")
    assert r.exit_code == 0, r.output
    sel = json.loads((out / "recipe-selection" / "selection.json").read_text())
    assert sel["chosen"] == max(sel["scores"], key=sel["scores"].get)
    assert {row["fold"] for row in sel["rows"]} == {"20% of concepts held out"}  # folder keys have no domain prefix
    assert {"asif", "procrustes"} <= {row["model"] for row in sel["rows"]}  # baselines on the same folds
    chosen_epochs = {"short": 1, "longer": 6}[sel["chosen"]]
    assert json.loads((out / "recipe.json").read_text())["epochs"] == chosen_epochs  # the choice, trained on every pair
    assert "recipe selection" in r.output and (out / "recipe-selection" / "selection.md").exists()
    again = invoke(*common(folder, tmp_path / "run2", cache), "--select", str(cands), "--no-refit", "--val-fraction", "0")
    assert json.loads((tmp_path / "run2" / "recipe-selection" / "selection.json").read_text())["scores"] == sel["scores"]  # deterministic
    bad = tmp_path / "bad.yaml"
    bad.write_text("- epochs: 3\n")
    r = CliRunner().invoke(cli, [*common(folder, tmp_path / "run3", cache), "--select", str(bad)])
    assert r.exit_code != 0 and "must map candidate names" in str(r.exception or r.output)
