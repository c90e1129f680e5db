"""The Spark feature job: gaps filled, stockouts flagged, features use only the past."""

from datetime import date

import pandas as pd
import pytest

from stockwise_features.demand_panel import build_panel

pytestmark = pytest.mark.spark
DS = date(2025, 1, 10)


@pytest.fixture
def panel(spark):
    sales = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-04", "2025-01-09"]),
            "sku": "A",
            "location_id": "S",
            "qty": [3.0, 5.0, 2.0, 4.0],
            "price": [2.0, 2.0, 1.5, 2.0],
            "on_promo": [False, False, True, False],
        }
    )
    stock = pd.DataFrame(
        {
            "date": pd.date_range("2025-01-01", "2025-01-10"),
            "sku": "A",
            "location_id": "S",
            "on_hand": [10.0, 5.0, 5.0, 0.0, 0.0, 8.0, 8.0, 8.0, 4.0, 4.0],
        }
    )
    items = pd.DataFrame({"sku": ["A"], "category": ["c"], "unit_price": [2.0]})
    out = build_panel(
        spark, spark.createDataFrame(sales), spark.createDataFrame(stock), spark.createDataFrame(items), DS
    )
    return out.toPandas().sort_values("date").reset_index(drop=True)


def test_every_day_is_present_and_gaps_sold_nothing(panel):
    assert len(panel) == 10
    assert panel["date"].astype(str).tolist()[0] == "2025-01-01"
    assert panel["qty"].tolist() == [3, 5, 0, 2, 0, 0, 0, 0, 4, 0]


def test_stockout_days_are_flagged_and_not_demand(panel):
    assert panel["stockout"].tolist() == [False, False, False, True, True] + [False] * 5
    assert panel.loc[3:4, "demand_obs"].isna().all()
    assert panel.loc[2, "demand_obs"] == 0  # in stock and sold nothing: a real zero


def test_lags_and_rolling_means_use_only_earlier_days(panel):
    assert pd.isna(panel.loc[0, "lag_1"]) and panel.loc[1, "lag_1"] == 3
    # rmean_7 on day 6 (index 5): observed demand of days 0..4 = 3, 5, 0 (days 3, 4 censored)
    assert panel.loc[5, "rmean_7"] == pytest.approx((3 + 5 + 0) / 3)
    assert panel.loc[5, "stockout_days_7"] == 2


def test_no_feature_changes_when_later_data_is_removed(spark, panel):
    """Cutting the inputs at a cutoff gives the same features up to the cutoff: no leakage."""
    sales = spark.createDataFrame(
        pd.DataFrame(
            {
                "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-04"]),
                "sku": "A",
                "location_id": "S",
                "qty": [3.0, 5.0, 2.0],
                "price": [2.0, 2.0, 1.5],
                "on_promo": [False, False, True],
            }
        )
    )
    stock = spark.createDataFrame(
        pd.DataFrame(
            {
                "date": pd.date_range("2025-01-01", "2025-01-06"),
                "sku": "A",
                "location_id": "S",
                "on_hand": [10.0, 5.0, 5.0, 0.0, 0.0, 8.0],
            }
        )
    )
    items = spark.createDataFrame(pd.DataFrame({"sku": ["A"], "category": ["c"], "unit_price": [2.0]}))
    cut = (
        build_panel(spark, sales, stock, items, date(2025, 1, 6)).toPandas().sort_values("date").reset_index(drop=True)
    )
    cols = [c for c in cut.columns if c not in ("sku", "location_id", "category")]
    pd.testing.assert_frame_equal(cut[cols], panel.loc[:5, cols].reset_index(drop=True), check_dtype=False)


def test_calendar_and_price_features(panel):
    assert panel.loc[0, "dow"] == 4  # 2025-01-01 is a Wednesday (Spark: Sunday=1)
    assert panel.loc[3, "on_promo"] == 1
    assert panel.loc[3, "price_ratio"] == pytest.approx(0.75)
    assert panel.loc[4, "price"] == 1.5  # carried forward until the next sale


