"""Hostile-user reproductions: each bad input gives a clear error naming the bad part or a
recorded skip; caches never serve features or scores of content that changed; damaged shards are
re-extracted; full disks leave nothing half-written."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alignkit.data import open_source
from alignkit.data.plain import image_folder_items
from alignkit.errors import AlignkitError
from alignkit.features import embed_items
from alignkit.features.cache import cached_features
from tests.helpers.fakes import FakeImageEncoder, solid_png

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _row_of(rgb: tuple[int, int, int]) -> np.ndarray:
    """FakeImageEncoder's feature of a solid image: channel means, then zero stds."""
    return np.array([c / 255 for c in rgb] + [0, 0, 0], dtype=np.float32)


# ---- sources: duplicate keys, option values ------------------------------------------------


def test_csv_rows_sharing_a_key_column_are_never_merged(tmp_path: Path) -> None:
    solid_png(tmp_path / "a.png", RED)
    solid_png(tmp_path / "b.png", BLUE)
    (tmp_path / "t.csv").write_text("id,image,caption\nk1,a.png,a red square\nk1,b.png,a blue circle\nk2,a.png,red again\n")
    src = open_source(f"csv:{tmp_path}/t.csv?key=id")
    pairs = list(src)
    assert [(p.key, p.captions) for p in pairs] == [("k1", ["a red square"]), ("k2", ["red again"])]
    assert Path(pairs[0].image).name == "a.png"
    [skip] = src.skipped
    assert skip.key == "k1" and "duplicate key" in skip.reason and "b.png" in skip.reason


@pytest.mark.parametrize("spec,part", [
    ("builtin:emoji?n=abc", "n must be an integer"),
    ("builtin:emoji?n=-1", "n must be at least 1"),
    ("builtin:emoji?n=0", "n must be at least 1"),
    ("builtin:clipart?n=0", "n must be at least 1"),
])
def test_bad_counts_on_sources_are_refused_before_any_work(spec: str, part: str) -> None:
    with pytest.raises(AlignkitError, match=part):
        open_source(spec)


@pytest.mark.parametrize("spec,part", [
    ("builtin:fashion-mnist?n=abc", "n must be an integer"),
    ("builtin:fashion-mnist?n=-1", "n must be at least 1"),
    ("builtin:mnist?seed=-3", "seed must be at least 0"),
    ("builtin:emoji-unseen-style?n=abc", "n must be an integer"),
    ("builtin:emoji-animals-unseen-concepts?n=-1", "n must be at least 1"),
])
def test_bad_counts_on_tasks_are_refused(spec: str, part: str) -> None:
    from alignkit.data.tasks import open_task

    with pytest.raises(AlignkitError, match=part):
        open_task(spec)


@pytest.mark.parametrize("spec,part", [
    ("pixels?size=abc", "size must be an integer"),
    ("pixels?size=0", "size must be at least 1"),
    ("hashed-ngrams?dim=x", "dim must be an integer"),
    ("pixels?dtype=int8", "dtype must be one of"),
    ("hashed-ngrams?dtype=int8", "dtype must be one of"),
    ("pixels?dtype=float16", "leave dtype= out"),
])
def test_bad_encoder_options_name_the_option(spec: str, part: str) -> None:
    from alignkit.encoders import create_encoder

    with pytest.raises(AlignkitError, match=part):
        create_encoder(spec)
    with pytest.raises(AlignkitError, match="dtype must be one of"):
        create_encoder("pixels", dtype="int8")


# ---- every skip recorded in the manifest ---------------------------------------------------


def _hostile_folder(d: Path) -> Path:
    d.mkdir()
    solid_png(d / "good.png", RED)
    (d / "dangling.png").symlink_to(d / "gone.png")
    (d / "loop.png").symlink_to(d / "loop.png")
    (d / "x.jpg").mkdir()
    return d


