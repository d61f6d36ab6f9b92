"""Zero-shot and retrieval metrics against brute-force definitions on small random data."""

from __future__ import annotations

import numpy as np
import pytest

from alignkit.errors import AlignkitError
from alignkit.evaluate.retrieval import retrieval_chance, retrieval_metrics
from alignkit.evaluate.zeroshot import classification_chance, classification_metrics, zero_shot_classifier


def fake_text_encoder(dim: int = 16):
    """Deterministic per-string random vectors (not normalised, to test the normalisation)."""
    def encode(texts: list[str]) -> np.ndarray:
        return np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=dim) * 3 for t in texts])
    return encode


def test_classifier_averages_normalised_prompt_embeddings():
    enc = fake_text_encoder()
    templates = ["a photo of a {c}.", "a drawing of a {c}.", "{c}"]
    w = zero_shot_classifier(enc, ["cat", "dog"], templates)
    for row, c in zip(w, ["cat", "dog"]):
        e = enc([t.format(c=c) for t in templates])
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        ref = e.mean(0) / np.linalg.norm(e.mean(0))
        np.testing.assert_allclose(row, ref, rtol=1e-5, atol=1e-6)
    per_class = zero_shot_classifier(enc, ["cat", "dog"], {"cat": ["kitty"], "dog": ["puppy", "hound"]})
    np.testing.assert_allclose(per_class[0], enc(["kitty"])[0] / np.linalg.norm(enc(["kitty"])[0]), rtol=1e-5)


def test_classifier_input_errors():
    enc = fake_text_encoder()
    with pytest.raises(AlignkitError, match="placeholder"):
        zero_shot_classifier(enc, ["cat"], ["a photo"])
    with pytest.raises(AlignkitError, match="missing for"):
        zero_shot_classifier(enc, ["cat", "dog"], {"cat": ["kitty"]})
    with pytest.raises(AlignkitError, match="at least one class"):
        zero_shot_classifier(enc, [], ["{c}"])


def test_classification_metrics_match_brute_force():
    rng = np.random.default_rng(1)
    n, c = 300, 12
    logits = rng.normal(size=(n, c))
    labels = rng.integers(0, c, size=n)
    logits[np.arange(n), labels] += rng.normal(1.0, 1.0, size=n)  # better than chance, not perfect
    m = classification_metrics(logits, labels)
    order = np.argsort(-logits, axis=1)
    assert m["top1"] == pytest.approx(np.mean(order[:, 0] == labels))
    assert m["top5"] == pytest.approx(np.mean([labels[i] in order[i, :5] for i in range(n)]))
    recalls = [np.mean(order[labels == k, 0] == k) for k in range(c) if (labels == k).any()]
    assert m["mean_per_class_recall"] == pytest.approx(np.mean(recalls))
    brute = np.zeros((c, c), dtype=int)
    for t, p in zip(labels, order[:, 0]):
        brute[t, p] += 1
    np.testing.assert_array_equal(m["confusion"], brute)
    assert 0.1 < m["top1"] < 0.99


def test_perfect_and_random_classifiers():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, size=20000)
    perfect = classification_metrics(np.eye(10)[labels], labels)
    assert perfect["top1"] == perfect["top5"] == perfect["mean_per_class_recall"] == 1.0
    rand = classification_metrics(rng.normal(size=(20000, 10)), labels)
    chance = classification_chance(10)
    for key in ("top1", "top5", "mean_per_class_recall"):
        assert rand[key] == pytest.approx(chance[key], abs=0.015)
    assert "top5" not in classification_metrics(np.eye(5)[[0, 1]], [0, 1])  # only with C > 5
    assert "top5" not in classification_chance(5)


def test_constant_logits_are_not_rewarded_by_ties():
    labels = np.arange(10).repeat(3)
    m = classification_metrics(np.zeros((30, 10)), labels)
    assert m["top1"] == pytest.approx(0.1)  # argmax picks class 0 for everyone
    assert m["top5"] == pytest.approx(0.5)  # classes 0..4 counted as ahead, never all of them


def brute_force_recall(img, txt, owner, k):
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    sims = img @ txt.T
    i2t = np.mean([np.isin(np.argsort(-sims[i])[:k], np.flatnonzero(owner == i)).any() for i in range(len(img))])
    t2i = np.mean([owner[j] in np.argsort(-sims[:, j])[:k] for j in range(len(txt))])
    return i2t, t2i


def test_retrieval_matches_brute_force_and_chunking_changes_nothing():
    rng = np.random.default_rng(3)
    n = 40
    owner = np.concatenate([np.arange(n), rng.integers(0, n, size=50)])  # 1 to several captions each
    img = rng.normal(size=(n, 8))
    txt = img[owner] + rng.normal(scale=1.5, size=(len(owner), 8))
    full = retrieval_metrics(img, txt, owner, ks=(1, 5, 10), chunk=10_000)
    assert retrieval_metrics(img, txt, owner, ks=(1, 5, 10), chunk=7) == full
    for k in (1, 5, 10):
        i2t, t2i = brute_force_recall(img, txt, owner, k)
        assert full[f"i2t_R@{k}"] == pytest.approx(i2t)
        assert full[f"t2i_R@{k}"] == pytest.approx(t2i)


