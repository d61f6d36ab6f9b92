"""Curation: selection functions against brute force, the leakage check on a pool seeded with
copies of evaluation images, and `alignkit curate` -> `--data subset:` end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from alignkit.curation.select import TopKPerConcept, balanced_pick, leak_mask, near_duplicates

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}


def test_topk_streamed_equals_brute_force():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(500, 7)).astype(np.float32)
    top = TopKPerConcept(7, k=5, min_score=0.2)
    for start in range(0, 500, 64):  # streamed in uneven shards
        top.update(scores[start : start + 64], np.arange(start, min(start + 64, 500)))
    best, val = scores.argmax(1), scores.max(1)
    for c, (rows, s) in enumerate(top.candidates()):
        mine = np.flatnonzero((best == c) & (val >= 0.2))
        expect = mine[np.argsort(-val[mine])][:5]
        assert rows.tolist() == expect.tolist()
        np.testing.assert_allclose(s, val[expect])


def test_near_duplicates_matches_greedy_definition():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(40, 8))
    feats = np.concatenate([base, base[:15] + 1e-3 * rng.normal(size=(15, 8))])
    order = rng.permutation(len(feats))
    dup = near_duplicates(feats, order, 0.99, chunk=7)
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    kept, expect = [], []
    for i in order:
        is_dup = any(unit[i] @ unit[j] >= 0.99 for j in kept)
        expect.append(is_dup)
        if not is_dup:
            kept.append(i)
    assert dup.tolist() == expect and sum(expect) == 15


def test_leak_mask_and_balanced_pick():
    ev = np.eye(4, 6)
    pool = np.concatenate([np.eye(4, 6)[[2]], np.ones((1, 6)), -np.eye(4, 6)[[0]]])
    flags, best = leak_mask(pool, ev, 0.95)
    assert flags.tolist() == [True, False, False] and best[0] == pytest.approx(1.0)
    per = [(np.array([1, 2, 3]), np.array([0.9, 0.8, 0.7])), (np.array([4]), np.array([0.95])), (np.array([]), np.array([]))]
    assert [r for r, _, _ in balanced_pick(per, None)] == [4, 1, 2, 3]  # every concept's best first
    assert [r for r, _, _ in balanced_pick(per, 2)] == [4, 1]


def make_pool(root: Path) -> None:
    """A pool of coloured squares with captions naming the colour and an object, plus noise pairs."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    records = []
    for name, rgb in COLOURS.items():
        for j in range(6):
            arr = (0.25 * np.array(rgb) + 0.75 * rng.integers(0, 255, size=(24, 24, 3))).astype(np.uint8)  # distinct textures
            f = f"{name}{j}.png"
            Image.fromarray(arr).save(root / f)
            records.append({"image": f, "caption": f"a {name} {['box', 'card', 'tile'][j % 3]}"})
    (root / "green_copy.png").write_bytes((root / "green1.png").read_bytes())  # a near-duplicate pair
    records.append({"image": "green_copy.png", "caption": "a green card"})
    for j in range(5):  # captions that name no concept
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / f"noise{j}.png")
        records.append({"image": f"noise{j}.png", "caption": "stock market report for tuesday"})
    (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in records))


def make_eval_task(root: Path, pool: Path) -> None:
    """An evaluation task whose 'red' class holds exact copies of two pool images (the leak)."""
    for name in ("red", "blue"):
        (root / name).mkdir(parents=True)
    for j in (0, 1):
        (root / "red" / f"copy{j}.png").write_bytes((pool / f"red{j}.png").read_bytes())
    Image.new("RGB", (24, 24), (0, 0, 120)).save(root / "blue" / "b.png")


