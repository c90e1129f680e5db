"""The M5 subset of ../shared/data as a [series, day] matrix, for the benchmarks that replay it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(os.environ.get("STOCKWISE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KEYS = ["sku", "location_id"]


def m5_daily(
    days: int = 730, with_test: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex, np.ndarray]:
    """(long frame, keys, dates, units sold [series, day]) over the last `days` days; sku = item,
    location = store."""
    d = DATA / "m5_tiny"
    parts = [pd.read_parquet(d / "train.parquet")] + ([pd.read_parquet(d / "test.parquet")] if with_test else [])
    df = pd.concat(parts, ignore_index=True).rename(columns={"item_id": "sku", "store_id": "location_id"})
    df["date"] = pd.to_datetime(df["date"])
    df = df[df["date"] > df["date"].max() - pd.Timedelta(days=days)]
    keys = df[KEYS].drop_duplicates().sort_values(KEYS).reset_index(drop=True)
    dates = pd.DatetimeIndex(sorted(df["date"].unique()))
    demand = (
        df.pivot_table(index=KEYS, columns="date", values="qty", aggfunc="first")
        .reindex(pd.MultiIndex.from_frame(keys))
        .reindex(columns=dates)
        .fillna(0)
        .to_numpy(float)
    )
    return df, keys, dates, demand
