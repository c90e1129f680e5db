"""The plain-language reason on every plan line, in the words a planner uses."""

from __future__ import annotations

import numpy as np
import pandas as pd

TARGET_WORDS = {"fill_rate": "fill rate", "cycle_service": "cycle service level"}


def _cover(r) -> str:
    if not np.isfinite(r.days_of_cover):
        return "no demand expected"
    if r.days_of_cover > 365:  # a trickle of demand: "covers 10744 days" reads as a bug
        return "covers over a year"
    return f"covers {r.days_of_cover:.0f} days" if r.days_of_cover >= 10 else f"covers {r.days_of_cover:.1f} days"


def _days(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if x < 2 else f"{x:.0f}"


def line_reason(r) -> str:
    needs = getattr(r, "needs_master_data", "")
    if isinstance(needs, str) and needs:
        return (
            f"needs master data: the ERP has no {needs} for this item, so Stockwise orders nothing "
            "rather than guess; fill it in and the next plan orders it."
        )
    pos = f"on hand {r.on_hand:g}" + (f" + on order {r.on_order:g}" if r.on_order else "")
    parts = [
        f"{pos} {_cover(r)} at {r.mu_d:.2g}/day",
        f"lead time {_days(r.lead_time_days)} ± {_days(r.lead_time_days_std)} days ({r.lead_time_source})",
    ]
    target = f"{r.target:.1%} {TARGET_WORDS.get(r.target_kind, r.target_kind)} ({r.segment})"
    notes = [
        n
        for n in (r.override, getattr(r, "stock_note", ""), r.supplier_note, r.budget_note)
        if isinstance(n, str) and n
    ]
    if r.order_qty > 0:
        packs = int(round(r.order_qty / max(r.pack_size, 1)))
        pk = f" = {packs} pack{'s' if packs != 1 else ''} of {r.pack_size:g}" if r.pack_size > 1 else ""
        moq = f" (MOQ {r.moq:g})" if r.moq > 0 and r.order_qty <= r.moq else ""
        parts.append(f"reorder point {r.reorder_point:.0f}; to reach {target} order {r.order_qty:g}{pk}{moq}")
    elif not r.order_today:
        parts.append(
            f"supplier takes orders {r.order_weekdays}: next order day {pd.Timestamp(r.next_order_date):%a %Y-%m-%d}"
        )
    elif r.inventory_position > r.reorder_point:
        parts.append(f"above its reorder point {r.reorder_point:.0f} for {target}: no order")
    else:
        parts.append("no order")
    return "; ".join(parts + notes) + "."


def reasons(df: pd.DataFrame) -> list[str]:
    return [line_reason(r) for r in df.itertuples(index=False)]
