"""Similarity of two embedding spaces over paired rows: metrics, and statistics around them."""

from alignkit.similarity.cca import cca, svcca
from alignkit.similarity.cka import linear_cka, rbf_cka, unbiased_cka
from alignkit.similarity.inputs import (
    ConstantFeaturesError,
    NonFiniteFeaturesError,
    SimilarityInputError,
    TooFewRowsError,
)
from alignkit.similarity.neighbors import cknna, cycle_knn, mutual_knn
from alignkit.similarity.probe import alignment_probe
from alignkit.similarity.metrics import METRICS, Metric, UnknownMetricError, get_metric, measure
from alignkit.similarity.stats import DEFAULT_METRICS, calibrate, permutation_p_value, score_pair

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "ConstantFeaturesError",
    "Metric",
    "NonFiniteFeaturesError",
    "SimilarityInputError",
    "TooFewRowsError",
    "UnknownMetricError",
    "alignment_probe",
    "calibrate",
    "cca",
    "cknna",
    "cycle_knn",
    "get_metric",
    "linear_cka",
    "measure",
    "mutual_knn",
    "permutation_p_value",
    "rbf_cka",
    "score_pair",
    "svcca",
    "unbiased_cka",
]
