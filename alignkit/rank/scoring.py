"""Rank vision x text encoder pairs by how alike their spaces are on probe image-caption pairs.

Each encoder embeds the probe once, through the shared features cache (V + T encoder passes,
never V x T); scores are cached too, keyed by both encoders' fingerprints, the probe rows, the features' content and the
statistics settings, so a rerun does no encoder work and no metric work.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from alignkit.atomic import atomic_write_json
from alignkit.data.base import CAPTION_SEP, Pair, image_items
from alignkit.encoders import create_encoder
from alignkit.memory import release_memory
from alignkit.encoders.registry import get_entry, parse_spec
from alignkit.errors import AlignkitError, warn_degenerate, UnknownEncoderError
from alignkit.features.cache import cached_features, slug
from alignkit.paths import cache_root
from alignkit.progress import progress_bar
from alignkit.linalg import NumericalError
from alignkit.similarity.inputs import SimilarityInputError
from alignkit.similarity.stats import DEFAULT_METRICS, score_pair

KNN_METRICS = ("mutual_knn", "cycle_knn", "cknna")
SCORES_VERSION = 3  # bump when a scored row changes meaning or fields (cached scores are keyed by it)
# What makes one metric unusable on one pair: bad input for that metric, or a numeric routine that
# failed on every fallback. Such a metric is NaN with the reason in the pair's row; the ranking goes on.
METRIC_FAILURES = (SimilarityInputError, NumericalError, np.linalg.LinAlgError, torch.linalg.LinAlgError)


@dataclass
class RankConfig:
    metrics: tuple[str, ...] = DEFAULT_METRICS
    n_probe: int | None = 1000  # probe pairs used (the first n of the probe source, in its order)
    k: int = 10  # neighbours for the k-NN metrics
    svcca_share: float = 0.95  # variance SVCCA keeps per side (0.99 needs more probe pairs than widths)
    bootstrap: int = 50
    permutations: int = 50
    seed: int = 0
    device: str = "auto"
    engine: str = "auto"  # what runs the frozen encoders: auto | torch | onnx (alignkit.engines)
    primary: str = "linear_cka"  # the metric the ranking sorts by (its calibrated score)
    layerwise: bool = False


@dataclass
class Embedded:
    """One encoder's probe features, aligned to the shared probe keys."""

    spec: str
    modality: str
    control: bool
    layer: int | None
    fingerprint: str
    keys: list[str] = field(repr=False)
    features: np.ndarray = field(repr=False)


def resolve_zoo(zoo: str, modality: str) -> list[str]:
    """Comma-separated specs and/or preset names (offline, offline+controls, paper) -> specs."""
    from alignkit.encoders.presets import NAMES, preset

    specs: list[str] = []
    for part in (p.strip() for p in zoo.split(",")):
        if not part:
            continue
        specs.extend(preset(part, modality) if part in NAMES else [part])
    if not specs:
        raise AlignkitError(f"the {modality} zoo {zoo!r} holds no encoder (is anything installed? see `alignkit zoo`)")
    return list(dict.fromkeys(specs))


def checked_zoos(vision_zoo: str, text_zoo: str, skip_missing: bool = False,
                 say: Callable[[str], None] = lambda s: None) -> tuple[list[str], list[str]]:
    """Both zoos resolved and every encoder checked before anything is embedded: the missing ones
    are one error naming all of them, or, with ``skip_missing``, skipped (and said) so the rest rank."""
    from alignkit.encoders.availability import check_specs

    vision, text = resolve_zoo(vision_zoo, "image"), resolve_zoo(text_zoo, "text")
    usable, missing = check_specs(vision + text, skip_missing)
    for line in missing:
        say(f"skipping {line}")
    vision, text = [s for s in vision if s in usable], [s for s in text if s in usable]
    for side, left, zoo in (("image", vision, vision_zoo), ("text", text, text_zoo)):
        if not left:
            raise AlignkitError(f"no {side} encoder of {zoo!r} can be loaded here; nothing to rank")
    return vision, text


