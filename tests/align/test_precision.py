"""GPU-ready training, checked on CPU: precision policies (fp16 with a grad scaler), the loss in
float32 under autocast, no host sync per step, and ranks that wait for rank 0's embedding
without tripping the training group's timeout."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tests.helpers.synthetic import PLAIN_HEADS, latent_pairs
from safetensors.torch import load_file
from tests.helpers.align_data import killed_at_call

from alignkit.align import AlignConfig

from alignkit.align.training.loop import train_pairs
from alignkit.features.pairs import CachedPairs
from alignkit.align.training import distributed as D
from alignkit.align.training.precision import resolve_precision
from alignkit.errors import AlignkitError


def recipe(**kw) -> AlignConfig:
    base = {**PLAIN_HEADS, "embed_dim": 16, "epochs": 3, "batch_size": 64, "lr": 3e-3, "val_fraction": 0.2, "refit": False, "device": "cpu"}
    return AlignConfig.from_dict({**base, **kw})


def data(n: int = 300) -> CachedPairs:
    d = latent_pairs(n, noise=0.5)
    return CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"])


def test_auto_is_fp32_on_cpu_and_bf16_is_refused_where_the_gpu_lacks_it(monkeypatch):
    assert resolve_precision("auto", torch.device("cpu")).name == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla V100")
    assert resolve_precision("auto", torch.device("cuda")).name == "fp32"
    with pytest.raises(AlignkitError, match="V100 has no bf16.*fp16"):
        resolve_precision("bf16", torch.device("cuda"))
    assert resolve_precision("fp16", torch.device("cpu")).scaler is not None


def test_fp16_with_a_grad_scaler_learns_and_resumes_exactly(tmp_path):
    cfg = recipe(precision="fp16", epochs=4)
    train_pairs(cfg, data(), tmp_path / "full", progress=False)
    state = json.loads((tmp_path / "full/checkpoints/last/state.json").read_text())
    assert state["grad_scaler"]["scale"] > 0  # the scaler's state is checkpointed
    rec = [json.loads(x) for x in (tmp_path / "full/metrics.jsonl").read_text().splitlines()]
    assert rec[-1]["train_loss"] < rec[0]["train_loss"] and rec[-1]["val_i2t_r1"] > 5 * rec[-1]["val_chance_r1"]
    cut = data()
    with killed_at_call(cut, 10):  # 3 steps an epoch plus validation batches: dies in epoch 3
        train_pairs(cfg, cut, tmp_path / "cut", progress=False)
    train_pairs(cfg, data(), tmp_path / "cut", resume=True, progress=False)
    a = load_file(str(tmp_path / "full/checkpoints/last/weights.safetensors"))
    b = load_file(str(tmp_path / "cut/checkpoints/last/weights.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("loss", ["siglip", "infonce"])
def test_the_loss_is_float32_under_bf16_autocast(loss):
    from alignkit.align.training.losses import build_loss
    from alignkit.align.model.aligned_model import AlignedModel
    from alignkit.align.training.loop import _Trainable

    torch.manual_seed(0)
    cfg = recipe(loss=loss)
    side = {"spec": "x", "fingerprint": None, "token_dim": None}
    model = AlignedModel.create({**side, "dim": 48}, {**side, "dim": 24}, cfg.image_head, cfg.text_head, 16)
    trainable = _Trainable(model, build_loss(loss, 0.1, True, 100.0, -10.0), cfg).eval()
    d = latent_pairs(1024)
    image = type("B", (), {"pooled": torch.from_numpy(d["image"]), "tokens": None, "mask": None})()
    text = type("B", (), {"pooled": torch.from_numpy(d["text"][::2].copy()), "tokens": None, "mask": None})()
    ids = torch.arange(1024)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        value = trainable(image, text, ids)
        zi = model.encode_image_features(image.pooled, None, None)
        zt = model.encode_text_features(text.pooled, None, None)
    reference = trainable.loss.double()(zi.double(), zt.double(), ids)  # the same embeddings, float64 loss
    assert value.dtype == torch.float32
    assert float(value) == pytest.approx(float(reference), rel=1e-5)


def test_no_host_sync_per_step(tmp_path, monkeypatch):
    reads = {"n": 0}
    for name in ("__float__", "item"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original):
            reads["n"] += 1
            return _original(self, *a)

        monkeypatch.setattr(torch.Tensor, name, counted)
    cfg = recipe(epochs=1, val_fraction=0.0, batch_size=16, log_every=1000)
    train_pairs(cfg, data(400), tmp_path, progress=False)  # 25 steps
    assert reads["n"] < 10  # a few reads per epoch (loss, temperature, logit scale), none per step


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _waiting_rank(rank: int, world: int, port: int, root: str, plain: bool) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    D.init_from_env(timeout=timedelta(seconds=2))  # the training group gives up after 2 s
    work = lambda: time.sleep(6)  # noqa: E731  (rank 0 "embeds" for 6 s)
    try:
        if plain:
            if rank == 0:
                work()
            dist.barrier()
        else:
            D.rank0_first(work)
        t = torch.ones(1)
        dist.all_reduce(t)  # the training group still works afterwards
        outcome = f"ok {int(t.item())}"
    except Exception as e:  # the plain barrier's timeout
        outcome = type(e).__name__
    with open(f"{root}/rank{rank}-{'plain' if plain else 'wait'}", "w") as f:
        f.write(outcome)
    os._exit(0)  # a timed-out gloo group cannot be torn down cleanly


@pytest.mark.slow
@pytest.mark.parametrize("plain", [False, True])
def test_ranks_wait_for_rank0_past_the_training_timeout(tmp_path, plain):
    mp.start_processes(_waiting_rank, args=(2, _free_port(), str(tmp_path), plain), nprocs=2, join=True, start_method="spawn")
    outcome = (tmp_path / f"rank1-{'plain' if plain else 'wait'}").read_text()
    if plain:  # the control: a plain barrier dies at the training group's timeout
        assert not outcome.startswith("ok")
    else:
        assert outcome == "ok 2"


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_every_precision_trains_on_the_gpu(tmp_path, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    train_pairs(recipe(device="cuda", precision=precision, epochs=6), data(), tmp_path, progress=False)
    rec = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in rec)
    assert rec[-1]["train_loss"] < rec[0]["train_loss"] and rec[-1]["val_i2t_r1"] > 5 * rec[-1]["val_chance_r1"]
