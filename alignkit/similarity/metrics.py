"""Every similarity metric behind one name: ``measure("linear_cka", X, Y)``.

Each entry says whether the metric needs distinct rows, and may carry a scorer factory
(see `inputs.PairScorer`) that scores re-pairings without redoing per-side work; the
permutation null uses it. k-NN metrics, the unbiased
estimators and the held-out probe treat a duplicated row as a second item (a free
neighbour, a U-statistic term, or a train/test leak), so resampling for them draws rows
without replacement (see `stats`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from alignkit.errors import AlignkitError
from alignkit.similarity.cca import cca, cca_scorer, svcca, svcca_scorer
from alignkit.similarity.cka import linear_cka, linear_cka_scorer, rbf_cka, unbiased_cka, unbiased_cka_scorer
from alignkit.similarity.inputs import ArrayLike, PairScorer, SimilarityInputError
from alignkit.similarity.neighbors import (
    cknna,
    cknna_scorer,
    cycle_knn,
    cycle_knn_scorer,
    mutual_knn,
    mutual_knn_scorer,
)
from alignkit.similarity.probe import alignment_probe


class UnknownMetricError(AlignkitError, ValueError):
    """A metric name that is not in `METRICS`."""


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., float]
    distinct_rows: bool
    summary: str
    scorer: Callable[..., PairScorer] | None = None

    def options(self) -> set[str]:
        """Keyword options the metric accepts (besides the two matrices)."""
        params = inspect.signature(self.fn).parameters.values()
        return {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Refuse option names the metric does not take (a typo must not be silently ignored)."""
        unknown = set(options) - self.options()
        if unknown:
            raise SimilarityInputError(
                f"{self.name} has no option {', '.join(sorted(unknown))}; "
                f"it accepts {', '.join(sorted(self.options()))}"
            )


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("linear_cka", linear_cka, False, "linear CKA in feature space (Kornblith et al. 2019)",
               linear_cka_scorer),
        Metric("unbiased_cka", unbiased_cka, True, "linear CKA with the unbiased HSIC estimator",
               unbiased_cka_scorer),
        Metric("rbf_cka", rbf_cka, False, "CKA with RBF kernels, median-heuristic bandwidth"),
        Metric("mutual_knn", mutual_knn, True, "share of k cosine neighbours both spaces agree on", mutual_knn_scorer),
        Metric("cycle_knn", cycle_knn, True, "share of rows recovered by a Y-then-X k-NN cycle", cycle_knn_scorer),
        Metric("cknna", cknna, True, "CKA restricted to mutual k-NN pairs (Huh et al. 2024)", cknna_scorer),
        Metric("svcca", svcca, False, "mean canonical correlation of the top principal components", svcca_scorer),
        Metric("cca", cca, False, "mean canonical correlation over all directions", cca_scorer),
        Metric("alignment_probe", alignment_probe, True, "top-1 retrieval of a ridge map fitted on half the pairs"),
    )
}


def get_metric(name: str) -> Metric:
    """The registered metric called ``name``, or an error listing the known names."""
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownMetricError(f"unknown similarity metric {name!r}; choose from {', '.join(METRICS)}") from None


def measure(name: str, x: ArrayLike, y: ArrayLike, **options: Any) -> float:
    """Score the paired feature matrices ``x`` (n, d1) and ``y`` (n, d2) with metric ``name``."""
    metric = get_metric(name)
    metric.check_options(options)
    return metric.fn(x, y, **options)
