"""Ties in a ranking: pairs whose calibrated scores differ by less than the paired interval over
the same bootstrap resamples are called tied, and the answer line names them; a p-value at its
permutation floor is flagged."""

from __future__ import annotations

import numpy as np

from alignkit.cli.rank import best_pair_line
from alignkit.rank.table import floor_note, ranking, ties
from alignkit.similarity import score_pair


def scored_rows(texts: dict[str, np.ndarray], x: np.ndarray, permutations: int = 10) -> list[dict]:
    rows = []
    for name, y in texts.items():
        for r in score_pair(x, y, ["linear_cka"], bootstrap=60, permutations=permutations, seed=0):
            rows.append({"vision": "v", "vision_layer": None, "text": name, "text_layer": None, "control": False, **r})
    return rows


def test_a_near_equal_pair_is_tied_and_named_a_distant_one_is_not():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 12))
    base = x @ rng.normal(size=(12, 10))
    texts = {"good": base + 1.0 * rng.normal(size=base.shape), "twin": base + 1.02 * rng.normal(size=base.shape),
             "bad": base + 6.0 * rng.normal(size=base.shape)}
    ranked = ranking(scored_rows(texts, x), "linear_cka")
    tied = ties(ranked, "linear_cka")
    assert [t["text"] for t in tied] == [next(e["text"] for e in ranked if e["rank"] == 2)]  # the twin, not "bad"
    assert {ranked[0]["text"], tied[0]["text"]} == {"good", "twin"}
    t = tied[0]
    assert t["low"] <= 0 <= t["high"] and t["difference"] >= 0
    line = best_pair_line(ranked, "linear_cka")
    assert line.startswith(f"answer: align v + {ranked[0]['text']} (rank 1 of 3")
    assert f"statistically tied with v + {t['text']} (rank 2" in line and "bad" not in line
    apart = ranking(scored_rows({k: texts[k] for k in ("good", "bad")}, x), "linear_cka")
    assert ties(apart, "linear_cka") == [] and "tied" not in best_pair_line(apart, "linear_cka")


def test_p_values_at_the_permutation_floor_are_flagged():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 8))
    ranked = ranking(scored_rows({"t": x @ rng.normal(size=(8, 8))}, x, permutations=9), "linear_cka")
    assert ranked[0]["linear_cka_p"] == 1 / 10  # strongly paired: no shuffle reaches it
    note = floor_note(ranked, ["linear_cka"], 9)
    assert "permutation floor 1/(9+1) = 0.100" in note and "--permutations" in note
    unrelated = ranking(scored_rows({"t": rng.normal(size=(100, 8))}, x, permutations=9), "linear_cka")
    assert floor_note(unrelated, ["linear_cka"], 9) == ""


def test_metric_agreement_of_a_constant_metric_is_nan_without_a_warning():
    import warnings

    from alignkit.rank.table import agreement

    ranked = [{"a_cal": float(i), "b_cal": 0.5, "c_cal": float(-i)} for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's ConstantInputWarning must not reach the terminal
        m = agreement(ranked, ["a", "b", "c"])
    assert np.isnan(m[0, 1]) and m[0, 2] == -1.0
