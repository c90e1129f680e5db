"""Forecasters: each `fit(matrix)` then `predict(horizon, future)` -> (mean, quantiles or None)."""

from __future__ import annotations

from stockwise_training.forecast.models.cold_start import ColdStart
from stockwise_training.forecast.models.intermittent import TSB, CrostonSBA
from stockwise_training.forecast.models.naive import MovingAverage, SeasonalNaive, ShapedAverage

REGISTRY = {
    "seasonal_naive": SeasonalNaive,
    "moving_average": MovingAverage,
    "shaped_average": ShapedAverage,
    "tsb": TSB,
    "croston_sba": CrostonSBA,
    "cold_start": ColdStart,
}


def make(name: str, **params):
    if name == "lightgbm" and params.get("partition_by"):  # one model per location/category, through Spark
        from stockwise_training.forecast.models.lgbm_spark import PartitionedLGBM

        return PartitionedLGBM(**params)
    if name == "lightgbm":
        from stockwise_training.forecast.models.lgbm import GlobalLGBM

        return GlobalLGBM(**params)
    return REGISTRY[name](**params)
