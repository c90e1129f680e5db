"""Planner overrides kept as a file in the lake are read with their keys as text."""

from datetime import date

from stockwise import lake
from stockwise.catalog import OVERRIDES_FILE
from stockwise.planning import overrides
from stockwise.planning.step import lake_overrides
from stockwise.settings import Settings


def test_overrides_file_in_the_lake(home):
    store = lake.open_lake(Settings())
    assert lake_overrides(store) is None
    store.put(
        OVERRIDES_FILE,
        b"sku,location_id,fixed_qty,service_level,reason,author,expires\n"
        b"00042,ST01,24,,shelf reset,kim,2026-01-31\n"
        b"00043,,,0.99,launch,kim,2025-01-01\n",
    )
    df = lake_overrides(store)
    assert df["sku"].tolist() == ["00042", "00043"]  # leading zeros kept
    live = overrides.active(df, date(2025, 12, 31))
    assert live["sku"].tolist() == ["00042"]  # the second expired
