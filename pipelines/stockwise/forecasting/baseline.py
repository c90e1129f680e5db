"""The baseline forecaster: a day-of-week-shaped moving average of observed (uncensored) demand.

Quantiles come from the baseline's own out-of-sample errors: a backtest window before the
forecast origin gives per-series residual quantiles, pooled where a series has too few. A second,
earlier window calibrates the quantiles that are then scored on the later one, so the reported
interval coverage is honest (not measured on the residuals it was built from).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

KEYS = ["sku", "location_id"]
QUANTILES = (0.1, 0.5, 0.9)
METHOD = "seasonal-moving-average"


@dataclass(frozen=True)
class BaselineParams:
    window: int = 28  # days of observed demand in the level
    season: int = 7
    season_weeks: int = 8  # weeks used for the day-of-week profile
    shrink: float = 3.0  # pseudo-observations pulling each weekday index towards 1
    min_residuals: int = 10


def panel_matrix(panel: pd.DataFrame, end: date, days: int) -> tuple[pd.DataFrame, np.ndarray, pd.DatetimeIndex]:
    """Demand as a [series, day] matrix over the `days` days ending `end`; censored days are NaN."""
    dates = pd.date_range(end - timedelta(days=days - 1), end, freq="D")
    p = panel[(panel["date"] >= dates[0]) & (panel["date"] <= dates[-1])]
    y = p["qty"].astype(float).where(~p["stockout"].astype(bool))
    wide = (
        pd.DataFrame({"sku": p["sku"], "location_id": p["location_id"], "date": p["date"], "y": y})
        .pivot_table(index=KEYS, columns="date", values="y", aggfunc="first", dropna=False)
        .reindex(columns=dates)
    )
    keys = wide.index.to_frame(index=False)
    return keys, wide.to_numpy(dtype=float), dates


def point_forecast(y: np.ndarray, hist_dates: pd.DatetimeIndex, horizon: int, p: BaselineParams) -> np.ndarray:
    """[series, horizon] mean forecast from history matrix `y` (NaN = censored or not yet sold)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # series without observed days
        recent = y[:, -p.window :]
        level = np.nanmean(recent, axis=1)
        longer = np.nanmean(y, axis=1)
        level = np.where(np.isnan(level), longer, level)
        level = np.nan_to_num(level, nan=0.0)
        span = y[:, -p.season * p.season_weeks :]
        span_dow = hist_dates[-span.shape[1] :].dayofweek.to_numpy()
        overall = np.nanmean(span, axis=1)
        index = np.ones((y.shape[0], p.season))
        for d in range(p.season):
            cols = span[:, span_dow == d]
            n = np.sum(~np.isnan(cols), axis=1)
            ratio = np.nanmean(cols, axis=1) / overall
            ratio = np.where(np.isfinite(ratio), ratio, 1.0)
            index[:, d] = (n * ratio + p.shrink) / (n + p.shrink)
    fut = pd.date_range(hist_dates[-1] + timedelta(days=1), periods=horizon, freq="D").dayofweek.to_numpy()
    return np.maximum(level[:, None] * index[:, fut], 0.0)


def residual_quantiles(resid: np.ndarray, quantiles: tuple[float, ...], min_n: int) -> np.ndarray:
    """[series, len(quantiles)] residual quantiles; series with few residuals take the pooled ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows fall back to the pool
        per = np.nanquantile(resid, quantiles, axis=1).T if resid.size else np.zeros((0, len(quantiles)))
        pooled = np.nanquantile(resid, quantiles) if np.isfinite(resid).any() else np.zeros(len(quantiles))
    few = np.sum(np.isfinite(resid), axis=1) < min_n
    per[few] = pooled
    return np.nan_to_num(per, nan=0.0)


def _backtest(y: np.ndarray, dates: pd.DatetimeIndex, cutoff_idx: int, h: int, p: BaselineParams):
    f = point_forecast(y[:, : cutoff_idx + 1], dates[: cutoff_idx + 1], h, p)
    actual = y[:, cutoff_idx + 1 : cutoff_idx + 1 + h]
    return f, actual


def forecast(panel: pd.DataFrame, ds: date, horizon: int, p: BaselineParams | None = None) -> tuple[pd.DataFrame, dict]:
    """Forecast `horizon` days after `ds` for every series of the panel, with quantiles and sigma.

    Returns the forecast frame and the backtest metrics of the same method on the last
    `horizon` days before `ds` (quantiles calibrated on the window before that).
    """
    p = p or BaselineParams()
    h = horizon
    need = 3 * h + p.season * p.season_weeks
    keys, y, dates = panel_matrix(panel, ds, need)
    n = y.shape[1]
    # window A calibrates, window B evaluates, then B's residuals calibrate the real forecast
    fa, aa = _backtest(y, dates, n - 2 * h - 1, h, p)
    fb, ab = _backtest(y, dates, n - h - 1, h, p)
    qa = residual_quantiles(aa - fa, QUANTILES, p.min_residuals)
    metrics = backtest_metrics(ab, fb, fb[:, :, None] + qa[:, None, :])
    qb = residual_quantiles(ab - fb, QUANTILES, p.min_residuals)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # series without observed days
        sigma = np.nanstd(ab - fb, axis=1)
    sigma = np.where(np.isfinite(sigma), sigma, np.nanmean(sigma) if np.isfinite(sigma).any() else 0.0)
    mean = point_forecast(y, dates, h, p)
    fut = pd.date_range(ds + timedelta(days=1), periods=h, freq="D")
    out = pd.DataFrame(
        {
            "sku": np.repeat(keys["sku"].to_numpy(), h),
            "location_id": np.repeat(keys["location_id"].to_numpy(), h),
            "date": np.tile(fut.to_numpy(), len(keys)),
            "mean": mean.ravel(),
        }
    )
    for j, q in enumerate(QUANTILES):
        out[f"p{int(q * 100)}"] = np.maximum(mean + qb[:, j : j + 1], 0.0).ravel()
    out["sigma"] = np.repeat(sigma, h)
    out["method"] = METHOD
    return out, metrics


def backtest_metrics(actual: np.ndarray, mean: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Aggregate errors over observed (uncensored) cells: MAE, RMSE, WAPE, bias %, 80% coverage."""
    ok = np.isfinite(actual)
    a, f = actual[ok], mean[ok]
    lo = np.maximum(q[..., 0], 0.0)[ok]
    hi = np.maximum(q[..., -1], 0.0)[ok]
    tot = float(np.sum(a)) or 1.0
    return {
        "mae": float(np.mean(np.abs(a - f))) if a.size else float("nan"),
        "rmse": float(np.sqrt(np.mean((a - f) ** 2))) if a.size else float("nan"),
        "wape": float(np.sum(np.abs(a - f)) / tot),
        "bias_pct": float(np.sum(f - a) / tot * 100),
        "coverage_80": float(np.mean((a >= lo) & (a <= hi))) if a.size else float("nan"),
        "n_cells": int(a.size),
    }
