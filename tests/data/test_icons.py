"""The built-in ``icons`` set on fake Iconify tarballs the test builds: what is kept and why, the
train split's leak filter, concepts, licences, resumable rendering, the pool spec; plus the real
pinned sets where this machine has fetched them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alignkit.cli import cli
from alignkit.data import open_source
from alignkit.data.builtin import POOL_SPEC, SETS, TRAIN_SPEC, emoji, fetch_set, icons
from alignkit.data.images import decode_image
from alignkit.errors import AlignkitError
from tests.data.test_builtin import _norm, _no_bar, _tgz, fake_emoji  # noqa: F401  (fixture)

BODY = '<rect x="1" width="5" height="{h}" fill="currentColor"/>'  # a black bar; one height per drawing


def _icon_set(tmp: Path, spec: icons.IconSet, names: list[str], categories: dict[str, list[str]], licence: str,
              start: int = 0, same: dict[str, int] | None = None) -> None:
    """Each icon a drawing of its own (``start`` + its position), except those ``same`` gives a position."""
    body = {n: {"body": BODY.format(h=5 + (same or {}).get(n, start + i) / 1000)} for i, n in enumerate(names)}
    members = {"package/icons.json": json.dumps({"prefix": spec.prefix, "icons": body, "aliases": {"other-name": {"parent": names[0]}},
                                                 "width": 10, "height": 10}).encode(),
               "package/info.json": json.dumps({"name": spec.prefix, "license": {"spdx": licence}}).encode(),
               "package/metadata.json": json.dumps({"categories": categories}).encode()}
    _tgz(tmp / "pkgs" / f"iconify-json-{spec.prefix}-{spec.version}.tgz", members)


@pytest.fixture()
def fake_icons(fake_emoji: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    a, b = icons.IconSet("fake-a", "1.0.0", "MIT"), icons.IconSet("fake-b", "2.0.0", "CC0-1.0")
    monkeypatch.setattr(icons, "ICON_SETS", (a, b))
    held = emoji.split_concepts(emoji.load_concepts())[1][0]
    held_slug = "-".join(_norm(held.name).split())
    kept_emoji = emoji.split_concepts(emoji.load_concepts())[0][0]
    _icon_set(tmp_path, a, ["lighthouse", "lighthouse-outline", "fire-extinguisher", "numeric-1-box", "brand-github",
                            "flag-triangle", held_slug, "-".join(_norm(kept_emoji.name).split())],
              {"Buildings": ["lighthouse", "lighthouse-outline"], "Brand / Logo": ["fire-extinguisher"]}, "MIT")
    # set b: its "tower" is the very drawing of set a's lighthouse; rocket-filled is rocket's variant
    _icon_set(tmp_path, b, ["tower", "rocket", "rocket-filled"], {"Space": ["rocket"]}, "CC0-1.0", start=100, same={"tower": 0})
    return {"held": held, "held_slug": held_slug, "kept_emoji": kept_emoji}


def test_icons_keep_named_drawings_and_leave_out_logos_digits_flags_variants(fake_icons) -> None:
    info = fetch_set("icons", progress=_no_bar)
    sets = info["sets"]
    # a: lighthouse-outline is a variant, fire-extinguisher's category is a logo one, numeric-1-box a digit,
    # brand-github a brand, flag-triangle a flag
    assert sets["fake-a"]["variant"] == 1 and sets["fake-a"]["dropped"] == 4 and sets["fake-a"]["kept"] == 3, sets
    # b: its "tower" has the body of a's lighthouse -> a duplicate; rocket-filled is rocket's variant
    assert sets["fake-b"]["duplicate"] == 1 and sets["fake-b"]["variant"] == 1 and sets["fake-b"]["kept"] == 1
    assert sets["fake-a"]["licence"] == "MIT" and sets["fake-b"]["licence"] == "CC0-1.0"
    assert info["icons"] == 4 and info["rendered"] == 4 and not (icons.folder() / ".download").exists()

    pairs = {p.meta["icon"]: p for p in open_source("builtin:icons")}
    emoji_icon = "-".join(_norm(fake_icons["kept_emoji"].name).split())
    assert set(pairs) == {"lighthouse", fake_icons["held_slug"], "rocket", emoji_icon}
    assert pairs["lighthouse"].captions == ["lighthouse", "an icon of lighthouse", "lighthouse, buildings"]
    assert pairs["rocket"].captions[-1] == "rocket, space"
    img = decode_image(pairs["rocket"].image)
    assert img.size == (224, 224) and img.getpixel((223, 223))[:3] == (255, 255, 255) and min(img.convert("L").getdata()) < 40

    listed = CliRunner().invoke(cli, ["data", "list"])
    # the list shows the shipped pins' licences, each set's own
    assert listed.exit_code == 0 and "game-icons CC-BY-3.0" in listed.output and "mdi Apache-2.0" in listed.output


def test_icons_train_split_leaves_out_held_out_concepts_and_joins_training_emoji(fake_icons) -> None:
    fetch_set("icons", progress=_no_bar)
    src = open_source("builtin:icons?split=train")
    kept = {p.meta["icon"]: p.key for p in src}
    assert fake_icons["held_slug"] not in kept and "lighthouse" in kept
    assert any(s.reason.startswith("held out") for s in src.skipped)
    emoji_icon = "-".join(_norm(fake_icons["kept_emoji"].name).split())
    assert src.concept_of(kept[emoji_icon]) == fake_icons["kept_emoji"].code  # an icon of a training emoji joins it
    assert src.concept_of(kept["lighthouse"]) == "icon:lighthouse"
    with pytest.raises(AlignkitError, match="unknown icons split"):
        open_source("builtin:icons?split=test")


def test_icons_rerun_keeps_renders_and_another_pin_refetches(fake_icons) -> None:
    fetch_set("icons", progress=_no_bar)
    png = next(iter(sorted((icons.folder() / "png").glob("*.png"))))
    mtime = png.stat().st_mtime_ns
    fetch_set("icons", progress=_no_bar)
    assert png.stat().st_mtime_ns == mtime  # finished renders are kept
    ready = icons.folder() / "READY.json"
    ready.write_text(json.dumps({**json.loads(ready.read_text()), "packages": ["@iconify-json/fake-a@0.9.0"]}))
    assert not icons.present()
    with pytest.raises(AlignkitError, match="data fetch icons"):
        icons.IconsSource()


def test_icons_licence_mismatch_is_an_error(fake_icons, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = icons.ICON_SETS[0]
    _icon_set(tmp_path, a, ["lighthouse"], {}, "GPL-3.0")
    with pytest.raises(AlignkitError, match="GPL-3.0"):
        fetch_set("icons", progress=_no_bar)


def test_pool_adds_icons_to_the_training_set_and_the_shipped_pins_exclude_what_must_stay_out() -> None:
    assert POOL_SPEC.startswith(TRAIN_SPEC + " + ") and POOL_SPEC.endswith("builtin:icons?split=train")
    prefixes = {s.prefix for s in icons.ICON_SETS}
    for banned in ("fluent", "fluent-emoji", "fluent-emoji-flat", "openmoji", "logos", "simple-icons", "flag", "noto", "twemoji"):
        assert banned not in prefixes
    assert all(s.licence for s in icons.ICON_SETS) and "icons" in SETS
    assert icons.drop_reason("alpha-b-circle", "") and icons.drop_reason("home", "Brand / Logo")
    assert icons.drop_reason("fire-extinguisher", "Safety") is None
    assert icons.base_name("home-outline") == "home" and icons.base_name("box") == "box"


@pytest.mark.slow
def test_real_icons_are_many_and_name_no_held_out_concept() -> None:
    """The pinned sets, fetched: a pool several times the largest curation budget (6,000), with
    no training caption that is a held-out emoji caption."""
    if not icons.present() or not SETS["emoji"].present():
        pytest.skip("the icons set is not fetched here (alignkit data fetch icons)")
    pairs = list(open_source("builtin:icons?split=train"))
    assert len(pairs) >= 15000
    train, held = emoji.split_concepts(emoji.load_concepts())
    held_caps = {_norm(t) for c in held for t in emoji.captions_of(c)}
    leaked = [p.captions[0] for p in pairs if {_norm(c) for c in p.captions} & held_caps]
    assert not leaked, leaked[:8]
