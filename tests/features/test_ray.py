"""The Ray Data engine on a local Ray cluster with 2 model actors: the store equals the
one-process store (same keys, same skips, same fingerprint, features within float16 rounding),
resumes shard by shard, and `alignkit embed --executor ray` runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

ray = pytest.importorskip("ray")

from alignkit.encoders import create_encoder  # noqa: E402
from alignkit.features.extract import embed_items  # noqa: E402
from alignkit.features.ray_engine import ray_chunk_runner  # noqa: E402

pytestmark = pytest.mark.slow  # every test here starts a local Ray cluster


@pytest.fixture(scope="module")
def runner():
    run = ray_chunk_runner(workers=2)
    yield run
    ray.shutdown()


def _images(tmp: Path) -> list[tuple[str, object]]:
    rng = np.random.default_rng(0)
    items = []
    for i in range(9):
        path = tmp / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8)).save(path)
        items.append((f"img{i}", str(path)))
    (tmp / "bad.png").write_bytes(b"not a png")
    return items[:4] + [("bad", str(tmp / "bad.png")), ("img1", items[1][1])] + items[4:]


def _same(ray_store, local_store) -> None:
    rk, rf = ray_store.load()
    lk, lf = local_store.load()
    assert list(rk) == list(lk)
    np.testing.assert_allclose(np.asarray(rf, np.float32), np.asarray(lf, np.float32), rtol=2e-3, atol=2e-3)
    assert ray_store.fingerprint == local_store.fingerprint
    assert ray_store.skipped == local_store.skipped


@pytest.mark.parametrize("spec", ["pixels?size=8", "efficientnet-lite0"])
def test_ray_store_equals_the_one_process_store(tmp_path, runner, spec):
    items = _images(tmp_path)
    local = embed_items(create_encoder(spec), items, tmp_path / "local", shard_size=4, batch_size=3, num_workers=0,
                        progress=False)
    on_ray = embed_items(create_encoder(spec), items, tmp_path / "ray", shard_size=4, batch_size=3, progress=False,
                         chunk_runner=runner)
    _same(on_ray, local)
    assert {s["key"] for s in on_ray.skipped} == {"bad", "img1"} and "duplicate key" in {s["reason"] for s in on_ray.skipped}
    again = embed_items(create_encoder(spec), items, tmp_path / "ray", shard_size=4, batch_size=3, progress=False,
                        chunk_runner=runner)
    assert again.manifest["last_run"]["items_computed"] == 0  # resumed: every shard reused


def test_ray_captions_and_the_cli(tmp_path, runner):
    from alignkit.cli import cli

    texts = tmp_path / "captions.txt"
    texts.write_text("a red square\n\na blue circle\ntwo green dots\n")
    args = ["embed", "--encoder", "hashed-ngrams?dim=32", "--texts", str(texts), "--shard-size", "2"]
    local = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "t-local")])
    on_ray = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "t-ray"), "--executor", "ray", "--ray-workers", "2"])
    assert local.exit_code == 0 and on_ray.exit_code == 0, on_ray.output + repr(on_ray.exception)
    from alignkit.features import FeatureStore

    _same(FeatureStore(tmp_path / "t-ray"), FeatureStore(tmp_path / "t-local"))
    bad = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "x"), "--address", "ray://nowhere:1"])
    assert bad.exit_code != 0 and "--executor ray" in bad.output
