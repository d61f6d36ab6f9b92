"""DDP: two CPU processes (gloo) on halves of each global batch reach the same weights as
one process on the whole batch, because the loss gathers features with their gradients."""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tests.helpers.synthetic import latent_pairs
from safetensors.torch import load_file

from alignkit.align import AlignConfig

from alignkit.align.training.loop import train_pairs
from alignkit.features.pairs import CachedPairs

LOSSES = ("infonce", "siglip")


def recipe(loss: str) -> AlignConfig:
    # dropout 0: dropout masks are drawn per rank, so they cannot match one process's masks
    head = {"kind": "mlp", "dropout": 0.0}
    return AlignConfig.from_dict(
        {"image_head": head, "text_head": head, "embed_dim": 16, "epochs": 3, "batch_size": 64, "lr": 3e-3,
         "val_fraction": 0.2, "loss": loss, "init_temperature": 0.1, "patience": 0, "refit": False, "device": "cpu"}
    )


def data() -> CachedPairs:
    d = latent_pairs(200, noise=0.5)
    return CachedPairs(d["keys"], d["image"], d["text_keys"], d["text"])


def _worker(rank: int, world: int, root: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{root}/pg", rank=rank, world_size=world)
    try:
        for loss in LOSSES:
            train_pairs(recipe(loss), data(), f"{root}/ddp-{loss}", progress=False)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for loss in LOSSES:
        train_pairs(recipe(loss), data(), tmp_path / f"single-{loss}", progress=False)
        a = load_file(str(tmp_path / f"single-{loss}/checkpoints/last/weights.safetensors"))
        b = load_file(str(tmp_path / f"ddp-{loss}/checkpoints/last/weights.safetensors"))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.allclose(a[k], b[k], atol=2e-5, rtol=1e-4), (loss, k, float((a[k] - b[k]).abs().max()))
        log_a = [json.loads(x) for x in (tmp_path / f"single-{loss}/metrics.jsonl").read_text().splitlines()]
        log_b = [json.loads(x) for x in (tmp_path / f"ddp-{loss}/metrics.jsonl").read_text().splitlines()]
        for ra, rb in zip(log_a, log_b, strict=True):
            assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)
            assert ra["val_i2t_r1"] == pytest.approx(rb["val_i2t_r1"], abs=0.011)
        # it really trained: 2 global batches of 64 per epoch, and the loss fell
        assert log_a[-1]["step"] == 3 * (160 // 64)
        assert log_a[-1]["train_loss"] < log_a[0]["train_loss"]
