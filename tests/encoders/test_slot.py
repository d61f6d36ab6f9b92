"""One frozen encoder in memory at a time: a slot builds on demand, keeps one, drops it for the next."""

from __future__ import annotations

import gc
import weakref

from alignkit.encoders import EncoderSlot


class _Fake:
    def __init__(self, spec: str):
        self.spec = spec


def test_a_slot_holds_one_encoder_and_drops_it_for_the_next():
    built = []
    slot = EncoderSlot(lambda spec: built.append(spec) or _Fake(spec))
    first = slot.get("a")
    assert slot.get("a") is first and built == ["a"]  # asked again: not rebuilt
    gone = weakref.ref(first)
    del first
    second = slot.get("b")
    gc.collect()
    assert gone() is None, "the slot still holds the first encoder"
    assert second.spec == "b" and built == ["a", "b"] and slot.builds == 2
    slot.clear()
    assert slot.get("b") is not second and slot.builds == 3


def test_evaluate_models_builds_each_encoder_of_a_pair_once_and_holds_one_at_a_time(monkeypatch, tmp_path):
    """Baselines on two tasks: every task's images with one encoder, then every task's text."""
    import alignkit.encoders.registry as registry
    from alignkit.evaluate.compare import evaluate_models
    from tests.helpers.bench_data import write_pairs

    live: list[weakref.ref] = []
    made: list[str] = []
    real = registry.create_encoder

    def counting(spec, **kw):
        gc.collect()
        assert sum(r() is not None for r in live) == 0, f"{spec} built while another encoder was alive"
        enc = real(spec, **kw)
        made.append(spec)
        live.append(weakref.ref(enc))
        return enc

    monkeypatch.setattr(registry, "create_encoder", counting)
    monkeypatch.setenv("ALIGNKIT_CACHE", str(tmp_path / "cache"))
    train = write_pairs(tmp_path / "train", 24, seed=0)
    tasks = [f"retrieval:{write_pairs(tmp_path / 'a', 12, seed=1)}", f"retrieval:{write_pairs(tmp_path / 'b', 12, seed=2)}"]
    evaluate_models({}, tasks, baselines=["asif", "procrustes"], train=train, vision="pixels",
                    text="hashed-ngrams", progress=False)
    assert made == ["pixels", "hashed-ngrams", "pixels"]  # fit: image, then text; tasks: text (still held), then images
