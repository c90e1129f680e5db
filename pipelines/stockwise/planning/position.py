"""Inventory position = on hand + open orders (in transit, not yet received) - backorders.

Open orders are counted in the position, so a quantity already on order is never ordered twice.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

KEYS = ["sku", "location_id"]


def inventory_position(
    stock: pd.DataFrame, open_orders: pd.DataFrame, ds: date, backorders: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per sku x location: on hand at the end of `ds` (its last count on or before it, never
    below zero), units on order, backorders (a frame with `qty`; retail lost sales have none)
    and the inventory position."""
    s = stock[stock["date"] <= pd.Timestamp(ds)].sort_values("date")
    on_hand = s.groupby(KEYS, as_index=False).last()[KEYS + ["on_hand"]]
    oo = open_orders.groupby(KEYS, as_index=False).agg(on_order=("qty", "sum"), open_order_lines=("qty", "size"))
    pos = on_hand.merge(oo, on=KEYS, how="outer")
    if backorders is not None and len(backorders):
        bo = backorders.groupby(KEYS, as_index=False)["qty"].sum().rename(columns={"qty": "backorders"})
        pos = pos.merge(bo, on=KEYS, how="left")
    else:
        pos["backorders"] = 0.0
    pos["on_hand"] = pd.to_numeric(pos["on_hand"]).fillna(0.0).clip(lower=0.0)
    pos["on_order"] = pd.to_numeric(pos["on_order"]).fillna(0.0)
    pos["open_order_lines"] = pos["open_order_lines"].fillna(0).astype(int)
    pos["backorders"] = pd.to_numeric(pos["backorders"]).fillna(0.0)
    pos["inventory_position"] = pos["on_hand"] + pos["on_order"] - pos["backorders"]
    return pos
