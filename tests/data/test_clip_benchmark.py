"""`cb:NAME?root=DIR` tasks: CLIP_benchmark's own builder reads a tiny MNIST laid out the way
torchvision's reader expects it (``<root>/MNIST/raw/t10k-*-ubyte`` in the IDX format)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from click.testing import CliRunner

from alignkit.cli import cli
from alignkit.data.tasks import ClassificationTask, open_task
from alignkit.errors import AlignkitError
from tests.helpers.color_models import color_model

pytest.importorskip("clip_benchmark.datasets.builder", reason="clip-benchmark not installed (pip install -e '.[test]')")


@pytest.fixture()
def mnist_root(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], dtype=np.uint8)
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n in (("t10k", 12), ("train", 2)):  # the reader wants both splits present
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images[:n].tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels[:n].tobytes())
    return tmp_path / "mnist", images, labels


def test_cb_task_reads_what_clip_benchmark_reads(mnist_root):
    root, images, labels = mnist_root
    task = open_task(f"cb:mnist?root={root}")
    assert isinstance(task, ClassificationTask)
    assert task.classnames == [str(d) for d in range(10)]
    assert task.templates == ['a photo of the number: "{c}".']  # CLIP_benchmark's own template for mnist
    assert [it.label for it in task.items] == labels.tolist()
    assert all(np.array_equal(np.asarray(it.image), img) for it, img in zip(task.items, images))
    assert len(open_task(f"cb:mnist?root={root}&n=5").items) == 5


def test_cb_task_evaluates(mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    model = color_model().save_pretrained(tmp_path / "m")
    res = CliRunner().invoke(cli, ["eval", str(model), "--task", f"cb:mnist?root={mnist_root[0]}", "--format", "json", "--quiet"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert {r["metric"] for r in rows} == {"top1", "top5", "mean_per_class_recall"} and {r["n"] for r in rows} == {12}


def test_cb_refusals(mnist_root, tmp_path):
    root = mnist_root[0]
    with pytest.raises(AlignkitError, match="needs \\?root=DIR"):
        open_task("cb:mnist")
    with pytest.raises(AlignkitError, match="never downloads"):
        open_task(f"cb:mnist?root={tmp_path / 'absent'}")
    with pytest.raises(AlignkitError, match="pickles"):
        open_task(f"cb:cifar10?root={root}")
    with pytest.raises(AlignkitError, match="could not read"):
        open_task(f"cb:mnist?root={tmp_path}")  # a folder without the files
    with pytest.raises(AlignkitError, match="unknown option"):
        open_task(f"cb:mnist?root={root}&colour=red")
    with pytest.raises(AlignkitError, match="classification sets"):
        open_task(f"cb:flickr30k?root={root}")
