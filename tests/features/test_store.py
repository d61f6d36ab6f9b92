"""The feature store: alignment by key, skips with reasons, reuse, refusal of stale features, resume."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alignkit.data.plain import image_folder_items, text_file_items
from alignkit.features import FeatureStore, StoreMismatchError, embed_items
from tests.helpers.fakes import FakeImageEncoder, FakeTextEncoder, solid_png

ROOT = Path(__file__).resolve().parents[2]


def colour(i: int) -> tuple[int, int, int]:
    """A distinct colour per index, so a feature row reveals which image it came from."""
    return (i * 7 % 256, i * 13 % 256, i * 29 % 256)


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(40):
        solid_png(d / f"img{i:03d}.png", colour(i))
    (d / "img010.png").write_bytes(b"")  # zero bytes
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, format="PNG")
    (d / "img020.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # truncated
    (d / "img030.png").write_bytes(b"this is not an image at all")  # corrupt
    return d


def expected_row(i: int) -> np.ndarray:
    return np.array([c / 255.0 for c in colour(i)] + [0, 0, 0], dtype=np.float32)


def test_bad_images_are_skipped_with_reasons_and_rows_keep_their_keys(image_dir: Path, tmp_path: Path):
    store = embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "s", shard_size=16, batch_size=5,
                        num_workers=1, progress=False)
    keys, feats = store.load()
    bad = {"img010.png", "img020.png", "img030.png"}
    assert len(keys) == 37 and not bad & set(keys)
    reasons = {s["key"]: s["reason"] for s in store.skipped}
    assert set(reasons) == bad
    assert "empty" in reasons["img010.png"] and "corrupt" in reasons["img020.png"]
    assert "not a recognised image" in reasons["img030.png"]
    for key, row in zip(keys, feats):
        i = int(key[3:6])
        np.testing.assert_allclose(row, expected_row(i), atol=2e-3)  # float16 storage
    assert feats.dtype == np.float32 and np.load(tmp_path / "s" / "shard-00000.npy").dtype == np.float16
    assert [s["items"] for s in store.manifest["shards"]] == [16, 16, 8]


def test_second_run_reuses_everything(image_dir: Path, tmp_path: Path):
    first = embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "s", shard_size=16, progress=False)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").glob("shard-*.npy")}
    second = embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "s", shard_size=16, progress=False)
    assert second.manifest["last_run"]["items_computed"] == 0
    assert mtimes == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").glob("shard-*.npy")}
    assert first.keys() == second.keys()


def test_other_fingerprint_is_refused_then_overwritten(image_dir: Path, tmp_path: Path):
    embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "s", shard_size=16, progress=False)
    other = FakeImageEncoder(spec="fake-image-v2")
    with pytest.raises(StoreMismatchError, match="another encoder"):
        embed_items(other, image_folder_items(image_dir), tmp_path / "s", shard_size=16, progress=False)
    with pytest.raises(StoreMismatchError, match="shard size"):
        embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "s", shard_size=8, progress=False)
    store = embed_items(other, image_folder_items(image_dir), tmp_path / "s", shard_size=16, overwrite=True, progress=False)
    assert store.encoder["spec"] == "fake-image-v2" and store.manifest["last_run"]["items_computed"] == 40


def test_changed_source_under_a_finished_shard_is_refused(image_dir: Path, tmp_path: Path):
    embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "s", shard_size=16, progress=False)
    (image_dir / "img005.png").rename(image_dir / "zzz.png")
    with pytest.raises(StoreMismatchError, match="source changed"):
        embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "s", shard_size=16, progress=False)


def test_captions_bad_lines_are_recorded(tmp_path: Path):
    f = tmp_path / "caps.txt"
    f.write_bytes(b"a red apple\n\n   \nbad \xff\xfe bytes\nzebra stripes\n")
    store = embed_items(FakeTextEncoder(), text_file_items(f), tmp_path / "t", progress=False)
    keys, feats = store.load()
    assert keys == ["line-0000001", "line-0000005"]
    assert feats[1, ord("z") - 97] == 1 and feats[0, ord("p") - 97] == 2
    reasons = {s["key"]: s["reason"] for s in store.skipped}
    assert reasons == {"line-0000002": "empty or whitespace-only caption", "line-0000003": "empty or whitespace-only caption",
                       "line-0000004": "caption is not valid UTF-8"}


def test_non_finite_features_are_skipped_not_stored(tmp_path: Path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i, rgb in enumerate([(0, 0, 255), (255, 0, 0), (0, 255, 0)]):
        solid_png(d / f"{i}.png", rgb)
    store = embed_items(FakeImageEncoder(nan_if_red=True), image_folder_items(d), tmp_path / "s", progress=False)
    assert store.keys() == ["0.png", "2.png"]
    assert store.skipped == [{"key": "1.png", "reason": "non-finite features (NaN or inf)"}]


def test_duplicate_keys_keep_the_first(tmp_path: Path):
    items = [("a", "x y"), ("b", "b words"), ("a", "zzz")]
    store = embed_items(FakeTextEncoder(), items, tmp_path / "t", progress=False)
    keys, feats = store.load()
    assert keys == ["a", "b"] and feats[0, ord("x") - 97] == 1
    assert store.skipped == [{"key": "a", "reason": "duplicate key"}]


def test_token_features_with_mask(tmp_path: Path):
    items = [("a", "one"), ("b", "two words here"), ("c", "three words")]
    store = embed_items(FakeTextEncoder(), items, tmp_path / "t", tokens=True, shard_size=2, progress=False)
    keys, toks, mask = store.load_tokens()
    assert keys == ["a", "b", "c"] and toks.shape == (3, 3, 26)
    assert mask.sum(1).tolist() == [1, 3, 2]
    assert toks[0, 0, ord("o") - 97] == 1 and not toks[0, 1:].any()


RESUME_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from alignkit.data.plain import image_folder_items
    from alignkit.features import embed_items
    from tests.helpers.fakes import FakeImageEncoder
    embed_items(FakeImageEncoder(delay={delay}), image_folder_items({images!r}), {out!r},
                shard_size=8, batch_size=4, num_workers=0, progress=False)
    """
)


