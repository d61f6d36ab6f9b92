"""The bench's first stage: every encoder over the probe pairs, every pair scored and ranked
(the rank stage's own functions, with the bench's settings)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from alignkit.bench.meter import Meter
from alignkit.bench.config import BenchConfig
from alignkit.data import open_source
from alignkit.rank.scoring import align_rows, checked_zoos, embed_probe, score_all
from alignkit.rank.table import ranking

Say = Callable[[str], None]


def embed_probes(config: BenchConfig, meter: Meter, say: Say, progress: bool) -> tuple[list[Any], list[Any]]:
    """Every encoder over the probe (cached), at the largest probe size any ranking needs."""
    rc = config.ranking(max((config.rank.n_probe, *config.probe_sizes)))
    vision_specs, text_specs = checked_zoos(config.vision_zoo, config.text_zoo, config.skip_missing, say)  # before any work
    with meter.stage("rank: embed probe", modality="image"):
        vision = embed_probe(vision_specs, "image", config.probe, rc, open_source, say, bars=progress)
    with meter.stage("rank: embed probe", modality="text"):
        text = embed_probe(text_specs, "text", config.probe, rc, open_source, say, bars=progress)
    return vision, text


def rank_pairs(config: BenchConfig, meter: Meter, say: Say, vision: list[Any], text: list[Any],
          n_probe: int, bars: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every pair scored on the first ``n_probe`` probe pairs, ranked by the primary metric."""
    with meter.stage("rank: score pairs", n_probe=n_probe):
        vision, text = [replace(e) for e in vision], [replace(e) for e in text]  # align_rows trims its arguments
        keys = align_rows(vision, text, n_probe)
        rows = score_all(vision, text, keys, config.ranking(n_probe), say, bars=bars)
    ranked = ranking(rows, config.rank.primary)
    for e in ranked:
        e["n_probe"] = len(keys)
    return ranked, rows
