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
    assert {"series_id", "sku", "location_id", "date", "mean", "p10", "p50", "p90", "p2_5", "p97_5"} <= set(fc.columns)
    assert len(fc) == 3 * 14 and fc["date"].min() == "2024-07-05"
    assert (fc[["mean", "p10", "p90"]] >= 0).all().all() and (fc["p10"] <= fc["p90"]).all()
    assert set(fc["model"]) <= {"moving_average", "tsb", "shaped_average"}
