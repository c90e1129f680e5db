"""`stockwise backtest` on a small history folder, end to end (files connector, Spark panel)."""

import json

import numpy as np
import pandas as pd
import pytest

from stockwise.cli import main

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_backtest_writes_complete_forecasts_and_prints_metrics(spark, tmp_path, capsys):
    rng = np.random.default_rng(1)
    dates = pd.date_range("2024-01-01", periods=200)
    rows = [
        pd.DataFrame({"PART": f"P{i}", "DAY": dates.strftime("%Y-%m-%d"), "UNITS": rng.poisson(lam, len(dates))})
        for i, lam in enumerate((0.3, 4.0, 12.0))
    ]
    pd.concat(rows).to_csv(tmp_path / "history.csv", index=False)
    (tmp_path / "map.yaml").write_text(
        "options: {freq: D, season_length: 7, series_id: '{sku}'}\n"
        "extracts:\n  sales:\n    file: history.csv\n"
        "    columns: {sku: PART, date: DAY, qty: UNITS}\n"
        "    constants: {location_id: ALL, price: 1.0, on_promo: false}\n"
    )
    out = tmp_path / "fc.csv"
    rc = main(
        [
            "backtest",
            "--data",
            str(tmp_path),
            "--mapping",
            str(tmp_path / "map.yaml"),
            "--horizon",
            "14",
            "--out",
            str(out),
            "--models",
            "moving_average,tsb,shaped_average",
        ]
    )
    assert rc == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert "WRMSSE" in captured.err and result["holdout"]["n_series"] == 3
    fc = pd.read_csv(out)
    assert list(fc.columns[:3]) == ["series_id", "date", "forecast"]
    assert {"sku", "location_id", "p10", "p50", "p90", "p2_5", "p97_5"} <= set(fc.columns)
    assert len(fc) == 3 * 14 and fc["date"].min() == "2024-07-05"
    assert (fc[["forecast", "p10", "p90"]] >= 0).all().all() and (fc["p10"] <= fc["p90"]).all()
    assert set(fc["model"]) <= {"moving_average", "tsb", "shaped_average"}


def test_predict_forecasts_the_periods_after_the_data(spark, tmp_path, capsys):
    rng = np.random.default_rng(2)
    months = pd.date_range("2020-01-31", periods=40, freq="ME")
    pd.DataFrame(
        {
            "PART": np.repeat(["A", "B"], 40),
            "MONTH": np.tile(months.strftime("%Y-%m-%d"), 2),
            "UNITS": rng.poisson(6, 80),
        }
    ).to_csv(tmp_path / "history.csv", index=False)
    (tmp_path / "map.yaml").write_text(
        "extracts:\n  sales:\n    file: history.csv\n"
        "    columns: {sku: PART, date: MONTH, qty: UNITS}\n"
        "    constants: {location_id: ALL, on_promo: false}\n"
    )
    out = tmp_path / "next.csv"
    args = ["predict", "--data", str(tmp_path), "--mapping", str(tmp_path / "map.yaml"), "--horizon", "6"]
    # progress bars asked for (by default only on a terminal): on standard error, not in the result
    assert main(["--progress", *args, "--out", str(out), "--models", "moving_average,seasonal_naive"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert "stockwise predict" in captured.err and "3/3" in captured.err
    assert "backtest, 2 models x 3 cutoffs" in captured.err and "6/6" in captured.err
    assert result["frequency"] == "ME" and result["forecast_from"] == "2023-05-31"
    fc = pd.read_csv(out)
    assert list(fc.columns[:3]) == ["series_id", "date", "forecast"] and set(fc["series_id"]) == {"A", "B"}
    assert fc["date"].tolist()[:6] == [
        d.strftime("%Y-%m-%d") for d in pd.date_range("2023-05-31", periods=6, freq="ME")
    ]
