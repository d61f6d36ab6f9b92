"""The recipe's one typed schema: YAML, JSON, ``--set``, the constructor and assignment all go
through it; flags are flags, numbers take scientific notation, heads have their shape checked;
sectioned and old flat files load; the canonical form recorded digests are computed on is unchanged."""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from alignkit.align.recipe import AlignConfig, ConfigError, HeadConfig, parse_sets, recipe_keys, recipe_overrides
from alignkit.align.recipe_schema import SECTIONS, key_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("data,message", [
    ({"image_head": 5}, r"image_head must be a mapping of head keys \(kind, hidden"),
    ({"seed": "abc"}, "seed must be an integer of at least 0, got 'abc'"),
    ({"text_head": {"hidden": "big"}}, "text_head.hidden must be an integer"),
    ({"online": "false"}, "online must be true or false .*got 'false'"),
    ({"text_head": {"center": "false"}}, "text_head.center must be true or false"),
    ({"learn_temperature": 1}, "learn_temperature must be true or false"),
    ({"epochs": True}, "epochs must be an integer"),
    ({"epochs": 2.5}, "epochs must be an integer"),
    ({"lr": "nan"}, "lr must be a positive finite number"),
    ({"memory": 1.5}, r"memory must be a finite number in \[0, 1\]"),
    ({"loss": "triplet"}, "loss must be one of infonce, siglip"),
    ({"vision": 3}, "vision must be a string"),
    ({"text_head": {"kindd": "mlp"}}, "unknown key.*kindd.*known keys: kind, hidden"),
])
def test_a_bad_value_is_one_line_naming_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        AlignConfig.from_dict(data)
    assert "\n" not in str(caught.value)


def test_the_constructor_and_assignment_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="grad_clip must be"):
        AlignConfig(grad_clip="abc")
    config = AlignConfig()
    with pytest.raises(ConfigError, match="batch_size must be an integer of at least 1"):
        config.batch_size = 0
    with pytest.raises(ConfigError, match="image_head.kind must be one of"):
        AlignConfig(image_head={"kind": "huge"})
    assert HeadConfig("identity").kind == "identity"  # positional fields, as a dataclass


def test_set_values_scientific_notation_and_strict_flags() -> None:
    assert AlignConfig().with_overrides(parse_sets(["lr=1e-3", "weight_decay=2.5E-2", "epochs=1e1"])).lr == 1e-3
    assert AlignConfig().with_overrides(parse_sets(["epochs=1e1"])).epochs == 10
    assert AlignConfig().with_overrides(parse_sets(["learn_temperature=false", "online=no"])).online is False
    for bad, key in (["learn_temperature=maybe"], "learn_temperature"), (["grad_clip=abc"], "grad_clip"), (["lr="], "lr"):
        with pytest.raises(ConfigError, match=key):
            recipe_overrides(None, bad)


def test_a_yaml_file_with_quoted_false_is_refused_and_1e_3_is_a_number(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("lr: 1e-3\nonline: \"false\"\n")
    with pytest.raises(ConfigError, match="online must be true or false"):
        AlignConfig.from_file(path)
    path.write_text("lr: 1e-3\nonline: false\n")
    assert AlignConfig.from_file(path).lr == 1e-3


def test_sections_are_accepted_and_mean_the_same_recipe_as_flat_keys(tmp_path: Path) -> None:
    flat = {"image_head": {"kind": "linear"}, "loss": "siglip", "lr": 3e-4, "memory_k": 8, "data": "builtin:emoji", "device": "cpu"}
    sectioned = {"heads": {"image_head": {"kind": "linear"}}, "loss": {"loss": "siglip"}, "optimisation": {"lr": 3e-4},
                 "memory": {"memory_k": 8}, "data": {"data": "builtin:emoji"}, "runtime": {"device": "cpu"}}
    assert AlignConfig.from_dict(sectioned) == AlignConfig.from_dict(flat)
    assert AlignConfig().with_overrides({"optimisation.lr": 0.5}).lr == 0.5
    assert AlignConfig().with_overrides({"memory": {"memory_k": 3}, "memory.memory_temperature": 0.5}).memory_k == 3
    assert AlignConfig().with_overrides({"memory": 0.0}).memory == 0.0  # a number under "memory" is the key
    with pytest.raises(ConfigError, match="optimisation.memory_k is no key of section 'optimisation'"):
        AlignConfig.from_dict({"optimisation": {"memory_k": 8}})


def test_every_key_is_in_one_section_and_listed_with_type_default_and_range() -> None:
    rows = {r["key"]: r for r in recipe_keys()}
    for f in fields(AlignConfig):
        key = key_of(AlignConfig, f.name)
        assert key is not None and key.section in SECTIONS and key.help, f.name
    heads = [f"{side}.{h.name}" for side in ("image_head", "text_head") for h in fields(HeadConfig)]
    assert set(rows) == {f.name for f in fields(AlignConfig) if f.name not in ("image_head", "text_head")} | set(heads)
    default = AlignConfig().to_dict()
    assert rows["lr"]["default"] == default["lr"] and rows["text_head.kind"]["default"] == default["text_head"]["kind"]
    assert rows["memory"]["accepts"] == "a finite number in [0, 1]" and rows["memory"]["section"] == "memory"


def test_align_list_keys_prints_every_key(capsys) -> None:
    from alignkit.cli import run

    assert run(["align", "--list-keys"]) == 0  # no --out needed: it lists and exits
    out = capsys.readouterr().out
    for r in recipe_keys():
        assert r["key"] in out
    assert all(f"{s}:" in out for s in SECTIONS)


def test_align_options_have_the_schemas_ranges(capsys) -> None:
    """The command line is held to the recipe's ranges: --dropout 0.99 (above 0.95) is a usage error."""
    from alignkit.cli import run

    assert run(["align", "--out", "x", "--dropout", "0.99"]) == 2
    assert "--dropout" in capsys.readouterr().err


def test_old_flat_recipe_files_still_load() -> None:
    for path in sorted((ROOT / "benchmarks" / "recipes").glob("*.yaml")):
        if path.name == "candidates.yaml":
            import yaml

            for overrides in yaml.safe_load(path.read_text()).values():
                AlignConfig().with_overrides(overrides).validate()
        else:
            AlignConfig.from_file(path).validate()


def test_recorded_recipe_digests_are_unchanged() -> None:
    """benchmarks/provenance.py digests ``to_dict()``: the default recipe still gives demo.json's
    digest, and the chosen recipe recorded in recipe_selection.json round-trips to its digest."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from provenance import recipe_digest
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from alignkit.bench import demo_config

    results = ROOT / "benchmarks" / "results"
    demo = json.loads((results / "demo.json").read_text())
    assert recipe_digest(AlignConfig().with_overrides(demo_config(crossover=True).recipe).to_dict()) == demo["provenance"]["recipe_digest"]
    selection = json.loads((results / "recipe_selection.json").read_text())
    chosen = selection["recipes"][selection["chosen"]]
    assert recipe_digest(AlignConfig.from_dict(chosen).to_dict()) == selection["provenance"]["recipe_digest"]
    assert AlignConfig.from_dict(chosen).to_dict() == chosen  # the canonical form: flat, same keys, same values
