"""The intraday replan: what the day's stock events mean for the plan in force, for the
positions they touched only, with that plan's forecasts and levels (no refit, no new levels).

The nightly plan (its `all_positions` frame) fixed, per sku x location, the reorder point,
the order-up-to level, the safety stock and whether today is an order day. Events change the
inventory position; everything already ordered today (the nightly plan's lines and earlier
revisions' lines) counts as on order, so nothing is ordered twice. A line is ordered again
when its position, after the events, calls for more:

- on an order day, by the day's policy (the same `order_quantity` as the nightly plan);
- on any other day only when the position fell below its safety stock (an urgent line: the
  next order day would come too late).

Exceptions that cannot wait: a position below its safety stock, an A item out of stock, a
receipt short of what was expected by more than a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stockwise import events as ev
from stockwise.planning.quantity import order_quantity

KEYS = ["sku", "location_id"]
LINE_COLUMNS = [
    "sku",
    "location_id",
    "supplier_id",
    "order_qty",
    "already_ordered",
    "on_hand",
    "on_order",
    "inventory_position",
    "reorder_point",
    "order_up_to",
    "safety_stock",
    "urgent",
    "unit_cost",
    "order_value",
    "need_by",
    "reason",
]


@dataclass(frozen=True)
class IntradayConfig:
    short_receipt: float = 0.10  # a receipt this share short of its expected quantity is an exception
    rounding: str = "nearest"


@dataclass(frozen=True)
class Replan:
    lines: pd.DataFrame  # order lines of this revision (LINE_COLUMNS), only the new quantities
    positions: pd.DataFrame  # every touched position after the events, with what was decided
    exceptions: pd.DataFrame  # sku, location_id, kind, detail


def replan(
    plan: pd.DataFrame,
    events: pd.DataFrame,
    ordered: pd.DataFrame | None,
    day: date,
    cfg: IntradayConfig = IntradayConfig(),
) -> Replan:
    """`plan`: the plan in force's positions (`all_positions`); `events`: the day's events so far
    (every one, unique by id: the result depends on them, not on how they were batched);
    `ordered`: sku, location_id, qty already ordered today by earlier revisions (not the
    nightly plan's own lines: those are `plan.order_qty`); `day`: the events' day."""
    touched = events[KEYS].drop_duplicates()
    base = plan.merge(touched, on=KEYS, how="right")
    known = base["order_up_to"].notna().to_numpy()
    after = ev.apply(base[[*KEYS, "on_hand", "on_order"]].fillna({"on_hand": 0.0, "on_order": 0.0}), events)
    df = base.drop(columns=["on_hand", "on_order"]).merge(after, on=KEYS, how="left")
    already = df["order_qty"].fillna(0.0).to_numpy(dtype=float)
    if ordered is not None and len(ordered):
        more = df[KEYS].merge(ordered.groupby(KEYS, as_index=False)["qty"].sum(), on=KEYS, how="left")["qty"]
        already = already + more.fillna(0.0).to_numpy(dtype=float)
    backorders = df["backorders"].fillna(0.0).to_numpy(dtype=float) if "backorders" in df else 0.0
    ip = df["on_hand"].to_numpy(float) + df["on_order"].to_numpy(float) - backorders + already
    s = df["reorder_point"].to_numpy(dtype=float)
    S = df["order_up_to"].to_numpy(dtype=float)
    ss = df["safety_stock"].to_numpy(dtype=float)
    q = df["cycle_qty"].to_numpy(dtype=float) if "cycle_qty" in df else np.ones(len(df))
    pack = df["pack_size"].fillna(1).clip(lower=1).to_numpy(dtype=float) if "pack_size" in df else np.ones(len(df))
    moq = df["moq"].fillna(0).to_numpy(dtype=float) if "moq" in df else np.zeros(len(df))
    qty = np.zeros(len(df))
    for policy in df["policy"].dropna().unique():
        m = (df["policy"] == policy).to_numpy() & known
        qty[m] = order_quantity(ip[m], s[m], S[m], q[m], str(policy), pack[m], moq[m], cfg.rounding)
    order_day = df["order_today"].eq(True).to_numpy()  # missing (a position outside the plan): no
    below = known & (ip < ss)
    no_master = df["needs_master_data"].fillna("").astype(str).ne("").to_numpy()
    # a network plan's lines (a store's transfer from its DC, the DC's purchase) move with the
    # DC's stock, which the events do not carry: the nightly plan moves them; exceptions still show
    network = (
        (df["order_type"].eq("transfer") | df["echelon"].eq("dc")).to_numpy()
        if "order_type" in df and "echelon" in df
        else np.zeros(len(df), dtype=bool)
    )
    qty = np.where((order_day | below) & known & ~no_master & ~network, qty, 0.0)
    df["already_ordered"], df["inventory_position"], df["order_qty"] = already, ip, qty
    df["urgent"] = (qty > 0) & ~order_day
    df["order_value"] = qty * df["unit_cost"].fillna(0.0).to_numpy(dtype=float)
    lead = df["lead_time_days"].fillna(7.0).to_numpy(dtype=float) if "lead_time_days" in df else np.full(len(df), 7.0)
    df["need_by"] = pd.Timestamp(day) + pd.to_timedelta(np.ceil(lead), unit="D")
    df["reason"] = [
        _why(*a) for a in zip(df["events"], ip, s, ss, qty, order_day, known, no_master, network, strict=True)
    ]
    lines = df.loc[qty > 0, [c for c in LINE_COLUMNS if c in df]].reset_index(drop=True)
    return Replan(lines, df, _exceptions(df, events, ip, ss, known, cfg))


def _why(n, ip, s, ss, qty, order_day, known, no_master, network=False) -> str:
    moved = f"{n} event(s) today moved the position to {ip:g}"
    if not known:
        return f"{moved}; not in the plan in force (no forecast or levels): the next nightly plan covers it"
    if no_master:
        return f"{moved}; not ordered: master data missing (see the exceptions)"
    if network:
        return (
            f"{moved}; a line of the network plan (a transfer from its DC, or the DC's purchase): "
            "not reordered intraday, the DC's stock is not in the events; the next nightly plan moves it"
        )
    if qty > 0 and not order_day:
        return f"{moved}, below its safety stock {ss:.1f}: urgent order of {qty:g} outside the order day"
    if qty > 0:
        return f"{moved}, at or below its reorder point {s:.1f}: {qty:g} more ordered today"
    return f"{moved}; nothing more to order (reorder point {s:.1f}, safety stock {ss:.1f})"


def _exceptions(df, events, ip, ss, known, cfg: IntradayConfig) -> pd.DataFrame:
    rows = []
    for i in np.flatnonzero(known & (ip < ss)):
        r = df.iloc[i]
        rows.append((r.sku, r.location_id, "below_safety_stock", f"position {ip[i]:g} below safety stock {ss[i]:.1f}"))
    abc = df["abc"].astype(str) if "abc" in df else pd.Series("", index=df.index)
    for i in np.flatnonzero((df["on_hand"].to_numpy(float) <= 0) & (abc == "A").to_numpy()):
        r = df.iloc[i]
        rows.append((r.sku, r.location_id, "stockout_a_item", "an A item is out of stock on the shelf"))
    for r in ev.short_receipts(events, cfg.short_receipt).itertuples():
        rows.append(
            (
                r.sku,
                r.location_id,
                "short_receipt",
                f"receipt {r.po_id or r.id}: {r.qty:g} of {r.expected_qty:g} expected ({r.short_share:.0%} short)",
            )
        )
    out = pd.DataFrame(rows, columns=["sku", "location_id", "kind", "detail"])
    return out.drop_duplicates(["sku", "location_id", "kind"], keep="last").reset_index(drop=True)
