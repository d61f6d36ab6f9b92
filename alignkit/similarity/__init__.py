"""Similarity of two embedding spaces over paired rows: metrics, and statistics around them."""

from alignkit.similarity.inputs import (
    ConstantFeaturesError,
    NonFiniteFeaturesError,
    SimilarityInputError,
    TooFewRowsError,
)
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
    "calibrate",
    "get_metric",
    "measure",
    "permutation_p_value",
    "score_pair",
]