@pytest.mark.slow
def test_curate_cli_end_to_end_with_leak_check(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    from alignkit.cli import cli
    from alignkit.data import open_source

    pool = tmp_path / "pool"
    make_pool(pool)
    make_eval_task(tmp_path / "evaltask", pool)
    (tmp_path / "concepts.txt").write_text("red\ngreen\nblue\nyellow\npurple\n")
    out = tmp_path / "cur"
    args = ["curate", "--pool", f"folder:{pool}", "--vision", "pixels", "--text", "hashed-ngrams",
            "--concepts-file", str(tmp_path / "concepts.txt"), "--leak-check", f"folder-task:{tmp_path / 'evaltask'}",
            "--per-concept", "3", "--min-score", "0.05", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    subset = json.loads((out / "subset.json").read_text())
    assert subset["counts"]["leaks_found"] == 2 and subset["counts"]["leaks_removed"] == 2
    assert subset["counts"]["duplicates_removed"] == 1
    keys = subset["keys"]
    assert "red0.png" not in keys and "red1.png" not in keys  # copies of evaluation images left out
    by_concept = {}
    for s in subset["selection"]:
        by_concept.setdefault(s["concept"], []).append(s["key"])
    assert set(by_concept) == {"red", "green", "blue", "yellow"}  # purple: no pair, reported empty
    assert all(len(v) == 3 for v in by_concept.values())
    for concept, ks in by_concept.items():
        assert all(k.startswith(concept) for k in ks), (concept, ks)  # captions matched their concept
    assert not {"green1.png", "green_copy.png"} <= set(keys)  # one of the duplicate pair at most
    assert subset["counts"]["concepts_empty"] == 1 and not any(k.startswith("noise") for k in keys)
    page = (out / "index.html").read_text()
    assert "purple" in page and "near-copies of evaluation images" in page
    # the subset is a data source the trainer accepts, with the pool's own captions
    pairs = list(open_source(f"subset:{out / 'subset.json'}"))
    assert sorted(p.key for p in pairs) == sorted(keys)
    assert all(p.captions[0].split()[1] == re.match("[a-z]+", p.key).group() for p in pairs)
    # a rerun reuses the cached features and the scoring state, and chooses the same subset
    res2 = CliRunner().invoke(cli, args)
    assert res2.exit_code == 0 and json.loads((out / "subset.json").read_text())["keys"] == keys


@pytest.mark.slow
def test_keep_leaks_and_budget(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    from alignkit.cli import cli

    pool = tmp_path / "pool"
    make_pool(pool)
    make_eval_task(tmp_path / "evaltask", pool)
    (tmp_path / "concepts.txt").write_text("red\ngreen\nblue\nyellow\n")
    out = tmp_path / "cur"
    res = CliRunner().invoke(cli, ["curate", "--pool", str(pool), "--vision", "pixels", "--text", "hashed-ngrams",
                                   "--concepts-file", str(tmp_path / "concepts.txt"), "--leak-check",
                                   f"folder-task:{tmp_path / 'evaltask'}", "--keep-leaks", "--budget", "6",
                                   "--per-concept", "6", "--min-score", "0.05", "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    subset = json.loads((out / "subset.json").read_text())
    assert len(subset["keys"]) == 6 and subset["counts"]["leaks_found"] == 2 and subset["counts"]["leaks_removed"] == 0
    assert sorted({s["concept"] for s in subset["selection"]}) == ["blue", "green", "red", "yellow"]  # balanced


def test_curate_needs_concepts(tmp_path: Path):
    from alignkit.cli import cli

    res = CliRunner().invoke(cli, ["curate", "--pool", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "give concepts" in res.output


@pytest.mark.slow
def test_align_on_a_subset_reuses_the_pool_features(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    from alignkit.cli import cli
    from alignkit.features import FeatureStore

    pool = tmp_path / "pool"
    make_pool(pool)
    (tmp_path / "concepts.txt").write_text("red\ngreen\nblue\nyellow\n")
    out = tmp_path / "cur"
    res = CliRunner().invoke(cli, ["curate", "--pool", f"folder:{pool}", "--vision", "pixels", "--text", "hashed-ngrams",
                                   "--concepts-file", str(tmp_path / "concepts.txt"), "--per-concept", "4",
                                   "--min-score", "0.05", "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    keys = set(json.loads((out / "subset.json").read_text())["keys"])
    pool_stores = sorted((tmp_path / "cache" / "features").glob("folder-*/*/manifest.json"))
    mtimes = {p: p.stat().st_mtime_ns for p in pool_stores}
    res = CliRunner().invoke(cli, ["align", "--vision", "pixels", "--text", "hashed-ngrams", "--data",
                                   f"subset:{out / 'subset.json'}", "--out", str(tmp_path / "run"), "--epochs", "2",
                                   "--val-fraction", "0.25", "--batch-size", "8", "--quiet"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert {p: p.stat().st_mtime_ns for p in pool_stores} == mtimes  # the pool was not embedded again
    derived = [FeatureStore(p.parent) for p in (tmp_path / "cache" / "features").glob("subset-*/*/manifest.json")]
    assert len(derived) == 2 and all("parent" in s.manifest for s in derived)
    image_store = next(s for s in derived if s.encoder["modality"] == "image")
    assert set(image_store.keys()) == keys
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_interrupted_scoring_resumes_to_the_same_selection(tmp_path: Path, monkeypatch):
    import importlib

    cur = importlib.import_module("alignkit.curation.curate")  # the module, not the function of that name
    from alignkit.curation import Concepts, CurateConfig, curate
    from alignkit.features import embed_items
    from tests.helpers.fakes import FakeImageEncoder, FakeTextEncoder

    rng = np.random.default_rng(0)
    words = list(COLOURS)
    pairs = [(f"p{i:03d}", words[i % 4] + " " + words[rng.integers(4)]) for i in range(64)]
    imgs = [(k, Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))) for k, _ in pairs]
    image_store = embed_items(FakeImageEncoder(), imgs, tmp_path / "img", shard_size=16, progress=False)
    text_store = embed_items(FakeTextEncoder(), [(f"{k}#0", c) for k, c in pairs], tmp_path / "txt", shard_size=16,
                             progress=False)
    protos = FakeTextEncoder().encode(words).pooled.numpy()
    concepts = Concepts(words, text=protos / np.linalg.norm(protos, axis=1, keepdims=True))
    config = CurateConfig(per_concept=5, min_score=0.0, dedup=None)
    reference = curate(image_store, text_store, concepts, config, tmp_path / "ref")

    real, calls = cur.concept_scores, []

    def crash_on_third_shard(feats, prototypes):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(feats, prototypes)

    monkeypatch.setattr(cur, "concept_scores", crash_on_third_shard)
    with pytest.raises(KeyboardInterrupt):
        curate(image_store, text_store, concepts, config, tmp_path / "state")
    assert json.loads((tmp_path / "state" / "state-text" / "state.json").read_text())["shard"] == 1
    calls.clear()
    monkeypatch.setattr(cur, "concept_scores", lambda f, p: (calls.append(1), real(f, p))[1])
    resumed = curate(image_store, text_store, concepts, config, tmp_path / "state")
    assert len(calls) == 2  # only the two unfinished shards were scored again
    assert resumed.keys == reference.keys and resumed.scores == reference.scores
