"""Forecast accuracy as in the M5 competition and the project's reference scorer.

Scales come from the training data only, from each series' first non-zero value on, over
consecutive observed periods (gaps skipped): scale2 = mean(diff²) for RMSSE, scale1 =
mean(|diff|) for MASE. WRMSSE weights are the dollar sales (or units) of the last `weight_window`
training periods. Censored (stockout) actuals are left out of every error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def scales(y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-series (scale1, scale2) from a [series, period] history with NaN for unobserved."""
    s1 = np.full(y_train.shape[0], np.nan)
    s2 = np.full(y_train.shape[0], np.nan)
    for i, row in enumerate(y_train):
        first = np.flatnonzero(np.nan_to_num(row) != 0)
        if not len(first):
            continue
        r = row[first[0] :]
        d = np.diff(r)
        d = d[~np.isnan(d)]  # pairs that are both observed
        if len(d):
            s1[i], s2[i] = np.mean(np.abs(d)), np.mean(d**2)
    return s1, s2


def weights(y_train: np.ndarray, price_train: np.ndarray | None, window: int) -> np.ndarray:
    qty = np.nan_to_num(y_train[:, -window:])
    val = qty * np.nan_to_num(price_train[:, -window:]) if price_train is not None else qty
    return val.sum(axis=1)


def pinball(actual: np.ndarray, q: np.ndarray, level: float) -> np.ndarray:
    diff = actual - q
    return np.maximum(level * diff, (level - 1) * diff)


def evaluate(
    actual: np.ndarray,
    mean: np.ndarray,
    y_train: np.ndarray,
    w_raw: np.ndarray,
    quantiles: np.ndarray | None = None,
    levels: tuple[float, ...] = (),
) -> tuple[dict, pd.DataFrame]:
    """Aggregate and per-series metrics of a [series, horizon] forecast against actuals."""
    s1, s2 = scales(y_train)
    ok = ~np.isnan(actual)
    e = np.where(ok, actual - mean, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mse = np.nanmean(e**2, axis=1)
        mae = np.nanmean(np.abs(e), axis=1)
        rmsse = np.sqrt(mse / s2)
        mase = mae / s1
    rmsse[~np.isfinite(rmsse)] = np.nan
    mase[~np.isfinite(mase)] = np.nan
    scored = ~np.isnan(rmsse)
    w = np.where(scored, w_raw, 0.0)
    w = w / w.sum() if w.sum() > 0 else w
    tot = np.nansum(np.where(ok, actual, 0))
    res = {
        "n_series": int(len(actual)),
        "n_scored": int(scored.sum()),
        "RMSSE_mean": float(np.nanmean(rmsse)) if scored.any() else float("nan"),
        "WRMSSE": float(np.nansum(w * np.nan_to_num(rmsse))),
        "MASE_mean": float(np.nanmean(mase)) if np.isfinite(mase).any() else float("nan"),
        "WAPE": float(np.nansum(np.abs(e)) / tot) if tot else float("nan"),
        "bias_pct": float(-np.nansum(e) / tot * 100) if tot else float("nan"),
    }
    per = pd.DataFrame({"rmsse": rmsse, "mase": mase, "weight": w})
    if quantiles is not None and levels:
        lv = list(levels)
        for lo, hi, name in ((0.1, 0.9, "coverage_80"), (0.025, 0.975, "coverage_95")):
            if lo in lv and hi in lv:
                a = actual[ok]
                inside = (a >= quantiles[..., lv.index(lo)][ok]) & (a <= quantiles[..., lv.index(hi)][ok])
                res[name] = float(inside.mean()) if inside.size else float("nan")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pin = np.mean(
                [np.nanmean(pinball(actual, quantiles[..., j], lvl) / s1[:, None]) for j, lvl in enumerate(lv)]
            )
        res["scaled_pinball"] = float(pin)
    return res, per
