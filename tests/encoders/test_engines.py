"""The ONNX Runtime engine: the same features as torch within float16 rounding for every backend,
an export made once and reused, a damaged export rebuilt, stores that never mix engines, and
clear words when onnxruntime is missing or an encoder does not export."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import tiny_models as F
from alignkit import engines
from alignkit.cli import main
from alignkit.encoders import create_encoder
from alignkit.encoders.onnx_engine import ExportError, OnnxEncoder, fp16_tolerance, with_engine
from alignkit.errors import AlignkitError, NotInstalledError
from alignkit.features import FeatureStore
from alignkit.features.extract import embed_items

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install -e '.[onnx]')")

TEXTS = ["a cat", "a photo of the red car on grass", "stock market report", "dog"]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(engines, "_said", set())
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    bert = F.save_bert(root / "bert", seed=0)
    return {"dinov2": F.save_dinov2(root / "dinov2")[0], "timm": F.save_timm_vit(root / "timm")[0],
            "bert": bert, "st": F.save_st(root / "st", bert)}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in [(50, 40), (31, 64), (90, 70)]]


def _batch(enc, items):
    return enc.collate([enc.preprocess(x) for x in items])


def _specs(folders):
    return {"efficientnet-lite0": "image", "minilm-l6": "text", f"hf:{folders['dinov2']}": "image",
            f"timm:{folders['timm']}": "image", f"hf:{folders['bert']}": "text", f"st:{folders['st']}": "text"}


@pytest.mark.slow
@pytest.mark.parametrize("which", range(6), ids=["lite0", "minilm", "hf-dinov2", "timm-vit", "hf-bert", "st"])
def test_onnx_features_equal_torch_within_float16_rounding(which, folders, images):
    spec, modality = list(_specs(folders).items())[which]
    items = images if modality == "image" else TEXTS
    ref = create_encoder(spec, engine="torch")
    fast = create_encoder(spec, engine="onnx")
    assert isinstance(fast, OnnxEncoder) and fast.engine == "onnx" and ref.engine == "torch"
    want = ref.forward(_batch(ref, items)).pooled.numpy()
    got = fast.forward(_batch(fast, items)).pooled.numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= fp16_tolerance(want)
    # the features' identity is the encoder's; the engine is named beside it, never inside it
    assert fast.encoder_fingerprint() == ref.encoder_fingerprint()
    assert fast.fingerprint() != ref.fingerprint()
    assert fast.describe()["engine"] == "onnx"


@pytest.mark.slow
def test_auto_picks_onnx_on_cpu_and_torch_where_onnx_is_not_the_fast_path():
    assert engines.resolve_engine("auto", "cpu", "float32", True) == "onnx"
    assert engines.resolve_engine("auto", "cuda", "float32", True) == "torch"
    assert engines.resolve_engine("auto", "cpu", "float16", True) == "torch"
    assert engines.resolve_engine("auto", "cpu", "float32", False) == "torch"
    assert engines.resolve_engine("torch", "cpu", "float32", True) == "torch"
    with pytest.raises(AlignkitError, match="--device cpu or --engine torch"):
        engines.resolve_engine("onnx", "cuda", "float32", True)
    with pytest.raises(AlignkitError, match="unknown engine 'tensorrt'"):
        engines.engine_option("tensorrt")
    assert isinstance(create_encoder("minilm-l6"), OnnxEncoder)


@pytest.mark.slow
def test_export_is_made_once_and_reused(cache, monkeypatch):
    first = create_encoder("minilm-l6", engine="onnx")
    exports = list((cache / "onnx").iterdir())
    assert len(exports) == 1 and (exports[0] / "model.onnx").is_file()

    def refuse(*a, **k):
        raise AssertionError("exported again")

    with monkeypatch.context() as m:
        m.setattr(torch.onnx, "export", refuse)
        again = create_encoder("minilm-l6", engine="onnx")
        assert np.array_equal(again.encode(TEXTS).pooled.numpy(), first.encode(TEXTS).pooled.numpy())
    assert list((cache / "onnx").iterdir()) == exports
    # another layer is another export, never the last layer's
    create_encoder("minilm-l6?layer=2", engine="onnx")
    assert len(list((cache / "onnx").iterdir())) == 2


@pytest.mark.slow
def test_a_damaged_export_is_rebuilt_not_used(cache, capsys):
    ref = create_encoder("minilm-l6", engine="torch").encode(TEXTS).pooled.numpy()
    create_encoder("minilm-l6", engine="onnx")
    (model,) = (cache / "onnx").glob("*/model.onnx")
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    model.write_bytes(bytes(data))
    capsys.readouterr()
    got = create_encoder("minilm-l6", engine="onnx").encode(TEXTS).pooled.numpy()
    assert "rebuilding the damaged or stale ONNX export" in capsys.readouterr().err
    assert np.abs(got - ref).max() <= fp16_tolerance(ref)
    model.unlink()  # a missing file is rebuilt too
    create_encoder("minilm-l6", engine="onnx")
    assert model.is_file()


@pytest.mark.slow
def test_several_layers_in_one_onnx_pass_match_torch(images):
    ref = create_encoder("efficientnet-lite0", engine="torch")
    fast = create_encoder("efficientnet-lite0", engine="onnx")
    batch = _batch(ref, images)
    want = ref.pooled_layers(batch, [2, None])
    got = fast.pooled_layers(batch, [2, None])
    assert got is not None and len(got) == 2
    for g, w in zip(got, want):
        assert np.abs(g.numpy() - w.numpy()).max() <= fp16_tolerance(w.numpy())


def test_an_encoder_that_does_not_export_falls_back_under_auto_and_says_so_once(monkeypatch, capsys):
    def broken(*a, **k):
        raise RuntimeError("unsupported operator aten::frobnicate")

    monkeypatch.setattr(torch.onnx, "export", broken)
    enc = create_encoder("minilm-l6")  # auto
    assert enc.engine == "torch"
    create_encoder("minilm-l6")
    err = capsys.readouterr().err
    assert err.count("runs on torch") == 1 and "aten::frobnicate" in err
    with pytest.raises(ExportError, match="does not export to ONNX"):
        create_encoder("minilm-l6", engine="onnx")


def test_missing_onnxruntime_is_one_line_naming_the_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(engines, "onnxruntime_available", lambda: False)
    with pytest.raises(NotInstalledError, match=r"pip install 'onnxruntime"):
        create_encoder("minilm-l6", engine="onnx")
    assert create_encoder("minilm-l6").engine == "torch"  # auto: torch, and it says why
    assert "ONNX Runtime is not installed" in capsys.readouterr().err
    texts = tmp_path / "captions.txt"
    texts.write_text("a cat\na dog\n")
    monkeypatch.setattr("sys.argv", ["alignkit", "embed", "--encoder", "minilm-l6", "--texts", str(texts),
                                      "--out", str(tmp_path / "s"), "--engine", "onnx"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main()  # the console entry point: one line, no traceback
    assert stop.value.code == 1  # failed work (a package missing here), not a usage error
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error")]
    assert len(err) == 1 and "pip install 'onnxruntime" in err[0]
    assert not (tmp_path / "s").exists()


def test_a_store_is_never_mixed_from_two_engines(tmp_path):
    items = [(f"t{i}", t) for i, t in enumerate(TEXTS)]
    out = tmp_path / "store"
    fast = create_encoder("minilm-l6", engine="onnx")
    embed_items(fast, items[:2], out, shard_size=2, progress=False)
    store = FeatureStore(out)
    assert store.manifest["encoder"]["engine"] == "onnx"
    with pytest.raises(AlignkitError, match="computed by the onnx engine, not torch.*--engine onnx resumes it"):
        embed_items(create_encoder("minilm-l6", engine="torch"), items, out, shard_size=2, progress=False)
    full = embed_items(fast, items, out, shard_size=2, progress=False)  # the same engine resumes it
    assert len(full) == len(items)


def test_tokens_need_torch():
    with pytest.raises(AlignkitError, match="--engine torch"):
        embed_items(create_encoder("minilm-l6", engine="onnx"), [("a", "a cat")], "unused", tokens=True, progress=False)


def test_with_engine_leaves_torch_encoders_alone():
    enc = create_encoder("minilm-l6", engine="torch")
    assert with_engine(enc, "torch") is enc


def test_onnx_decode_threads_keep_order_skips_and_features(tmp_path, images):
    from alignkit.features.loading import Prepared, threaded_batches

    for i, im in enumerate(images):
        im.save(tmp_path / f"{i}.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    items = [(f"k{i}", str(tmp_path / f"{i}.png")) for i in range(len(images))] * 3
    items = [(f"{k}-{j}", p) for j, (k, p) in enumerate(items)] + [("bad", str(tmp_path / "bad.png"))]
    enc = create_encoder("efficientnet-lite0", engine="onnx")
    batches = list(threaded_batches(Prepared(items, enc), batch_size=4, threads=2))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [i for b in batches for i, _, _ in b] == list(range(len(items)))
    assert batches[-1][-1][1] is None and batches[-1][-1][2]  # the broken file comes back as a reason
    one = embed_items(enc, items, tmp_path / "w0", num_workers=0, batch_size=4, progress=False)
    two = embed_items(enc, items, tmp_path / "w2", num_workers=2, batch_size=4, progress=False)
    (k1, f1), (k2, f2) = one.load(), two.load()
    assert k1 == k2 and len(k1) == len(items) - 1 and np.array_equal(f1, f2)
    assert one.skipped == two.skipped and len(two.skipped) == 1


def test_onnx_encoder_frees_its_torch_weights_and_rebuilds_them_for_torch_only_work():
    """Once the session exists the torch copy is a meta skeleton (one copy of the weights in
    memory); identity is unchanged, and token features (a torch-only path) rebuild real weights."""
    ref = create_encoder("minilm-l6", engine="torch")
    fast = create_encoder("minilm-l6", engine="onnx")
    assert all(p.is_meta for p in fast.inner.model.parameters())
    assert fast.encoder_fingerprint() == ref.encoder_fingerprint() and fast.dim == ref.dim
    assert fast.num_params() == ref.num_params()
    pooled = fast.forward(_batch(fast, TEXTS)).pooled.numpy()  # ONNX needs no torch weights
    want = ref.forward(_batch(ref, TEXTS), tokens=True)
    got = fast.forward(_batch(fast, TEXTS), tokens=True)  # rebuilt from the spec
    assert not any(p.is_meta for p in fast.inner.model.parameters())
    torch.testing.assert_close(got.tokens, want.tokens)
    assert np.abs(pooled - want.pooled.numpy()).max() <= fp16_tolerance(want.pooled.numpy())
