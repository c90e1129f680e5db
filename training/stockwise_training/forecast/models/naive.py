"""Baselines: seasonal naive, moving average, and the weekday-shaped average (the core baseline)."""

from __future__ import annotations

import warnings

import numpy as np

from stockwise.forecasting.baseline import BaselineParams, point_forecast
from stockwise_training.forecast.panel import Matrix


def _last_observed_level(y: np.ndarray, window: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nanmean(y[:, -window:], axis=1)
        longer = np.nanmean(y, axis=1)
    return np.nan_to_num(np.where(np.isnan(level), longer, level), nan=0.0)


class SeasonalNaive:
    name = "seasonal_naive"

    def __init__(self, season: int = 7) -> None:
        self.season = season

    def fit(self, m: Matrix) -> SeasonalNaive:
        y = m.observed
        last = y[:, -self.season :]
        # a censored or missing period repeats the level instead of a false zero
        self.pattern = np.where(np.isnan(last), _last_observed_level(y, 4 * self.season)[:, None], last)
        return self

    def predict(self, horizon: int, future=None):
        reps = int(np.ceil(horizon / self.season))
        return np.tile(self.pattern, reps)[:, :horizon], None


class MovingAverage:
    name = "moving_average"

    def __init__(self, window: int = 28) -> None:
        self.window = window

    def fit(self, m: Matrix) -> MovingAverage:
        self.level = _last_observed_level(m.observed, self.window)
        return self

    def predict(self, horizon: int, future=None):
        return np.repeat(self.level[:, None], horizon, axis=1), None


class ShapedAverage:
    """Stockwise's planning baseline: a moving average shaped by each series' weekday profile."""

    name = "shaped_average"

    def __init__(self, window: int = 28, season: int = 7) -> None:
        self.params = BaselineParams(window=window, season=season)

    def fit(self, m: Matrix) -> ShapedAverage:
        self.y, self.dates = m.observed, m.dates
        return self

    def predict(self, horizon: int, future=None):
        if self.params.season <= 1 or len(self.dates) < self.params.season * self.params.season_weeks:
            return np.repeat(_last_observed_level(self.y, self.params.window)[:, None], horizon, axis=1), None
        return point_forecast(self.y, self.dates, horizon, self.params), None