def test_images_mode_records_links_loops_and_directories_in_the_manifest(tmp_path: Path) -> None:
    from alignkit.cli import cli
    from alignkit.encoders.registry import register_backend
    from alignkit.features import FeatureStore

    d = _hostile_folder(tmp_path / "imgs")
    skipped: list = []
    assert [k for k, _ in image_folder_items(d, skipped)] == ["good.png"]
    assert {s.key: s.reason for s in skipped} == {
        "dangling.png": "dangling symbolic link (its target does not exist)",
        "loop.png": "symbolic link loop",
        "x.jpg": "a directory, not an image file",
    }
    register_backend("fakeimg", lambda name, opts: FakeImageEncoder(spec=name))
    r = CliRunner().invoke(cli, ["embed", "--encoder", "fakeimg:x", "--images", str(d), "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    assert "skipped 3" in r.output
    assert {s["key"] for s in FeatureStore(tmp_path / "s").skipped} == {"dangling.png", "loop.png", "x.jpg"}


def test_folder_source_skips_are_recorded_in_the_manifest(tmp_path: Path) -> None:
    from alignkit.cli import cli
    from alignkit.encoders.registry import register_backend
    from alignkit.features import FeatureStore

    d = _hostile_folder(tmp_path / "imgs")
    lines = [{"image": n, "caption": f"caption of {n}"} for n in ("good.png", "dangling.png", "loop.png", "x.jpg")]
    (d / "captions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    register_backend("fakeimg", lambda name, opts: FakeImageEncoder(spec=name))
    r = CliRunner().invoke(cli, ["embed", "--encoder", "fakeimg:x", "--data", f"folder:{d}", "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    store = FeatureStore(tmp_path / "s")
    assert store.keys() == ["good.png"]
    assert {s["key"] for s in store.skipped} == {"dangling.png", "loop.png", "x.jpg"}
    assert all(s["reason"].startswith("missing file") for s in store.skipped)


# ---- content-keyed features cache, shard checksums -------------------------------------------


def _folder_source(d: Path, colours: dict[str, tuple[int, int, int]]) -> str:
    d.mkdir(exist_ok=True)
    for name, rgb in colours.items():
        solid_png(d / name, rgb)
    (d / "captions.jsonl").write_text("".join(json.dumps({"image": n, "caption": f"a picture {n}"}) + "\n" for n in colours))
    return f"folder:{d}"


def _cache(spec: str, root: Path):
    from alignkit.data.base import image_items

    src = open_source(spec)
    return cached_features(FakeImageEncoder(), image_items(src), spec, root=root, shard_size=2, num_workers=0, progress=False)


def test_features_cache_is_keyed_by_content_not_by_the_spec(tmp_path: Path) -> None:
    spec = _folder_source(tmp_path / "d", {"a.png": RED, "b.png": BLUE, "c.png": GREEN})
    first = _cache(spec, tmp_path / "cache")
    assert first.manifest["last_run"]["items_computed"] == 3
    again = _cache(spec, tmp_path / "cache")
    assert again.manifest["last_run"]["items_computed"] == 0  # unchanged: reused
    solid_png(tmp_path / "d" / "b.png", GREEN)  # replace one image in place (same name)
    os.utime(tmp_path / "d" / "b.png", ns=(1, 1))  # even an mtime set back changes the identity
    keys, feats = _cache(spec, tmp_path / "cache").load()
    assert keys == ["a.png", "b.png", "c.png"]
    assert np.allclose(feats[1], _row_of(GREEN), atol=1e-2) and np.allclose(feats[0], _row_of(RED), atol=1e-2)
    solid_png(tmp_path / "d" / "d.png", BLUE)  # a new pair
    with open(tmp_path / "d" / "captions.jsonl", "a") as f:
        f.write(json.dumps({"image": "d.png", "caption": "a new picture"}) + "\n")
    store = _cache(spec, tmp_path / "cache")
    assert store.keys() == ["a.png", "b.png", "c.png", "d.png"]
    assert store.manifest["last_run"]["items_computed"] == 2  # only the shard whose items changed


@pytest.mark.parametrize("damage", ["truncate", "overwrite", "delete"])
def test_a_damaged_shard_is_detected_and_re_extracted(tmp_path: Path, damage: str) -> None:
    from alignkit.features import FeatureStore
    from alignkit.features.store import StoreDamagedError

    d = tmp_path / "imgs"
    d.mkdir()
    for i, rgb in enumerate([RED, BLUE, GREEN, RED, BLUE]):
        solid_png(d / f"{i}.png", rgb)
    out = tmp_path / "s"
    reference = embed_items(FakeImageEncoder(), image_folder_items(d), out, shard_size=2, num_workers=0, progress=False).load()
    shard = out / "shard-00001.npy"
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-7])
        with pytest.raises(StoreDamagedError, match="shard-00001"):
            FeatureStore(out).load()  # never served: a clear error, not an mmap ValueError
    elif damage == "overwrite":
        other = np.load(out / "shard-00000.npy")
        np.save(shard, other)
    else:
        shard.unlink()
    store = embed_items(FakeImageEncoder(), image_folder_items(d), out, shard_size=2, num_workers=0, progress=False)
    assert store.manifest["last_run"]["items_computed"] == 2  # that shard only
    assert store.manifest["last_run"]["re_extracted"][0]["shard"] == "shard-00001"
    keys, feats = store.load()
    assert keys == reference[0] and np.array_equal(feats, reference[1])


def test_a_derived_subset_follows_a_changed_parent(tmp_path: Path) -> None:
    from alignkit.features.store import derive_subset

    d = tmp_path / "imgs"
    d.mkdir()
    solid_png(d / "a.png", RED)
    solid_png(d / "b.png", BLUE)
    parent = embed_items(FakeImageEncoder(), image_folder_items(d), tmp_path / "p", num_workers=0, progress=False)
    assert np.allclose(derive_subset(parent, lambda k: k == "b.png", tmp_path / "sub").load()[1][0], _row_of(BLUE), atol=1e-2)
    solid_png(d / "b.png", GREEN)
    os.utime(d / "b.png", ns=(2, 2))
    parent = embed_items(FakeImageEncoder(), image_folder_items(d), tmp_path / "p", num_workers=0, progress=False)
    assert np.allclose(derive_subset(parent, lambda k: k == "b.png", tmp_path / "sub").load()[1][0], _row_of(GREEN), atol=1e-2)


# ---- full disk -------------------------------------------------------------------------------


def test_a_full_disk_during_embed_is_a_clear_error_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    from alignkit.cli import cli
    from alignkit.encoders.registry import register_backend
    from alignkit.features import store as store_mod

    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(4):
        solid_png(d / f"{i}.png", RED)
    calls = {"n": 0}
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # the second shard's features
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(store_mod.os, "fsync", fsync)
    register_backend("fakeimg", lambda name, opts: FakeImageEncoder(spec=name))
    out = tmp_path / "s"
    r = CliRunner().invoke(cli, ["embed", "--encoder", "fakeimg:x", "--images", str(d), "--out", str(out), "--shard-size", "2", "--workers", "0"])
    assert isinstance(r.exception, AlignkitError) and "no space left" in str(r.exception), r.output
    assert "shard-00001.npy" in str(r.exception)
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]
    monkeypatch.setattr(store_mod.os, "fsync", real_fsync)
    r = CliRunner().invoke(cli, ["embed", "--encoder", "fakeimg:x", "--images", str(d), "--out", str(out), "--shard-size", "2", "--workers", "0"])
    assert r.exit_code == 0 and "4 rows" in r.output and "2 items encoded" in r.output, r.output


# ---- issue 29, runtime side: writers, read paths, evaluation edges, degenerate results ---------


def _store(tmp_path: Path, name: str, encoder=None, items=None):
    from tests.helpers.fakes import FakeTextEncoder

    if items is None:
        d = tmp_path / f"{name}-imgs"
        d.mkdir()
        for i, rgb in enumerate([RED, BLUE, GREEN, RED]):
            solid_png(d / f"{i}.png", rgb)
        items = image_folder_items(d)
    encoder = encoder or (FakeImageEncoder() if name != "text" else FakeTextEncoder())
    return embed_items(encoder, items, tmp_path / name, shard_size=2, num_workers=0, progress=False)


def test_two_embed_runs_into_one_store_the_second_is_refused_naming_the_first(tmp_path: Path) -> None:
    from alignkit.cli import cli
    from alignkit.encoders.registry import register_backend
    from tests.helpers.other_writer import held_by_another_process

    solid_png(tmp_path / "a.png", RED)
    register_backend("fakeimg", lambda name, opts: FakeImageEncoder(spec=name))
    with held_by_another_process(tmp_path / "s") as pid:
        r = CliRunner().invoke(cli, ["embed", "--encoder", "fakeimg:x", "--images", str(tmp_path), "--out", str(tmp_path / "s"), "--workers", "0"])
    assert isinstance(r.exception, AlignkitError) and f"pid {pid}" in str(r.exception)
    assert not (tmp_path / "s" / "manifest.json").exists()


def test_an_empty_image_folder_is_an_error_not_a_complete_store(tmp_path: Path) -> None:
    from alignkit.cli import cli
    from alignkit.encoders.registry import register_backend

    (tmp_path / "empty").mkdir()
    register_backend("fakeimg", lambda name, opts: FakeImageEncoder(spec=name))
    r = CliRunner().invoke(cli, ["embed", "--encoder", "fakeimg:x", "--images", str(tmp_path / "empty"), "--out", str(tmp_path / "s")])
    assert isinstance(r.exception, AlignkitError) and "no items" in str(r.exception), r.output
    assert "everything reused" not in r.output and not (tmp_path / "s" / "manifest.json").exists()


def test_items_that_all_fail_are_an_error_not_a_complete_store(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(AlignkitError, match="none of the 1 items could be embedded"):
        embed_items(FakeImageEncoder(), [("bad", str(tmp_path / "bad.png"))], tmp_path / "s", num_workers=0, progress=False)


def test_a_flipped_bit_is_never_served_by_the_python_api(tmp_path: Path) -> None:
    from alignkit.align import AlignConfig, train
    from alignkit.features import FeatureStore
    from alignkit.features.store import StoreDamagedError

    image, text = _store(tmp_path, "image"), _store(tmp_path, "text", items=[(f"{i}.png#0", f"caption {i}") for i in range(4)])
    shard = tmp_path / "image" / "shard-00001.npy"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 0x01  # one bit of one feature value: the array still loads
    shard.write_bytes(bytes(raw))
    with pytest.raises(StoreDamagedError, match="shard-00001.*SHA-256"):
        FeatureStore(image.path).load()
    with pytest.raises(StoreDamagedError, match="shard-00001"):
        train(AlignConfig(embed_dim=4, epochs=1), image.path, text.path, tmp_path / "run", progress=False)


def test_an_image_store_passed_as_the_text_store_is_refused(tmp_path: Path) -> None:
    from alignkit.align import AlignConfig, train
    from alignkit.features.pairs import PairsError

    image = _store(tmp_path, "image")
    with pytest.raises(PairsError, match="text store .* holds image features"):
        train(AlignConfig(embed_dim=4, epochs=1), image.path, image.path, tmp_path / "run", progress=False)


def test_two_align_runs_into_one_out_the_second_is_refused(tmp_path: Path) -> None:
    from alignkit.cli import cli
    from tests.helpers.other_writer import held_by_another_process

    with held_by_another_process(tmp_path / "run") as pid:
        r = CliRunner().invoke(cli, ["align", "--vision", "pixels", "--text", "hashed-ngrams", "--data", "builtin:emoji?n=8",
                                     "--out", str(tmp_path / "run"), "--quiet"])
    assert isinstance(r.exception, AlignkitError) and f"run folder {tmp_path / 'run'} is being written" in str(r.exception)
    assert f"pid {pid}" in str(r.exception) and not (tmp_path / "run" / "recipe.json").exists()


def test_a_perfect_model_finds_images_whose_caption_string_another_image_shares(tmp_path: Path) -> None:
    from alignkit.data.tasks import Pair, RetrievalTask
    from alignkit.evaluate import evaluate_task

    class Perfect:  # an image's colour and its caption's colour word land on one axis
        axes = {"red": 0, "green": 1, "blue": 2}

        def encode_image(self, images):
            return np.array([np.eye(3)[int(np.argmax(np.asarray(im).mean((0, 1))))] for im in images])

        def encode_text(self, texts):
            return np.array([np.eye(3)[self.axes[t.split()[-1]]] for t in texts])

    for name, rgb in (("r", RED), ("g", GREEN), ("b1", BLUE), ("b2", BLUE)):
        solid_png(tmp_path / f"{name}.png", rgb)
    words = {"r": "red", "g": "green", "b1": "blue", "b2": "blue"}
    task = RetrievalTask("shared", [Pair(k, str(tmp_path / f"{k}.png"), [f"a {w}"]) for k, w in words.items()])
    rows = {r["metric"]: r["value"] for r in evaluate_task(Perfect(), task).rows}
    assert rows["i2t_R@1"] == 1.0 and rows["t2i_R@1"] == 1.0  # was 0.5: the twin caption counted against each


def test_two_tasks_with_one_name_are_refused_and_a_reused_eval_out_holds_only_this_run(tmp_path: Path, monkeypatch) -> None:
    from alignkit.cli import cli
    from tests.helpers.color_models import color_model, color_task

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    model = color_model().save_pretrained(tmp_path / "m")
    a, b = color_task(tmp_path / "a" / "colors"), color_task(tmp_path / "b" / "colors")
    r = CliRunner().invoke(cli, ["eval", str(model), "--task", f"folder-task:{a}", "--task", f"folder-task:{b}", "--quiet"])
    assert isinstance(r.exception, AlignkitError) and "both named 'colors'" in str(r.exception)

    out = tmp_path / "out"
    other = color_task(tmp_path / "c" / "shades")
    for spec in (f"folder-task:{a}", f"folder-task:{other}"):
        r = CliRunner().invoke(cli, ["eval", str(model), "--task", spec, "--out", str(out), "--quiet"])
        assert r.exit_code == 0, r.output
    assert [p.name for p in (out / "clip_benchmark").iterdir()] == ["shades_m_zeroshot_classification.json"]
    assert not list(out.glob("confusion-colors*"))


def test_repeated_probe_rows_warn_and_are_noted_on_the_ranking(tmp_path: Path, monkeypatch) -> None:
    from alignkit.cli import cli
    from alignkit.errors import DegenerateResultWarning

    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "probe"
    root.mkdir()
    rng = np.random.default_rng(0)
    records = []
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
        records.append({"image": f"{i:03d}.png", "caption": f"picture number {i}"})
    for i in range(30, 40):  # ten pairs listed twice under new keys
        (root / f"{i:03d}.png").write_bytes((root / f"{i - 30:03d}.png").read_bytes())
        records.append({"image": f"{i:03d}.png", "caption": f"picture number {i - 30}"})
    (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    with pytest.warns(DegenerateResultWarning, match="10 of 40 probe rows repeat"):
        r = CliRunner().invoke(cli, ["rank-encoders", "--vision-zoo", "pixels?size=4", "--text-zoo", "hashed-ngrams",
                                     "--probe", f"folder:{root}", "--n", "40", "--metrics", "linear_cka", "--bootstrap", "0",
                                     "--permutations", "0", "--format", "json", "--out", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "report" / "results.jsonl").read_text().splitlines()]
    assert all("repeat an earlier row" in row["note"] for row in rows)


def test_training_pairs_with_no_contrast_warn_and_the_run_records_it(tmp_path: Path) -> None:
    from alignkit.align import AlignConfig
    from alignkit.align.training.loop import train_pairs
    from alignkit.errors import DegenerateResultWarning
    from alignkit.features.pairs import CachedPairs

    keys = [f"k{i}" for i in range(40)]
    image, text = np.ones((40, 6), np.float32), np.ones((40, 5), np.float32)  # forty identical pairs
    data = CachedPairs(keys, image, [f"{k}#0" for k in keys], text)
    with pytest.warns(DegenerateResultWarning, match="no negatives"):
        train_pairs(AlignConfig(embed_dim=4, epochs=1, memory=0.0), data, tmp_path / "run", progress=False)
    assert "no negatives" in json.loads((tmp_path / "run" / "run.json").read_text())["warnings"][0]


def test_a_baseline_fitted_on_fewer_pairs_than_its_dimension_warns_and_says_so_in_its_result() -> None:
    from alignkit.errors import DegenerateResultWarning
    from alignkit.evaluate import make_baseline
    from alignkit.evaluate.cached import TaskFeatures, score

    rng = np.random.default_rng(0)
    with pytest.warns(DegenerateResultWarning, match="ridge was fitted on 2 pairs, fewer than the 8 dimensions"):
        ridge = make_baseline("ridge").fit(rng.normal(size=(2, 8)), rng.normal(size=(2, 8)))
    tf = TaskFeatures("t", "retrieval", rng.normal(size=(3, 8)), text=rng.normal(size=(3, 8)), text_to_image=np.arange(3))
    assert "fewer than the 8 dimensions" in score(ridge, tf, "ridge").notes[0]
    fitted = make_baseline("ridge").fit(rng.normal(size=(20, 8)), rng.normal(size=(20, 8)))
    assert fitted.notes == []


def test_the_cli_prints_a_degenerate_result_warning_as_one_line(capsys) -> None:
    import warnings

    from alignkit.cli import _one_line_warnings
    from alignkit.errors import warn_degenerate

    with warnings.catch_warnings():  # restores warnings.showwarning afterwards
        warnings.simplefilter("always")
        _one_line_warnings()
        warn_degenerate("ridge was fitted on 2 pairs")
    assert capsys.readouterr().err == "warning: ridge was fitted on 2 pairs\n"


# ---- issue 29, the input side: one-line errors at the edges ----------------------------------


def _cli(args: list[str], capsys) -> tuple[int, str]:
    """The console entry point's exit code and its stderr (what a user sees)."""
    from alignkit.cli import run

    capsys.readouterr()
    code = run(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("option,value", [("--shard-size", "0"), ("--shard-size", "-5"), ("--limit", "-1"),
                                          ("--batch-size", "0"), ("--workers", "-3")])
def test_embed_counts_out_of_range_are_usage_errors_before_any_work(tmp_path: Path, capsys, option: str, value: str) -> None:
    (tmp_path / "t.txt").write_text("a cat\n")
    code, err = _cli(["embed", "--encoder", "hashed-ngrams", "--texts", str(tmp_path / "t.txt"), "--out", str(tmp_path / "s"),
                      option, value], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and option in err, err
    assert not (tmp_path / "s").exists()  # refused at parse time: no empty "complete" store


@pytest.mark.parametrize("args,option", [(["--min-score", "nan"], "--min-score"), (["--dedup", "-1"], "--dedup"),
                                         (["--leak-threshold", "inf"], "--leak-threshold")])
def test_curate_thresholds_out_of_range_name_the_option(tmp_path: Path, capsys, args: list[str], option: str) -> None:
    code, err = _cli(["curate", "--pool", "builtin:clipart", "--concepts-task", "builtin:mnist", "--out", str(tmp_path / "c"), *args], capsys)
    assert code == 2 and option in err and len(err.strip().splitlines()) == 1, err


def test_permutations_0_is_warned_as_degenerate(tmp_path: Path, capsys, monkeypatch) -> None:
    import alignkit.rank.scoring as scoring

    def stop(*a, **k):
        raise AlignkitError("stopped after the plan")

    monkeypatch.setattr(scoring, "embed_probe", stop)
    code, err = _cli(["rank-encoders", "--permutations", "0", "--out", str(tmp_path / "r")], capsys)
    assert code == 1 and "stopped after the plan" in err
    assert "--permutations 0" in err and "NaN" in err and "raw metric" in err


def test_an_out_folder_or_cache_under_a_regular_file_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    from alignkit.errors import InputError
    from alignkit.paths import cache_root

    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "t.txt").write_text("a cat\n")
    code, err = _cli(["embed", "--encoder", "hashed-ngrams", "--texts", str(tmp_path / "t.txt"), "--out", str(tmp_path / "file" / "s")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "is a file, not a folder" in err, err
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "file" / "cache"))
    with pytest.raises(InputError, match=r"\$ALIGNKIT_CACHE .*is a file, not a folder"):
        cache_root()


def test_data_lives_under_the_cache_unless_alignkit_data_says_otherwise(tmp_path: Path, monkeypatch) -> None:
    from alignkit.data.builtin import data_home

    monkeypatch.delenv("ALIGNKIT_DATA", raising=False)
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    assert data_home() == tmp_path / "cache" / "data"
    monkeypatch.setenv("ALIGNKIT_DATA", str(tmp_path / "elsewhere"))
    assert data_home() == tmp_path / "elsewhere"


def _subset(tmp_path: Path, text: str) -> str:
    (tmp_path / "subset.json").write_text(text)
    return f"subset:{tmp_path / 'subset.json'}"


def test_a_truncated_or_misshapen_subset_manifest_is_one_clear_error(tmp_path: Path) -> None:
    good = json.dumps({"format": "alignkit-subset/1", "source": "builtin:clipart", "keys": ["k1", "k8"]})
    with pytest.raises(AlignkitError, match="not valid JSON.*truncated"):
        open_source(_subset(tmp_path, good[: len(good) // 2]))
    with pytest.raises(AlignkitError, match="'keys' must be a list of key strings, got 'k8'"):
        open_source(_subset(tmp_path, json.dumps({"format": "alignkit-subset/1", "source": "builtin:clipart", "keys": "k8"})))
    with pytest.raises(AlignkitError, match="'source' must be"):
        open_source(_subset(tmp_path, json.dumps({"format": "alignkit-subset/1", "keys": ["k8"]})))
    assert open_source(_subset(tmp_path, good)).keys == ["k1", "k8"]


def test_an_hf_spec_on_a_plain_folder_says_what_to_use(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    solid_png(tmp_path / "a.png", RED)
    with pytest.raises(AlignkitError, match="not a dataset saved with Dataset.save_to_disk.*folder:DIR"):
        list(open_source(f"hf:{tmp_path}"))


def test_overwrite_does_what_the_refusal_says(tmp_path: Path, capsys) -> None:
    """A store whose source's keys changed is refused with "--overwrite to replace the features it
    holds"; with --overwrite the same command then succeeds and holds the new source's rows only."""
    from alignkit.features import FeatureStore

    out = tmp_path / "s"
    base = ["embed", "--encoder", "hashed-ngrams", "--out", str(out), "--shard-size", "2"]
    assert _cli(base + ["--data", f"csv:{_captions_csv(tmp_path, ['x', 'y'])}"], capsys)[0] == 0
    changed = ["--data", f"csv:{_captions_csv(tmp_path, ['p', 'q'])}"]
    code, err = _cli(base + changed, capsys)
    assert code == 1 and "--overwrite" in err, err
    code, err = _cli(base + changed + ["--overwrite"], capsys)
    assert code == 0, err
    assert FeatureStore(out).keys() == ["p.png#0", "q.png#0"]


def _captions_csv(d: Path, names: list[str]) -> Path:
    for n in names:
        solid_png(d / f"{n}.png", RED)
    path = d / "pairs.csv"
    path.write_text("image,caption\n" + "".join(f"{n}.png,picture {n}\n" for n in names))
    return path


def test_one_bad_csv_row_is_one_skip(tmp_path: Path) -> None:
    solid_png(tmp_path / "a.png", RED)
    solid_png(tmp_path / "b.png", BLUE)
    (tmp_path / "t.csv").write_text('image,caption\na.png,a red square\nb.png,"   "\n')
    src = open_source(f"csv:{tmp_path}/t.csv")
    assert [p.key for p in src] == ["a.png"]
    [skip] = src.skipped
    assert skip.key == "b.png" and skip.reason.startswith("no usable caption") and "whitespace" in skip.reason


def test_data_help_names_what_n_counts_per_spec() -> None:
    from click.testing import CliRunner as Runner

    from alignkit.cli import cli

    text = Runner().invoke(cli, ["data", "--help"]).output
    assert "What ?n= counts" in text and "concepts" in text and "pairs" in text
    with pytest.raises(AlignkitError, match=r"\?n= is not accepted"):
        from alignkit.data.tasks import open_task

        open_task("builtin:emoji-animals-unseen-style?n=5")