def test_any_positive_caption_counts():
    img = np.eye(3)
    # image 0 has two captions: the first points elsewhere, the second is exact
    txt = np.array([[0.0, 1.0, 0.1], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    owner = [0, 0, 1, 2]
    m = retrieval_metrics(img, txt, owner, ks=(1,))
    assert m["i2t_R@1"] == 1.0
    assert m["t2i_R@1"] == pytest.approx(3 / 4)  # caption 0 retrieves image 1 first


def test_perfect_random_and_collapsed_retrieval():
    rng = np.random.default_rng(4)
    n = 200
    owner = np.repeat(np.arange(n), 3)
    img = rng.normal(size=(n, 32))
    assert set(retrieval_metrics(img, img[owner], owner).values()) == {1.0}
    collapsed = retrieval_metrics(np.ones((n, 4)), np.ones((3 * n, 4)), owner)
    assert set(collapsed.values()) == {0.0}
    chance = retrieval_chance(owner)
    trials = [retrieval_metrics(rng.normal(size=(n, 32)), rng.normal(size=(3 * n, 32)), owner) for _ in range(20)]
    for key, expected in chance.items():
        assert np.mean([t[key] for t in trials]) == pytest.approx(expected, abs=0.02 + 0.15 * expected)


def test_retrieval_chance_formula():
    # one image with 2 of 4 captions; k=1: 2/4; k=2: 1 - C(2,2)/C(4,2) = 5/6
    ch = retrieval_chance([0, 0, 1, 1], ks=(1, 2))
    assert ch["i2t_R@1"] == pytest.approx(0.5)
    assert ch["i2t_R@2"] == pytest.approx(5 / 6)
    assert ch["t2i_R@1"] == pytest.approx(0.5) and ch["t2i_R@2"] == 1.0


def test_retrieval_input_errors():
    with pytest.raises(AlignkitError, match="at least one caption"):
        retrieval_metrics(np.eye(3), np.eye(3)[:2], [0, 1])
    with pytest.raises(ValueError, match="one space"):
        retrieval_metrics(np.eye(2), np.ones((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(np.full((2, 2), np.nan), np.eye(2), [0, 1])


# ---- identical caption strings are one caption ------------------------------------------------


def recall_by_definition(img, txt, owner, captions, k):
    """R@k straight from the definition: caption j is a positive of image i when i has a caption
    with j's string; a query is found at k when a positive is among the k best, every item scoring
    at least as well as the best positive ranking ahead of it (ties never favour the query)."""
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    txt = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    sims = img @ txt.T
    has = np.array([[captions[j] in {captions[x] for x in np.flatnonzero(owner == i)} for j in range(len(txt))] for i in range(len(img))])

    def found(scores, positive):
        return int(((scores >= scores[positive].max()) & ~positive).sum()) < k

    i2t = np.mean([found(sims[i], has[i]) for i in range(len(img))])
    t2i = np.mean([found(sims[:, j], has[:, j]) for j in range(len(txt))])
    return i2t, t2i


def test_a_perfect_model_scores_one_when_two_images_share_a_caption_string():
    """4 images, two of them captioned with the same string; a perfect model embeds each caption
    on its images' direction (the shared string on both of its images' directions): R@1 is 1 both ways."""
    img = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0.2], [0, 0, 1.0, -0.2]])
    captions = ["a cat", "a dog", "a bird", "a bird"]
    owner = np.arange(4)
    bird = np.array([0, 0, 1.0, 0])
    txt = np.array([img[0], img[1], bird, bird])  # identical strings get identical embeddings
    m = retrieval_metrics(img, txt, owner, ks=(1,), captions=captions)
    assert m["i2t_R@1"] == 1.0 and m["t2i_R@1"] == 1.0
    assert recall_by_definition(img, txt, owner, captions, 1) == (1.0, 1.0)
    # without the strings each row is its own caption: the twin counts against the query
    assert retrieval_metrics(img, txt, owner, ks=(1,))["i2t_R@1"] == 0.5


def test_repeated_captions_match_the_definition_and_never_favour_ties():
    rng = np.random.default_rng(5)
    n = 30
    owner = np.concatenate([np.arange(n), rng.integers(0, n, size=20)])
    names = [f"item {i % 7}" for i in range(len(owner))]  # a third of the strings repeat across images
    img = rng.normal(size=(n, 6))
    txt = img[owner] + rng.normal(scale=1.0, size=(len(owner), 6))
    first = {}
    txt = np.stack([first.setdefault(c, t) for c, t in zip(names, txt)])  # one string, one embedding
    for k in (1, 5):
        m = retrieval_metrics(img, txt, owner, ks=(k,), captions=names, chunk=7)
        assert (m[f"i2t_R@{k}"], m[f"t2i_R@{k}"]) == pytest.approx(recall_by_definition(img, txt, owner, names, k))
    collapsed = retrieval_metrics(np.ones((n, 4)), np.ones((len(owner), 4)), owner, captions=names)
    assert set(collapsed.values()) == {0.0}


def test_retrieval_chance_with_repeated_captions_is_the_random_ranking_mean():
    owner, captions = [0, 1, 2, 3], ["x", "y", "z", "z"]
    ch = retrieval_chance(owner, ks=(1,), captions=captions)
    # images 0, 1: 1 positive of 4 captions; images 2, 3: 2 of 4. Captions x, y: 1 of 4 images; z: 2 of 4
    assert ch["i2t_R@1"] == pytest.approx((0.25 + 0.25 + 0.5 + 0.5) / 4)
    assert ch["t2i_R@1"] == pytest.approx((0.25 + 0.25 + 0.5 + 0.5) / 4)