def is_control(spec: str) -> bool:
    prefix, name, _ = parse_spec(spec)
    if prefix is not None:
        return False
    try:
        return get_entry(name).kind == "control"
    except UnknownEncoderError:
        return False


def embed_probe(specs: Sequence[str], modality: str, probe_spec: str, config: RankConfig,
                open_source: Callable[[str], Any], progress: Callable[[str], None] = lambda s: None,
                bars: bool = True) -> list[Embedded]:
    """Every encoder over the probe (cached), with layer-wise variants when asked for; ``bars``
    shows the embedding progress bars."""
    out: list[Embedded] = []
    for spec in specs:
        base = create_encoder(spec, device=config.device, engine=config.engine)
        if base.modality != modality:
            raise AlignkitError(f"{spec} encodes {base.modality}, but it was given in the {modality} zoo")
        layers = [None] + (list(range(1, base.num_layers)) if config.layerwise else [])
        for layer in layers:
            enc = base if layer is None else create_encoder(spec, device=config.device, layer=layer, engine=config.engine)
            progress(f"{spec}" + (f" layer {layer}" if layer is not None else ""))
            pairs = itertools.islice(open_source(probe_spec), config.n_probe)
            items = image_items(pairs) if modality == "image" else first_captions(pairs)
            store = cached_features(enc, items, f"{probe_spec}#n={config.n_probe}", progress=bars, total=config.n_probe)
            keys, feats = store.load()
            if modality == "text":
                keys = [k.rsplit(CAPTION_SEP, 1)[0] for k in keys]
            out.append(Embedded(spec, modality, is_control(spec), layer, store.fingerprint, keys, feats))
            enc = None
        base = None  # one encoder in memory at a time: this one goes before the next is built
        release_memory()
    return out


def first_captions(pairs: Iterable[Pair]) -> Iterator[tuple[str, str]]:
    """One caption per probe pair (its first): similarity compares one image with one caption."""
    for p in pairs:
        if p.captions:
            yield f"{p.key}{CAPTION_SEP}0", p.captions[0]


def align_rows(vision: list[Embedded], text: list[Embedded], n: int | None) -> list[str]:
    """Restrict every encoder to the probe keys all of them embedded (first n in probe order)."""
    common = set(vision[0].keys)
    for e in vision[1:] + text:
        common &= set(e.keys)
    keys = [k for k in vision[0].keys if k in common][:n]
    if len(keys) < 20:
        raise AlignkitError(f"only {len(keys)} probe pairs were embedded by every encoder; need at least 20")
    for e in vision + text:
        pos = {k: i for i, k in enumerate(e.keys)}
        e.features = e.features[[pos[k] for k in keys]]
        e.keys = keys
    return keys


