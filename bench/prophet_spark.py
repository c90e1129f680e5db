"""Prophet per series through Spark (`applyInPandas`) on the M5 holdout, scored with score.py.

    .venv/bin/python bench/prophet_spark.py

The same split and scorer as bench/forecast_accuracy.py (whose table holds Stockwise's champion
and the peers); Prophet gets the US holidays and the weekly sell price as a regressor (its
holdout value: the last known price), 80% interval as P10/P90.
"""

from __future__ import annotations

import os
import platform
import time

import pandas as pd
from forecast_accuracy import DATA, load_scorer, score_row

from stockwise.settings import Settings
from stockwise.spark import spark_job
from stockwise_training.forecast.models.prophet_spark import ProphetParams, forecast


def main() -> int:
    scorer = load_scorer()
    data = scorer.load_dataset(str(DATA / "m5_tiny"))
    _, train, test, series = data
    test = test[test["series_id"].isin(series.loc[series["eval"].astype(bool), "series_id"].astype(str))]
    panel = train.rename(columns={"item_id": "sku", "store_id": "location_id", "sell_price": "price"})
    panel = panel[["sku", "location_id", "date", "qty", "price"]].assign(date=lambda d: pd.to_datetime(d["date"]))
    t0 = time.monotonic()
    with spark_job(Settings(), "bench-prophet") as spark:
        res = forecast(spark, panel, ProphetParams(horizon=28, uncertainty_samples=100))
    secs = time.monotonic() - t0
    fc = res.forecast.assign(series_id=lambda d: d["sku"] + "_" + d["location_id"])
    fc["date"] = pd.to_datetime(fc["date"])
    row = score_row(
        scorer,
        data,
        "prophet (Spark applyInPandas)",
        fc[["series_id", "date", "mean", "p10", "p90"]],
        test,
        round(secs, 1),
        "p10",
        "p90",
    )
    print(
        "\n| model | WRMSSE | RMSSE | MASE | WAPE | bias % | cov80 | seconds |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    print(
        f"| {row['model']} | {row['WRMSSE']:.3f} | {row['RMSSE']:.3f} | {row['MASE']:.3f} | {row['WAPE']:.3f} | "
        f"{row['bias_pct']:.1f} | {row['cov80']:.1%} | {row['seconds']:.0f} |"
    )
    print(
        f"\n{res.series} series, {res.failed} failed {res.failures[:3]}; "
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
