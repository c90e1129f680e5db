"""Supplier constraints: the weekdays a supplier takes orders, and its minimum order value.

Lines are grouped into supplier orders (supplier x ship-to location). An order below the
supplier's minimum value is topped up, a pack at a time, on the lines with the fewest days of
cover, when any of its lines is urgent (its position is already below the expected demand of
its protection interval: safety stock is being used); otherwise it waits for the next order day.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from stockwise.erp.schema import WEEKDAYS


def weekday_mask(codes: pd.Series) -> np.ndarray:
    """[rows, 7] bool, Monday first; a supplier without order days takes orders any day."""
    mask = np.zeros((len(codes), 7), dtype=bool)
    for i, c in enumerate(codes.fillna("").astype(str)):
        days = [WEEKDAYS.index(x.strip().lower()[:3]) for x in c.split(",") if x.strip()[:3].lower() in WEEKDAYS]
        mask[i, days or list(range(7))] = True
    return mask


def days_to_next_order(mask: np.ndarray, weekday: int) -> np.ndarray:
    """Days from a day with Monday-based `weekday` to the next order day strictly after it (1..7)."""
    ahead = np.stack([mask[:, (weekday + k) % 7] for k in range(1, 8)], axis=1)
    return ahead.argmax(axis=1) + 1


def mean_review_days(mask: np.ndarray) -> np.ndarray:
    """The average gap between order days, rounded up to whole days."""
    return np.ceil(7.0 / np.maximum(mask.sum(axis=1), 1)).astype(int)


def next_order_date(mask_row: np.ndarray, ds: date) -> date:
    for k in range(1, 8):
        d = ds + timedelta(days=k)
        if mask_row[d.weekday()]:
            return d
    return ds + timedelta(days=7)


def apply_min_order_value(df: pd.DataFrame, max_cover_days: float = 56.0) -> pd.DataFrame:
    """Top up or hold supplier orders below `min_order_value`; notes go to `supplier_note`.

    Needs columns supplier_id, location_id, order_qty, unit_cost, pack_size, min_order_value,
    inventory_position, expected_interval_demand, days_of_cover, mu_d.
    """
    df = df.copy()
    df["supplier_note"] = ""
    lines = df[df["order_qty"] > 0]
    for (_sup, _loc), g in lines.groupby(["supplier_id", "location_id"], sort=False):
        mov = float(g["min_order_value"].fillna(0).iloc[0])
        value = float((g["order_qty"] * g["unit_cost"]).sum())
        if mov <= 0 or value >= mov:
            continue
        urgent = (g["inventory_position"] < g["expected_interval_demand"]).any()
        if not urgent:
            df.loc[g.index, "supplier_note"] = (
                f"supplier order {value:.2f} below its minimum {mov:.2f} and nothing urgent: "
                "waits for the next order day"
            )
            df.loc[g.index, "order_qty"] = 0.0
            continue
        order = g.sort_values("days_of_cover").index.tolist()
        qty = df.loc[order, "order_qty"].astype(float).copy()
        # a line takes packs up to `max_cover_days` of demand (always at least one more pack)
        cap = np.maximum(
            df.loc[order, "mu_d"] * max_cover_days,
            df.loc[order, "inventory_position"] + qty + df.loc[order, "pack_size"].clip(lower=1),
        )
        added = True
        while value < mov and added:
            added = False
            for i in order:
                pack = max(float(df.at[i, "pack_size"]), 1.0)
                if value < mov and df.at[i, "inventory_position"] + qty[i] + pack <= cap[i]:
                    qty[i] += pack
                    value += pack * float(df.at[i, "unit_cost"])
                    added = True
        df.loc[order, "order_qty"] = qty
        note = (
            f"topped up to the supplier minimum {mov:.2f}"
            if value >= mov
            else f"below the supplier minimum {mov:.2f} ({value:.2f}) but urgent: ordered anyway"
        )
        df.loc[order, "supplier_note"] = note
    return df
