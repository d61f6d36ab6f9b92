"""Parity with CLIP_benchmark: its own zero-shot classifier, classification loop and retrieval
evaluation, run on ``as_open_clip(model)``, give the numbers `alignkit eval` prints, for a
hand-set model and for one trained with the default recipe (caption memory on).

The tasks are colour blends, so the numbers are neither 0 nor 1: a blend is captioned (or
filed) by its colour counts, and the colour-reading model gets some of them wrong. Top-1 and
recall are counted here from CLIP_benchmark's logits and metrics: its ``accuracy()`` helper
calls ``float()`` on a 1-element array, which numpy 2 refuses.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alignkit.align.model.aligned_model import AlignedModel
from alignkit.align.model.open_clip import as_open_clip
from alignkit.cli import cli
from alignkit.data.images import decode_image
from alignkit.data.tasks import open_task
from tests.helpers.color_models import COLORS, color_model, color_pairs

cb_cls = pytest.importorskip(
    "clip_benchmark.metrics.zeroshot_classification", reason="clip-benchmark not installed (pip install -e '.[test]')"
)
cb_ret = pytest.importorskip("clip_benchmark.metrics.zeroshot_retrieval", reason="clip-benchmark not installed")

RGB = np.array(list(COLORS.values()), dtype=np.float64)
NAMES = list(COLORS)
# colour counts with pairwise different ratios, so no two blends (or captions) coincide
COUNTS = [c for c in itertools.product(range(5), repeat=3) if sum(c) == 4] + [(1, 1, 1)]


def leaned(counts: tuple[int, ...]) -> tuple[float, ...]:
    """A blend with two equal largest colours sits exactly on a class boundary, where float
    rounding (which differs between BLAS builds) would pick the prediction. Lean it a quarter
    count towards the first of them, so the model reads that one; it is filed under the last."""
    top = [i for i, n in enumerate(counts) if n == max(counts)]
    return tuple(n + 0.25 * (len(top) > 1 and i == top[0]) for i, n in enumerate(counts))


def blend(counts: tuple[float, ...]) -> Image.Image:
    w = np.asarray(counts, dtype=np.float64) / sum(counts)
    return Image.new("RGB", (12, 12), tuple(int(v) for v in (w @ RGB).round()))


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def color_dir(tmp_path_factory):
    return color_model().save_pretrained(tmp_path_factory.mktemp("model") / "colors")


@pytest.fixture(scope="module")
def default_recipe_dir(tmp_path_factory):
    """`alignkit align` with the default recipe (identity + MLP heads, caption memory 0.3) on colour shades."""
    root = tmp_path_factory.mktemp("train")
    out = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALIGNKIT_CACHE", str(root / "cache"))
        res = CliRunner().invoke(cli, ["align", "--vision", "pixels", "--text", "hashed-ngrams", "--out", str(out),
                                       "--data", f"folder:{color_pairs(root / 'pairs', per_class=8)}", "--quiet", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["memory"]["weight"] == 0.3  # the memory is on
    return out


@pytest.fixture(params=["hand-set", "default-recipe"])
def model_dir(request):
    return request.getfixturevalue("color_dir" if request.param == "hand-set" else "default_recipe_dir")


def _alignkit_eval(model_dir, spec: str) -> dict[str, float]:
    res = CliRunner().invoke(cli, ["eval", str(model_dir), "--task", spec, "--format", "json", "--quiet", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return {row["metric"]: row["value"] for row in map(json.loads, res.stdout.splitlines())}


def test_zero_shot_classification_matches_clip_benchmark(model_dir, tmp_path):
    root = tmp_path / "blends"
    for counts in COUNTS:  # filed under the colour with the largest count, ties to the last one
        label = NAMES[max(range(3), key=lambda i: (counts[i], i))]
        (root / label).mkdir(parents=True, exist_ok=True)
        blend(leaned(counts)).save(root / label / f"{''.join(map(str, counts))}.png")
    spec = f"folder-task:{root}"
    ours = _alignkit_eval(model_dir, spec)

    task = open_task(spec)
    model, transform, tokenizer = as_open_clip(AlignedModel.from_pretrained(model_dir, device="cpu"))
    data = [(transform(decode_image(it.image)), it.label) for it in task.items]
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    classifier = cb_cls.zero_shot_classifier(model, tokenizer, task.classnames, task.templates, "cpu", amp=False)
    logits, target = cb_cls.run_classification(model, classifier, loader, "cpu", amp=False)
    hits = (logits.argmax(1) == target).numpy()
    per_class = [hits[target.numpy() == c].mean() for c in range(len(task.classnames))]

    assert 0.2 < hits.mean() < 0.95 or model_dir.name == "run"  # a task where the two could disagree
    assert ours["top1"] == pytest.approx(hits.mean(), abs=1e-12)
    assert ours["mean_per_class_recall"] == pytest.approx(float(np.mean(per_class)), abs=1e-12)


def test_retrieval_matches_clip_benchmark(model_dir, tmp_path):
    root = tmp_path / "pairs"
    root.mkdir()
    lines = []
    for counts in COUNTS:
        name = f"{''.join(map(str, counts))}.png"
        blend(counts).save(root / name)
        words = [w for w, n in zip(NAMES, counts) for _ in range(n)]
        lines.append(json.dumps({"image": name, "captions": [" ".join(words), " and ".join(reversed(words))]}))
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")
    spec = f"retrieval:folder:{root}"
    ours = _alignkit_eval(model_dir, spec)

    task = open_task(spec)
    model, transform, tokenizer = as_open_clip(AlignedModel.from_pretrained(model_dir, device="cpu"))
    data = [(transform(decode_image(p.image)), list(p.captions)) for p in task.pairs]
    loader = torch.utils.data.DataLoader(data, batch_size=4, collate_fn=lambda b: (torch.stack([x for x, _ in b]), [c for _, c in b]))
    theirs = cb_ret.evaluate(model, loader, tokenizer, "cpu", amp=False, recall_k_list=[1, 5])

    assert 0.05 < theirs["image_retrieval_recall@1"] < 0.95 or model_dir.name == "run"  # not a trivial task
    for k in (1, 5):  # CLIP_benchmark's image retrieval is alignkit's t2i, its text retrieval i2t
        assert ours[f"t2i_R@{k}"] == pytest.approx(theirs[f"image_retrieval_recall@{k}"], abs=1e-6)
        assert ours[f"i2t_R@{k}"] == pytest.approx(theirs[f"text_retrieval_recall@{k}"], abs=1e-6)


def test_the_adapter_includes_the_caption_memory(default_recipe_dir):
    """CLIP_benchmark calls ``encode_image(images)`` and normalises itself: that must be the memory-mixed
    embedding ``encode_image`` gives, not the heads alone."""
    aligned = AlignedModel.from_pretrained(default_recipe_dir, device="cpu")
    model, transform, _ = as_open_clip(aligned)
    images = [blend(c) for c in COUNTS]
    theirs = torch.nn.functional.normalize(model.encode_image(torch.stack([transform(im) for im in images])), dim=-1)
    ours = aligned.encode_image(images)
    assert torch.allclose(theirs, ours, atol=1e-5)
    memory, aligned.memory = aligned.memory, None
    heads_only = aligned.encode_image(images)
    aligned.memory = memory
    assert not torch.allclose(heads_only, ours, atol=1e-3)  # the memory changes the embedding here


def test_the_documented_clip_benchmark_call_works(color_dir, tmp_path):
    """docs/evaluation.md's CLIP_benchmark snippet runs as written (numpy 2 included) and gives alignkit's top-1."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "evaluation.md").read_text(encoding="utf-8")
    code = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "zero_shot_classifier" in b)
    root = tmp_path / "blends"
    for counts in COUNTS:
        label = NAMES[max(range(3), key=lambda i: (counts[i], i))]
        (root / label).mkdir(parents=True, exist_ok=True)
        blend(leaned(counts)).save(root / label / f"{''.join(map(str, counts))}.png")
    assert '"runs/m"' in code and '"folder-task:/data/colours"' in code
    scope: dict = {}
    exec(code.replace('"runs/m"', repr(str(color_dir))).replace('"folder-task:/data/colours"', repr(f"folder-task:{root}")), scope)
    assert scope["top1"] == pytest.approx(_alignkit_eval(color_dir, f"folder-task:{root}")["top1"], abs=1e-12)