def test_a_zero_price_is_not_a_division(spark):
    # a free sample or a price not set yet: the job used to fail with Spark's DIVIDE_BY_ZERO
    sales = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"]),
            "sku": "A",
            "location_id": "S",
            "qty": [1.0, 2.0, 1.0],
            "price": [0.0, 0.0, 2.0],
            "on_promo": False,
        }
    )
    items = pd.DataFrame({"sku": ["A"], "category": ["c"], "unit_price": [0.0]})
    out = (
        build_panel(spark, spark.createDataFrame(sales), None, spark.createDataFrame(items), date(2025, 1, 4))
        .toPandas()
        .sort_values("date")
        .reset_index(drop=True)
    )
    assert len(out) == 4
    assert out.loc[:1, "price_ratio"].isna().all()  # nothing to compare a zero price with
    assert out.loc[2, "price_ratio"] == 1.0


@pytest.mark.parametrize("gaps", ["zero", "missing"])
def test_rolling_statistics_match_a_pandas_reference(spark, gaps):
    """The windows are differences of running totals (one pass, not one re-aggregation per row
    and window): every mean, standard deviation and stockout count equals pandas' rolling
    statistics over the periods before, censored and missing periods left out, series apart."""
    import numpy as np

    from stockwise import frequency

    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=150)
    sales, stock = [], []
    for sku, level in (("A", 0.4), ("B", 6.0), ("C", 250.0)):  # intermittent, smooth, high volume
        sold = rng.poisson(level, len(days)).astype(float)
        keep = rng.random(len(days)) > 0.15  # rows the history lists (gaps: missing)
        keep[0] = True
        on_hand = np.where(rng.random(len(days)) < 0.08, 0.0, 50.0)  # ~8% stockout days
        sales.append(pd.DataFrame({"date": days[keep], "sku": sku, "location_id": "S", "qty": sold[keep]}))
        stock.append(pd.DataFrame({"date": days, "sku": sku, "location_id": "S", "on_hand": on_hand}))
    sales_df = pd.concat(sales).assign(qty=lambda d: d["qty"].where(d.index != 0, 1.0))  # a first sale each
    stock_df = pd.concat(stock)
    items = pd.DataFrame({"sku": ["A", "B", "C"], "category": "c", "unit_price": 2.0})
    out = (
        build_panel(
            spark,
            spark.createDataFrame(sales_df),
            spark.createDataFrame(stock_df),
            spark.createDataFrame(items),
            days[-1].date(),
            gaps=gaps,
        )
        .toPandas()
        .sort_values(["sku", "date"])
        .reset_index(drop=True)
    )
    assert len(out) == 3 * len(days)
    for sku, g in out.groupby("sku"):
        obs = g["demand_obs"].astype(float).shift(1)
        so = g["stockout"].astype(int).shift(1)
        for n in frequency.parse("D").windows:
            roll = obs.rolling(n, min_periods=1)
            np.testing.assert_allclose(g[f"rmean_{n}"], roll.mean(), rtol=1e-9, err_msg=f"{sku} rmean_{n}")
            np.testing.assert_allclose(
                g[f"rstd_{n}"], obs.rolling(n, min_periods=2).std(), rtol=1e-6, atol=1e-9, err_msg=f"{sku} rstd_{n}"
            )
            np.testing.assert_array_equal(
                g[f"stockout_days_{n}"].to_numpy(dtype=float), so.rolling(n, min_periods=1).sum().to_numpy()
            )


def test_a_warehouse_that_sells_nothing_gives_no_demand_series(spark):
    """A DC's stock rows (it sells nothing, it ships to stores) are not a series to forecast;
    an item a store stocks but has not sold yet is."""
    sales = pd.DataFrame(
        {"date": pd.to_datetime(["2025-01-02"]), "sku": "A", "location_id": "S", "qty": [3.0], "price": 2.0,
         "on_promo": False}
    )  # fmt: skip
    days = pd.date_range("2025-01-01", "2025-01-10")
    stock = pd.DataFrame(
        [(d, sku, loc, 5.0) for d in days for sku, loc in (("A", "S"), ("B", "S"), ("A", "DC"), ("B", "DC"))],
        columns=["date", "sku", "location_id", "on_hand"],
    )
    items = pd.DataFrame({"sku": ["A", "B"], "category": ["c", "c"], "unit_price": [2.0, 2.0]})
    out = build_panel(
        spark, spark.createDataFrame(sales), spark.createDataFrame(stock), spark.createDataFrame(items), DS
    ).toPandas()
    assert set(zip(out["sku"], out["location_id"], strict=True)) == {("A", "S"), ("B", "S")}
