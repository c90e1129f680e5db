"""`stockwise backtest` and `stockwise predict` on awkward histories in every supported frequency:
gaps, late starts, delisted series, zero and missing prices, a one-period series, an all-zero
and a constant series, histories shorter than two seasons. Every requested period of every
series is forecast, finite and non-negative; only truly unusable input gets an error, and it
comes before Spark starts, naming what is wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockwise.errors import ConfigError, ExtractError
from stockwise_features.demand_panel import build_panel_pandas
from stockwise_training.forecast.job import backtest_folder, predict_folder

pytestmark = [pytest.mark.spark, pytest.mark.slow]
TINY_LGBM = {"lightgbm": {"rounds": 20, "quantile_rounds": 10, "num_leaves": 7, "min_data_in_leaf": 5, "threads": 1}}
QCOLS = ["p2_5", "p10", "p50", "p90", "p97_5"]


def awkward_history(freq: str, periods: int, horizon: int, seed: int = 0) -> pd.DataFrame:
    """Long sales rows (PART, STORE, WEEK, UNITS, PRICE) with every kind of awkward series."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2019-01-01", periods=periods + 1, freq=freq)[1:]  # anchored on the grid
    n = len(dates)
    season = np.sin(np.arange(n) * 2 * np.pi / 12) + 1.5
    series = {
        "smooth": rng.poisson(8 * season).astype(float),
        "gappy": rng.poisson(3, n).astype(float),
        "late": np.where(np.arange(n) >= int(0.7 * n), rng.poisson(5, n), np.nan),
        "delisted": np.where(np.arange(n) < int(0.5 * n), rng.poisson(4, n), np.nan),
        "zeros": np.zeros(n),
        "constant": np.full(n, 5.0),
        "intermittent": (rng.random(n) < 0.15) * rng.integers(1, 6, n).astype(float),
        # one period of history, just before the holdout (and nothing in it)
        "one": np.where(np.arange(n) == n - horizon - 1, 7.0, np.nan),
    }
    frames = []
    for i, (name, qty) in enumerate(series.items()):
        price = np.full(n, 2.5 + i)
        price[rng.random(n) < 0.1] = 0.0  # zero prices: not on sale, never a divisor
        price[rng.random(n) < 0.1] = np.nan  # and missing ones
        df = pd.DataFrame({"PART": name, "STORE": "S1" if i % 2 else "S2", "WEEK": dates, "UNITS": qty, "PRICE": price})
        df = df[df["UNITS"].notna()]
        if name == "gappy":
            df = df[rng.random(len(df)) > 0.3]  # missing periods: not observed, not zero
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["WEEK"] = out["WEEK"].dt.strftime("%Y-%m-%d")
    return out


def write_folder(tmp_path, hist: pd.DataFrame, freq: str | None, extra: str = ""):
    hist.to_csv(tmp_path / "sales.csv", index=False)
    opts = f"options: {{freq: {freq}}}\n" if freq else ""
    (tmp_path / "map.yaml").write_text(
        opts + "extracts:\n  sales:\n    file: sales.csv\n"
        "    columns: {sku: PART, location_id: STORE, date: WEEK, qty: UNITS, price: PRICE}\n"
        "    constants: {on_promo: false}\n" + extra
    )
    return tmp_path, tmp_path / "map.yaml"


def check_complete(fc: pd.DataFrame, keys: set, horizon: int, freq: str, first: pd.Timestamp) -> None:
    assert set(zip(fc["sku"], fc["location_id"], strict=True)) == keys
    assert fc.groupby(["sku", "location_id"]).size().eq(horizon).all()
    expected = pd.date_range(first, periods=horizon, freq=freq)
    assert sorted(pd.to_datetime(fc["date"]).unique()) == list(expected)
    vals = fc[["forecast", *QCOLS]].to_numpy(dtype=float)
    assert np.isfinite(vals).all() and (vals >= 0).all()
    assert (np.diff(fc[QCOLS].to_numpy(dtype=float), axis=1) >= -1e-9).all()


