"""LightGBM partitioned by location and trained through Spark: the same forecasts as fitting
the partitions one after another in-process, covariates shipped to each task."""

import numpy as np
import pandas as pd
import pytest

from stockwise_training.forecast.models import make
from stockwise_training.forecast.panel import QUANTILES, to_matrix

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.parametrize("shared_folder", [True, False], ids=["shared-folder", "through-the-driver"])
def test_partitioned_lightgbm_through_spark_equals_in_process(spark, tmp_path, monkeypatch, shared_folder):
    if shared_folder:
        monkeypatch.setenv("STOCKWISE_SPARK_SCRATCH", str(tmp_path))  # the executors' hand-over folder
    else:  # a cluster whose executors see none of the driver's folders: the rows go with the tasks
        from stockwise import spark as sparkutil

        monkeypatch.setattr(sparkutil, "shares_disk", lambda s: False)
        monkeypatch.setattr(sparkutil, "work_dir", lambda s: pytest.fail("no folder may be used"))
    rng = np.random.default_rng(3)
    dates = pd.date_range("2025-01-01", periods=150)
    rows = []
    for sku, loc, level in (("A", "L1", 9.0), ("B", "L1", 0.5), ("A", "L2", 4.0), ("C", "L2", 2.0)):
        df = pd.DataFrame(
            {
                "sku": sku,
                "location_id": loc,
                "date": dates,
                "qty": rng.poisson(level, len(dates)).astype(float),
                "stockout": False,
                "price": 2.0,
            }
        )
        df["lag_1"] = df["qty"].shift(1)
        df["rmean_7"] = df["qty"].shift(1).rolling(7, min_periods=1).mean()
        rows.append(df)
    m = to_matrix(pd.concat(rows, ignore_index=True), "D")
    keys = m.keys
    fut = pd.date_range(dates[0], periods=len(dates) + 14)
    exog = pd.DataFrame(
        {
            "sku": np.repeat(keys["sku"], len(fut)),
            "location_id": np.repeat(keys["location_id"], len(fut)),
            "date": np.tile(fut, len(keys)),
            "snap": np.tile((fut.day <= 10).astype(int), len(keys)),
        }
    )
    params = dict(
        horizon=14,
        rounds=15,
        quantile_rounds=8,
        num_leaves=7,
        min_data_in_leaf=5,
        partition_by="location_id",
        quantiles=QUANTILES,  # native quantile models travel back from the Spark tasks too
    )
    via_spark = make("lightgbm", **params).fit(m, exog=exog)
    local = make("lightgbm", spark=False, **params).fit(m, exog=exog)
    assert sorted(via_spark.models) == ["L1", "L2"] and "snap" in via_spark.models["L1"].feature_names
    assert sorted(via_spark.tasks) == ["L1", "L2"] and len(set(via_spark.tasks.values())) == 2  # a task each
    a, qa = via_spark.predict(14)
    b, qb = local.predict(14)
    assert (a >= 0).all() and a.shape == (4, 14)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(qa, qb)
    assert tmp_path.is_dir() and not any(tmp_path.iterdir())  # handed over there, then cleaned up
