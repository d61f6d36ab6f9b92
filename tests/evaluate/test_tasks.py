"""evaluate_task on real task objects: perfect models score 1, random ones chance, bad images are
skipped and counted, any caption counts, and baselines run through the same code."""

from __future__ import annotations

import colorsys
import io

import numpy as np
import pytest
from PIL import Image

from alignkit.data.base import Pair
from alignkit.data.tasks import ClassificationTask, LabeledItem, RetrievalTask
from alignkit.encoders import create_encoder
from alignkit.evaluate import BaselineModel, evaluate_task, make_baseline, paired_rows

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def square(rgb, size: int = 12) -> Image.Image:
    return Image.new("RGB", (size, size), rgb)


class ColorModel:
    """Perfect on colour tasks: an image is its mean colour, a prompt the colour it names."""

    def encode_image(self, images):
        return np.stack([np.asarray(im, dtype=float).mean((0, 1)) / 255 - 0.45 for im in images])

    def encode_text(self, texts):
        return np.stack([np.array([name in t for name in COLORS], dtype=float) + 1e-3 for t in texts])


class RandomModel:
    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def encode_image(self, images):
        return self.rng.normal(size=(len(images), 16))

    def encode_text(self, texts):
        return self.rng.normal(size=(len(texts), 16))


def color_task(n_per_class: int = 4, broken: int = 0) -> ClassificationTask:
    items = [LabeledItem(f"{c}-{i}", square(rgb), label) for label, (c, rgb) in enumerate(COLORS.items()) for i in range(n_per_class)]
    items += [LabeledItem(f"broken-{i}", b"definitely not an image", 0) for i in range(broken)]
    return ClassificationTask("colors", list(COLORS), ["a photo of a {c} square.", "{c}"], items)


def test_perfect_model_scores_one_and_rows_are_tidy():
    rows = evaluate_task(ColorModel(), color_task(), model_name="oracle").rows
    assert [r["metric"] for r in rows] == ["top1", "mean_per_class_recall"]  # no top-5 with 3 classes
    for r in rows:
        assert r == {"task": "colors", "metric": r["metric"], "value": 1.0, "chance": pytest.approx(1 / 3), "n": 12, "model": "oracle"}


def test_random_model_scores_about_chance():
    rng = np.random.default_rng(1)
    names = [f"class{i}" for i in range(10)]
    items = [LabeledItem(f"k{i}", square(tuple(int(v) for v in rng.integers(0, 255, 3))), int(rng.integers(0, 10))) for i in range(2000)]
    task = ClassificationTask("ten", names, ["{c}"], items)
    result = {r["metric"]: r for r in evaluate_task(RandomModel(), task).rows}
    assert set(result) == {"top1", "top5", "mean_per_class_recall"}
    for r in result.values():
        assert r["value"] == pytest.approx(r["chance"], abs=0.04)


def test_undecodable_images_are_skipped_and_counted():
    result = evaluate_task(ColorModel(), color_task(broken=2), batch_size=5)
    assert result.rows[0]["n"] == 12 and result.rows[0]["value"] == 1.0
    assert [s.key for s in result.skipped] == ["broken-0", "broken-1"]
    assert "not a recognised image" in result.skipped[0].reason
    np.testing.assert_array_equal(result.confusion, np.diag([4, 4, 4]))
    assert result.classnames == list(COLORS)


class HueModel:
    """Images: the hue of the square; captions 'hue N' point at N degrees, others at nothing."""

    def encode_image(self, images):
        out = []
        for im in images:
            r, g, b = (np.asarray(im, dtype=float).mean((0, 1)) / 255).tolist()
            h = colorsys.rgb_to_hsv(r, g, b)[0] * 2 * np.pi
            out.append([np.cos(h), np.sin(h), 0.0])
        return np.array(out)

    def encode_text(self, texts):
        out = []
        for t in texts:
            if t.startswith("hue "):
                h = np.deg2rad(float(t.split()[1]))
                out.append([np.cos(h), np.sin(h), 0.0])
            else:
                out.append([0.0, 0.0, 1.0])
        return np.array(out)


def test_retrieval_any_caption_counts_end_to_end():
    pairs = []
    for i, deg in enumerate(range(0, 360, 30)):
        r, g, b = colorsys.hsv_to_rgb(deg / 360, 1.0, 1.0)
        buf = io.BytesIO()
        square((int(r * 255), int(g * 255), int(b * 255))).save(buf, format="PNG")
        pairs.append(Pair(f"p{i}", buf.getvalue(), [f"an unrelated caption {i}", f"hue {deg}"]))
    rows = {r["metric"]: r for r in evaluate_task(HueModel(), RetrievalTask("hues", pairs)).rows}
    assert rows["i2t_R@1"]["value"] == 1.0 and rows["i2t_R@1"]["n"] == 12
    assert rows["t2i_R@1"]["value"] == 0.5 and rows["t2i_R@1"]["n"] == 24  # unrelated captions fail
    assert rows["t2i_R@1"]["chance"] == pytest.approx(1 / 12)
    shared = [Pair(p.key, p.image, ["an unrelated caption", p.captions[1]]) for p in pairs]
    rows = {r["metric"]: r for r in evaluate_task(HueModel(), RetrievalTask("hues", shared)).rows}
    assert rows["t2i_R@1"]["value"] == 1.0  # one string on every image: a positive of each, found by any
    assert rows["t2i_R@1"]["chance"] == pytest.approx((1 + 1 / 12) / 2)  # that string is found by chance too


def test_baseline_with_real_control_encoders_through_the_same_code():
    pixels, ngrams = create_encoder("pixels"), create_encoder("hashed-ngrams")
    rng = np.random.default_rng(2)
    train_images, captions, owner = [], [], []
    for i in range(60):  # noisy squares of each colour, two captions each
        name = list(COLORS)[i % 3]
        rgb = np.clip(np.array(COLORS[name]) + rng.normal(0, 25, 3), 0, 255).astype(int)
        train_images.append(square(tuple(rgb.tolist())))
        captions += [name, f"a {name} thing"]
        owner += [i, i]
    x, y = paired_rows(pixels.encode(train_images).pooled, ngrams.encode(captions).pooled, owner)
    model = BaselineModel(make_baseline("ridge").fit(x, y), pixels, ngrams)
    rows = {r["metric"]: r["value"] for r in evaluate_task(model, color_task(), "ridge").rows}
    assert rows["top1"] == 1.0
    shuffled = make_baseline("ridge").fit(x, y[rng.permutation(len(y))])
    worse = {r["metric"]: r["value"] for r in evaluate_task(BaselineModel(shuffled, pixels, ngrams), color_task(), "ridge").rows}
    assert worse["top1"] < 1.0  # the pairing, not the encoders alone, made it work


def test_compare_models_puts_models_side_by_side_with_chance():
    from alignkit.evaluate import compare_models

    rows = evaluate_task(ColorModel(), color_task(), "oracle").rows + evaluate_task(RandomModel(), color_task(), "random").rows
    table = compare_models(rows)
    assert table.columns == ["task", "metric", "chance", "oracle", "random"]
    assert table["metric"].to_list() == ["top1", "mean_per_class_recall"]
    assert table["oracle"].to_list() == [1.0, 1.0]
    assert table["random"].to_list() == [r["value"] for r in rows[2:]]
