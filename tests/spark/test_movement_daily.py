"""The Spark movement table: daily sums per kind, repeated receipt lines, the book's residual."""

import pandas as pd
import pytest

from stockwise_features.movement_daily import build

pytestmark = pytest.mark.spark


def test_daily_movements_duplicates_and_residual(spark):
    mv = pd.DataFrame(
        {
            "movement_id": [f"M{i}" for i in range(7)],
            "ts": pd.to_datetime(
                [
                    "2025-01-01 08:00",
                    "2025-01-01 20:00",
                    "2025-01-02 08:00",
                    "2025-01-02 08:30",
                    "2025-01-02 20:00",
                    "2025-01-03 10:00",
                    "2025-01-03 09:00",
                ]
            ),
            "sku": "A",
            "location_id": "S",
            "kind": ["receipt", "sale", "receipt", "receipt", "sale", "adjustment", "count"],
            "qty": [10.0, -3.0, 6.0, 6.0, -2.0, -20.0, 4.0],
            "ref": ["PO1", "POS", "PO2", "PO2", "POS", "ADJ", "CC"],
        }
    )
    stock = pd.DataFrame(
        {"date": pd.date_range("2025-01-01", periods=3), "sku": "A", "location_id": "S", "on_hand": [7.0, 17.0, 0.0]}
    )
    out = build(spark.createDataFrame(mv), spark.createDataFrame(stock)).toPandas().sort_values("date")
    d1, d2, d3 = (out.iloc[i] for i in range(3))
    assert (d1.receipts, d1.sold, d1.residual) == (10, 3, 0)
    # PO2 booked twice on day 2: the repeat is flagged; the book follows the movements exactly
    assert (d2.receipts, d2.dup_receipt_qty, d2.dup_receipt_lines, d2.dup_refs) == (12, 6, 1, "PO2")
    assert d2.residual == 0
    assert (d3.adjustments, d3.n_adjustments, d3.max_abs_adjustment, d3.count_qty, d3.n_counts) == (-20, 1, 20, 4, 1)
    # 17 - 20 + 4 = 1, but the book says 0: one unit no movement explains
    assert d3.residual == -1