def run_embed_script(images: Path, out: Path, delay: float) -> subprocess.Popen:
    code = RESUME_SCRIPT.format(root=str(ROOT), delay=delay, images=str(images), out=str(out))
    return subprocess.Popen([sys.executable, "-c", code])


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(image_dir: Path, tmp_path: Path):
    reference = embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "ref", shard_size=8,
                            batch_size=4, num_workers=0, progress=False)
    out = tmp_path / "killed"
    proc = run_embed_script(image_dir, out, delay=0.15)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until at least two shards are committed, then kill -9
        m = out / "manifest.json"
        if m.exists() and len(json.loads(m.read_text())["shards"]) >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = json.loads((out / "manifest.json").read_text())
    assert not partial["complete"] and 2 <= len(partial["shards"]) < 5
    resumed = embed_items(FakeImageEncoder(), image_folder_items(image_dir), out, shard_size=8, batch_size=4,
                          num_workers=0, progress=False)
    assert resumed.manifest["last_run"]["items_computed"] == 40 - 8 * len(partial["shards"])
    k1, f1 = reference.load()
    k2, f2 = resumed.load()
    assert k1 == k2 and np.array_equal(f1, f2)
    assert resumed.skipped == reference.skipped


def test_embed_cli_with_a_registered_backend(image_dir: Path, tmp_path: Path):
    from alignkit.cli import cli
    from alignkit.encoders.registry import register_backend

    register_backend("fakeimg", lambda name, opts: FakeImageEncoder(spec=name))
    runner = CliRunner()
    args = ["embed", "--encoder", "fakeimg:x", "--images", str(image_dir), "--out", str(tmp_path / "s"), "--shard-size", "16"]
    r1 = runner.invoke(cli, args)
    assert r1.exit_code == 0, r1.output
    assert "37 rows x 6" in r1.output and "skipped 3" in r1.output
    assert r1.output.startswith(f"alignkit embed will: encode the images under {image_dir} with fakeimg:x")  # the plan first
    r2 = runner.invoke(cli, args)
    assert r2.exit_code == 0 and "everything reused" in r2.output
    r3 = runner.invoke(cli, ["embed", "--encoder", "fakeimg:x", "--texts", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "t")])
    assert r3.exit_code == 2 and "text encoder" in r3.output  # a usage error


def test_derive_subset_copies_rows_without_encoding(image_dir: Path, tmp_path: Path):
    from alignkit.features.store import derive_subset

    full = embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "s", shard_size=16, progress=False)
    want = {"img001.png", "img017.png", "img039.png", "img010.png"}  # img010 was skipped: not in the subset
    sub = derive_subset(full, lambda k: k in want, tmp_path / "sub")
    keys, feats = sub.load()
    assert keys == ["img001.png", "img017.png", "img039.png"] and sub.fingerprint == full.fingerprint
    fk, ff = full.load()
    assert np.array_equal(feats, ff[[fk.index(k) for k in keys]])
    again = derive_subset(full, lambda k: False, tmp_path / "sub")  # finished: reused as it is
    assert again.keys() == keys


def test_union_joins_stores_under_prefixes_and_follows_its_parents(image_dir: Path, tmp_path: Path):
    from alignkit.errors import AlignkitError
    from alignkit.features.union import union_stores

    a = embed_items(FakeImageEncoder(), image_folder_items(image_dir), tmp_path / "a", shard_size=16, progress=False)
    other = tmp_path / "imgs2"
    other.mkdir()
    for i in range(3):
        solid_png(other / f"x{i}.png", colour(100 + i))
    b = embed_items(FakeImageEncoder(), image_folder_items(other), tmp_path / "b", shard_size=16, progress=False)
    pool = union_stores([(a, "0:"), (b, "1:")], tmp_path / "pool")
    keys, feats = pool.load()
    ak, af = a.load()
    bk, bf = b.load()
    assert keys == ["0:" + k for k in ak] + ["1:" + k for k in bk] and pool.fingerprint == a.fingerprint
    assert np.array_equal(feats, np.concatenate([af, bf]))
    stamp = (tmp_path / "pool" / "shard-00000.npy").stat().st_mtime_ns
    assert union_stores([(a, "0:"), (b, "1:")], tmp_path / "pool").keys() == keys  # parents unchanged: reused
    assert (tmp_path / "pool" / "shard-00000.npy").stat().st_mtime_ns == stamp
    solid_png(other / "x3.png", colour(103))  # a parent grows: the union is rebuilt, not served stale
    b = embed_items(FakeImageEncoder(), image_folder_items(other), tmp_path / "b", shard_size=16, overwrite=True, progress=False)
    assert "1:x3.png" in union_stores([(a, "0:"), (b, "1:")], tmp_path / "pool").keys()
    with pytest.raises(AlignkitError, match="share keys"):
        union_stores([(a, ""), (a, "")], tmp_path / "bad")
    t = embed_items(FakeTextEncoder(), [("k", "a red apple")], tmp_path / "t", progress=False)
    with pytest.raises(AlignkitError, match="different encoders"):
        union_stores([(a, "0:"), (t, "1:")], tmp_path / "bad")
