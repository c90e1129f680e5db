"""Prophet per series through Spark: forecasts clipped at zero with intervals, failures reported
per series and raised above the allowed share."""

import numpy as np
import pandas as pd
import pytest

from stockwise_training.forecast.models.prophet_spark import (
    ProphetFailures,
    ProphetParams,
    forecast,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _panel():
    rng = np.random.default_rng(0)
    dates = pd.date_range("2025-01-01", periods=90)
    rows = []
    for sku, level in (("A", 20.0), ("B", 0.4)):
        y = rng.poisson(level * (1 + 0.3 * (dates.dayofweek >= 5)))
        rows.append(
            pd.DataFrame(
                {
                    "sku": sku,
                    "location_id": "S",
                    "date": dates,
                    "qty": y.astype(float),
                    "stockout": False,
                    "price": 2.0,
                    "on_promo": False,
                }
            )
        )
    rows.append(
        pd.DataFrame(
            {
                "sku": "NEW",
                "location_id": "S",
                "date": dates[-5:],
                "qty": 1.0,
                "stockout": False,
                "price": 2.0,
                "on_promo": False,
            }
        )
    )  # five days of history: cannot fit
    return pd.concat(rows, ignore_index=True)


def test_prophet_forecasts_each_series_and_reports_failures(spark):
    panel = _panel()
    with pytest.raises(ProphetFailures, match="1 of 3 series failed"):
        forecast(spark, panel, ProphetParams(horizon=14, uncertainty_samples=50, country=None))
    res = forecast(spark, panel, ProphetParams(horizon=14, uncertainty_samples=50, country=None, max_failed_share=0.5))
    assert res.series == 3 and res.failed == 1 and "fewer than 14" in res.failures[0]["status"]
    ok = res.forecast[res.forecast["status"] == "ok"]
    assert len(ok) == 2 * 14 and (ok[["mean", "p10", "p90"]] >= 0).all().all()
    assert (ok["p10"] <= ok["mean"] + 1e-9).all() and (ok["mean"] <= ok["p90"] + 1e-9).all()
    a = ok[ok["sku"] == "A"]
    assert 15 < a["mean"].mean() < 30  # the fast mover's level, weekends higher
    assert a.loc[a["date"].dt.dayofweek >= 5, "mean"].mean() > a.loc[a["date"].dt.dayofweek < 5, "mean"].mean()