def score_all(vision: list[Embedded], text: list[Embedded], keys: list[str], config: RankConfig,
              progress: Callable[[str], None] = lambda s: None, bars: bool = False) -> list[dict[str, Any]]:
    """Tidy rows: one per (vision, text, metric), raw and calibrated with intervals; cached.
    With ``bars``, the pairs still to score get a progress bar with their total (and an ETA)."""
    rows: list[dict[str, Any]] = []
    repeats = probe_repeats(vision + text)
    keys_digest = hashlib.sha256("\0".join(keys).encode()).hexdigest()[:16]
    settings = {k: v for k, v in asdict(config).items() if k in ("metrics", "k", "svcca_share", "bootstrap", "permutations", "seed")}
    todo = []
    for v in vision:
        for t in text:
            if config.layerwise and v.layer is not None and t.layer is not None:
                continue  # layer-wise: each layer against the other side's final layer
            metrics = config.metrics if (v.layer is None and t.layer is None) else (config.primary,)
            ident = json.dumps([v.fingerprint, t.fingerprint, keys_digest, _features_digest(v), _features_digest(t), settings,
                                list(metrics), SCORES_VERSION], sort_keys=True)
            path = cache_root() / "scores" / f"{slug(v.spec + '|' + t.spec, 40)}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.json"
            todo.append((v, t, metrics, path))
    to_score = sum(not path.exists() for *_, path in todo)
    bars = bars and to_score > 0
    bar = _score_bar(to_score, bars)
    for v, t, metrics, path in todo:
        if path.exists():
            scored = json.loads(path.read_text())
        else:
            label = f"{v.spec}{_layer(v)} x {t.spec}{_layer(t)}"
            if bars:
                bar.set_postfix_str(label, refresh=True)
            else:
                progress(f"scoring {label}")
            b, p = (config.bootstrap, config.permutations) if metrics == config.metrics else (0, 0)
            scored = [_score_one(v.features, t.features, m, b, p, config) for m in metrics]
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, scored)
            bar.update(1)
        for r in scored:
            note = "; ".join(x for x in (r.get("note"), repeats.get(v.spec), repeats.get(t.spec)) if x)
            rows.append({"vision": v.spec, "vision_layer": v.layer, "text": t.spec, "text_layer": t.layer,
                         "control": v.control or t.control, **r, "note": note})
    bar.close()
    return rows


def probe_repeats(embedded: list[Embedded]) -> dict[str, str]:
    """Per encoder whose probe features repeat rows (a pair listed twice, identical images or
    captions): the note its scores carry. Repeats count as agreement, pushing cycle-kNN and CCA
    towards 1, so each is also a ``DegenerateResultWarning``."""
    notes: dict[str, str] = {}
    for e in embedded:
        n = len(e.features)
        repeated = n - len(np.unique(np.ascontiguousarray(e.features), axis=0))
        if repeated and e.spec not in notes:
            notes[e.spec] = warn_degenerate(
                f"{repeated} of {n} probe rows repeat an earlier row under {e.spec} ({e.modality} features identical); "
                "repeats count as agreement (cycle-kNN and CCA approach 1): deduplicate the probe")
    return notes


def _score_bar(total: int, enabled: bool) -> Any:
    """A bar over the pairs to score; none when disabled or when every score is cached."""
    return progress_bar(total, "score pairs", bool(enabled and total), unit="pair")


def _features_digest(e: Embedded) -> str:
    """What a score is computed from: the probe's features themselves, so a probe whose keys stay
    but whose images or captions changed never gets another probe's cached scores."""
    feats = np.ascontiguousarray(e.features)
    return hashlib.sha256(f"{feats.dtype}{feats.shape}".encode() + feats.tobytes()).hexdigest()[:16]


def _score_one(x: np.ndarray, y: np.ndarray, metric: str, bootstrap: int, permutations: int, config: RankConfig) -> dict[str, Any]:
    """One metric's tidy row; a metric that cannot run on this probe is recorded as NaN with the reason."""
    opts = _metric_options(metric, config)
    try:
        return score_pair(x, y, (metric,), bootstrap=bootstrap, permutations=permutations, seed=config.seed,
                          device=config.device, metric_options=opts)[0]
    except METRIC_FAILURES as e:
        nan = float("nan")
        return {"metric": metric, "raw": nan, "calibrated": nan, "ci_low": nan, "ci_high": nan, "p_value": nan,
                "n": len(x), "retained_rank": None, "degenerate": False, "note": "", "error": f"{type(e).__name__}: {e}"}


def _metric_options(metric: str, config: RankConfig) -> dict[str, dict[str, Any]] | None:
    if metric in KNN_METRICS:
        return {metric: {"k": config.k}}
    if metric == "svcca":
        return {metric: {"share": config.svcca_share}}
    return None


def _layer(e: Embedded) -> str:
    return "" if e.layer is None else f"@{e.layer}"
