"""What a benchmark run compares, in one dataclass: zoos, probe, training data, tasks, budget."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from alignkit.engines import engine_option
from alignkit.errors import AlignkitError
from alignkit.evaluate import BASELINES
from alignkit.rank.scoring import RankConfig

BUILTIN_TASKS = (
    "builtin:emoji-unseen-style",
    "builtin:emoji-unseen-concepts",
    "builtin:fashion-mnist",
    "builtin:animal-mnist",
    "builtin:mnist",
)
POOLED_HEADS = ("linear", "mlp")
ALIGN_MODES = ("all", "best")


@dataclass
class BenchConfig:
    """Every aligned pair gets the same budget: one recipe, the same epochs, the same pairs."""

    vision_zoo: str
    text_zoo: str
    probe: str = "builtin:emoji?split=probe&n=1000"
    # how the probe is scored (metrics, probe size, resamples, primary metric); its seed, device and
    # engine are the bench's own below, which every stage shares (see ``ranking``)
    rank: RankConfig = field(default_factory=RankConfig)
    train: str = "builtin:emoji?split=train"
    tasks: tuple[str, ...] = BUILTIN_TASKS
    seed: int = 0
    seeds: int = 1  # training seeds of the chosen pair's main run (seed, seed + 1, ...); verdicts use all of them
    seeds_all: bool = False  # train every aligned pair with `seeds` seeds (the selection study), not only the chosen one
    probe_sizes: tuple[int, ...] = ()  # the selection study: rank again at these probe sizes, correlate each with accuracy
    pair_bootstrap: int = 0  # resamples of the aligned pairs for intervals on the score-accuracy correlations
    epochs: int | None = None  # None: the recipe's default
    recipe: dict[str, Any] = field(default_factory=dict)  # AlignConfig overrides for every run
    align: str = "all"  # "all": every pair; "best": the best-ranked non-control pair only
    heads: tuple[str, ...] = POOLED_HEADS  # head kinds compared on the chosen pair
    data_fractions: tuple[float, ...] = (0.1, 0.3)  # training subsets for the chosen pair (full data is the main run)
    baselines: tuple[str, ...] = tuple(BASELINES)
    device: str = "auto"
    engine: str = "auto"  # what runs the frozen encoders: auto | torch | onnx (alignkit.engines)
    skip_missing: bool = False  # rank the encoders that can be loaded here, skipping (and naming) the rest

    def __post_init__(self) -> None:
        if isinstance(self.rank, dict):  # from to_dict() / JSON
            known = {f.name for f in fields(RankConfig)}
            self.rank = RankConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.rank.items() if k in known})

    def ranking(self, n_probe: int | None = None) -> RankConfig:
        """The ranking's settings: ``rank`` with the bench's seed, device and engine (and another
        probe size for the selection study's extra rankings)."""
        return replace(self.rank, n_probe=self.rank.n_probe if n_probe is None else n_probe,
                       seed=self.seed, device=self.device, engine=self.engine)

    def with_rank(self, **changes: Any) -> "BenchConfig":
        """A copy whose ranking settings have ``changes`` (n_probe, metrics, primary, ...)."""
        return replace(self, rank=replace(self.rank, **changes))

    def validate(self) -> "BenchConfig":
        engine_option(self.engine)
        if self.align not in ALIGN_MODES:
            raise AlignkitError(f"align must be one of {ALIGN_MODES}, got {self.align!r}")
        if self.rank.primary not in self.rank.metrics:
            raise AlignkitError(f"the primary metric {self.rank.primary} is not among the metrics {', '.join(self.rank.metrics)}")
        bad = [h for h in self.heads if h not in POOLED_HEADS]
        if bad:
            raise AlignkitError(f"bench compares pooled heads ({', '.join(POOLED_HEADS)}); {bad} cannot run on cached pooled features")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise AlignkitError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
        if not self.tasks:
            raise AlignkitError("no tasks to evaluate on; give at least one --task")
        if any(not 0 < f < 1 for f in self.data_fractions):
            raise AlignkitError(f"data fractions must lie in (0, 1) (full data is always run), got {self.data_fractions}")
        if self.seeds < 1:
            raise AlignkitError(f"seeds must be at least 1, got {self.seeds}")
        if any(n < 20 for n in self.probe_sizes):
            raise AlignkitError(f"probe sizes must be at least 20 pairs, got {self.probe_sizes}")
        if self.pair_bootstrap < 0:
            raise AlignkitError(f"pair_bootstrap must be 0 or more, got {self.pair_bootstrap}")
        if self.epochs is not None and self.epochs < 1:
            raise AlignkitError(f"epochs must be at least 1, got {self.epochs}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
