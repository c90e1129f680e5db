"""Engineered movement features per sku x location x day, for the IsolationForest.

Each is scaled to the series' own behaviour, so that one model fits fast and slow movers alike:
an adjustment relative to the series' usual one, a count correction relative to a week's sales,
today's sales as a z-score at its 28-day rate, the improbability of the current zero-sales run,
days of cover on the book, a receipt relative to the series' usual receipt, the unexplained book
residual and repeated receipt lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockwise.anomaly.rules import DEFAULT_RULES, FROM_DATA, KEYS, Pooled, RuleParams, _rate, prepare

FEATURES = [
    "adj_ratio",
    "count_rel",
    "sold_z",
    "zero_run_log10p",
    "cover_days",
    "receipt_rel",
    "residual_abs",
    "dup_lines",
    "negative_book",
]


def engineer(daily: pd.DataFrame, p: RuleParams = DEFAULT_RULES, pool: Pooled = FROM_DATA) -> pd.DataFrame:
    """Keys, date and FEATURES, one row per row of the daily table (sorted by series and day).
    `pool`: the assortment's usual adjustment and receipt (from `daily` where not given)."""
    d = prepare(daily)
    pool = pool.filled(d)
    grp = [d[k] for k in KEYS]
    m, size = _rate(d, p.rate_days)
    known = np.isfinite(m)  # a series' first week has no rate yet: nothing is unusual against it
    m = np.nan_to_num(m, nan=0.0)
    adj = d["max_abs_adjustment"].where(d["n_adjustments"] > 0)
    usual_adj = adj.groupby(grp).transform("median").fillna(pool.adjustment).clip(lower=1)
    rec = d["receipts"].where(d["receipts"] > 0)
    usual_rec = rec.groupby(grp).transform("median").fillna(pool.receipt).clip(lower=1)
    var = np.where(np.isinf(size), m, m + m**2 / np.where(np.isinf(size), 1, size))
    quiet = (d["sold"] <= 0) & (d["on_hand"].fillna(0) > 0)
    run_id = (quiet & ~quiet.groupby(grp).shift(1, fill_value=False)).cumsum().where(quiet)
    k = quiet.groupby(run_id).cumcount().to_numpy() + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p0 = np.where(np.isinf(size), -m, size * (np.log(size) - np.log(size + m)))
    zero_run = np.where(quiet.to_numpy(), -k * log_p0 / np.log(10), 0.0)
    out = d[KEYS + ["date"]].copy()
    out["adj_ratio"] = (d["max_abs_adjustment"] / usual_adj).where(d["n_adjustments"] > 0, 0.0)
    out["count_rel"] = d["count_qty"] / np.maximum(m * 7, 1.0)
    out["sold_z"] = np.where(known, (d["sold"] - m) / np.sqrt(np.maximum(var, 0.25)), 0.0)
    out["zero_run_log10p"] = np.nan_to_num(zero_run, nan=0.0, posinf=50.0).clip(0, 50)
    out["cover_days"] = np.where(known, (d["on_hand"].fillna(0) / np.maximum(m, 0.05)).clip(-365, 365), 0.0)
    out["receipt_rel"] = (d["receipts"] / usual_rec).where(d["receipts"] > 0, 0.0)
    out["residual_abs"] = d["residual"].abs()
    out["dup_lines"] = d["dup_receipt_lines"].astype(float)
    out["negative_book"] = (d["on_hand"].fillna(0) < 0).astype(float)
    out[FEATURES] = out[FEATURES].astype(float).fillna(0.0)
    return out.reset_index(drop=True)
