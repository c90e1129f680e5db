"""Fit the chosen model per segment on all the training data and assemble one forecast."""

from __future__ import annotations

import logging
from concurrent.futures import Future

import numpy as np
import pandas as pd

from stockwise_training.forecast.backtest import (
    BacktestConfig,
    BacktestResult,
    _level,
    apply_calibration,
    apply_widths,
    fit_predict,
)
from stockwise_training.forecast.panel import Matrix, demand_classes, future_dates, long_forecast

log = logging.getLogger(__name__)


def assign(segments: np.ndarray, champions: dict[str, str]) -> np.ndarray:
    """The model each series gets: its segment's champion, else the overall champion."""
    return np.array([champions.get(s, champions["all"]) for s in segments])


def forecast_models(
    m: Matrix,
    bt: BacktestResult,
    cfg: BacktestConfig,
    horizon: int,
    names,
    statics=None,
    exog=None,
    cache: dict | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(mean, quantiles) of each named model fitted on all of `m`; calibrated where not native."""
    seg = demand_classes(m.observed, min(2 * cfg.horizon, len(m.dates) // 2))
    seg_names = sorted(set(bt.segments))
    # a segment unseen in the backtest (e.g. a series that became 'new') takes the first calibration
    codes = np.array([seg_names.index(s) if s in seg_names else 0 for s in seg])
    level = _level(m.observed, cfg.horizon)
    cache = {} if cache is None else cache
    out = {}
    for name in names:
        _, mu, q = fit_predict(name, m, horizon, cfg, statics, exog, cache)
        if q is None:
            q = apply_calibration(mu, level, codes, bt.calibration[name])
        if name in bt.widths:  # native or calibrated intervals, stretched/shrunk as in the backtest
            q = apply_widths(q, codes, bt.widths[name])
        out[name] = (mu, q)
    return out


def forecast_champions(
    m: Matrix, bt: BacktestResult, cfg: BacktestConfig, horizon: int, statics=None, exog=None, cache: dict | None = None
) -> tuple[pd.DataFrame, dict]:
    seg = demand_classes(m.observed, min(2 * cfg.horizon, len(m.dates) // 2))
    chosen = assign(seg, bt.champions)
    cache = {} if cache is None else cache
    fcs = forecast_models(m, bt, cfg, horizon, sorted(set(chosen)), statics, exog, cache)
    mean = np.zeros((len(m.keys), horizon))
    q = np.zeros((len(m.keys), horizon, 5))
    for name, (mu, qq) in fcs.items():
        sel = chosen == name
        mean[sel], q[sel] = mu[sel], qq[sel]
        log.info("champion %s forecasts %d series", name, int(sel.sum()))
    fc = long_forecast(m.keys, future_dates(m.dates[-1], horizon, m.freq), mean, q, "champion")
    fc["model"] = np.repeat(chosen, horizon)
    fc["segment"] = np.repeat(seg, horizon)
    models: dict = {}
    for name, fit in cache.items():
        if isinstance(fit, Future):  # fitted ahead for a champion that was not chosen
            continue
        model = fit[0]
        models.update(model if name == "ensemble" else {name: model})
    return fc, models