@pytest.mark.parametrize(
    ("freq", "periods", "horizon", "given"),
    [
        ("D", 150, 14, "D"),
        ("W-FRI", 130, 13, "W-FRI"),  # a retailer's fiscal week, given in the mapping
        ("W-THU", 80, 8, None),  # shorter than two seasons, frequency inferred from the dates
        ("MS", 50, 12, "MS"),
        ("ME", 30, 6, "M"),  # month ends, pandas' old alias
        ("QS-JAN", 20, 4, None),
    ],
)
def test_backtest_forecasts_every_series_in_every_frequency(spark, tmp_path, freq, periods, horizon, given):
    hist = awkward_history(freq, periods, horizon)
    data, mapping = write_folder(tmp_path, hist, given)
    out = tmp_path / "fc.csv"
    res = backtest_folder(
        data, mapping, horizon, out, panel_builder=build_panel_pandas, cutoffs=2, model_params=TINY_LGBM
    )
    fc = pd.read_csv(out)
    assert list(fc.columns[:3]) == ["series_id", "date", "forecast"]
    last = pd.Timestamp(pd.to_datetime(hist["WEEK"]).max())
    first = pd.date_range(end=last, periods=horizon, freq=freq)[0]
    keys = set(zip(hist["PART"], hist["STORE"], strict=True))
    check_complete(fc, keys, horizon, freq, first)
    assert np.isfinite(res["holdout"]["WRMSSE"]) and res["holdout"]["holdout_rows_scored"] > 0
    # gaps are missing periods: the gappy series' absent holdout rows are not scored as zeros
    assert res["holdout"]["holdout_rows_scored"] < len(keys) * horizon


def test_predict_forecasts_beyond_the_data_with_planned_covariates(spark, tmp_path):
    freq, horizon = "W-FRI", 8
    hist = awkward_history(freq, 110, horizon, seed=3)
    last = pd.Timestamp(pd.to_datetime(hist["WEEK"]).max())
    future_dates = pd.date_range(last, periods=horizon + 1, freq=freq)[1:]
    plan = pd.DataFrame(
        [
            (p, s, d.strftime("%Y-%m-%d"), 1.0)
            for p, s in hist[["PART", "STORE"]].drop_duplicates().to_numpy()
            for d in future_dates
        ],
        columns=["PART", "STORE", "WEEK", "PRICE"],
    )
    plan.to_csv(tmp_path / "plan.csv", index=False)
    data, mapping = write_folder(
        tmp_path,
        hist,
        freq,
        "future:\n  file: plan.csv\n  columns: {sku: PART, location_id: STORE, date: WEEK, price: PRICE}\n"
        "  keep: [price]\n",
    )
    out = tmp_path / "next.csv"
    res = predict_folder(
        data, mapping, horizon, out, panel_builder=build_panel_pandas, cutoffs=2, model_params=TINY_LGBM
    )
    fc = pd.read_csv(out)
    check_complete(fc, set(zip(hist["PART"], hist["STORE"], strict=True)), horizon, freq, future_dates[0])
    assert res["history_end"] == last.date().isoformat() and res["covariates"] == ["price"]
    # full precision: the file is not rounded to a few decimals
    assert fc["forecast"].astype(str).str.split(".").str[-1].str.len().max() > 4


def test_backtest_refuses_a_holdout_without_actuals(tmp_path):
    hist = awkward_history("MS", 40, 6)
    last = pd.to_datetime(hist["WEEK"]).max()
    future = pd.DataFrame(
        {"PART": "smooth", "STORE": "S2", "WEEK": pd.date_range(last, periods=7, freq="MS")[1:].strftime("%Y-%m-%d")}
    )
    data, mapping = write_folder(tmp_path, pd.concat([hist, future]), "MS")
    with pytest.raises(ConfigError, match=r"look like future periods.*stockwise predict"):
        backtest_folder(data, mapping, 6, tmp_path / "x.csv", panel_builder=build_panel_pandas)


def test_wrong_frequency_fails_before_spark_naming_the_rows(tmp_path):
    hist = awkward_history("W-FRI", 60, 4)
    data, mapping = write_folder(tmp_path, hist, "W-THU")
    with pytest.raises(
        ExtractError, match=r"sales.csv \(extract 'sales', column 'WEEK'\): .* off the weekly \(W-THU\) grid.*Friday"
    ):
        backtest_folder(data, mapping, 4, tmp_path / "x.csv", panel_builder=build_panel_pandas)
    data, mapping = write_folder(tmp_path, hist, "H")
    with pytest.raises(ConfigError, match=r"map.yaml: options.freq 'H'.* not supported; supported: D \(daily\)"):
        backtest_folder(data, mapping, 4, tmp_path / "x.csv", panel_builder=build_panel_pandas)
