from datetime import date

import numpy as np
import pandas as pd

from stockwise.forecasting import baseline

DS = date(2025, 6, 30)


def _panel(values_by_series: dict, days: int = 150, stockout=None) -> pd.DataFrame:
    dates = pd.date_range(end=pd.Timestamp(DS), periods=days)
    frames = []
    for (sku, loc), fn in values_by_series.items():
        qty = np.array([fn(i, d) for i, d in enumerate(dates)], dtype=float)
        so = np.zeros(days, dtype=bool) if stockout is None else stockout(sku, dates)
        frames.append(pd.DataFrame({"sku": sku, "location_id": loc, "date": dates, "qty": qty, "stockout": so}))
    return pd.concat(frames, ignore_index=True)


def test_forecast_is_complete_non_negative_with_ordered_quantiles():
    rng = np.random.default_rng(0)
    p = _panel({("A", "S"): lambda i, d: rng.poisson(5), ("B", "S"): lambda i, d: rng.poisson(0.2)})
    fc, metrics = baseline.forecast(p, DS, 28)
    assert len(fc) == 2 * 28
    assert fc["date"].min() == pd.Timestamp("2025-07-01") and fc["date"].max() == pd.Timestamp("2025-07-28")
    for col in ("mean", "p10", "p50", "p90", "sigma"):
        assert (fc[col] >= 0).all() and fc[col].notna().all()
    assert (fc["p10"] <= fc["p90"]).all()
    assert 0 <= metrics["coverage_80"] <= 1 and metrics["n_cells"] > 0


def test_constant_series_stays_flat():
    fc, metrics = baseline.forecast(_panel({("A", "S"): lambda i, d: 4.0}), DS, 28)
    assert np.allclose(fc["mean"], 4.0)
    assert np.allclose(fc["sigma"], 0.0)
    assert metrics["mae"] == 0.0


def test_weekly_pattern_is_kept():
    fc, _ = baseline.forecast(_panel({("A", "S"): lambda i, d: 10.0 if d.dayofweek == 5 else 2.0}), DS, 14)
    sat = fc[fc["date"].dt.dayofweek == 5]["mean"].mean()
    other = fc[fc["date"].dt.dayofweek != 5]["mean"].mean()
    assert sat > 2.5 * other


def test_stockout_days_are_not_read_as_zero_demand():
    # true demand 6/day, but the last 10 days sold 0 because the shelf was empty
    dates_out = lambda sku, dates: np.asarray(dates >= pd.Timestamp(DS) - pd.Timedelta(days=9))  # noqa: E731
    censored = _panel(
        {("A", "S"): lambda i, d: 0.0 if d >= pd.Timestamp(DS) - pd.Timedelta(days=9) else 6.0}, stockout=dates_out
    )
    fc, _ = baseline.forecast(censored, DS, 7)
    assert np.allclose(fc["mean"], 6.0)
