"""The planner's Excel workbook beside the report: what to order, from whom, what is at risk.

Sheets: a summary of the plan and its lineage, the order lines as a worklist (earliest need-by
first), purchase orders per supplier against their minimum order value, the positions at or
below their reorder point that are *not* ordered today and why, the exceptions, the anomalies,
and every position. Human column titles; `exports.xlsx_bytes` adds the formats, frozen headers,
filters and widths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# (title, plan column, format kind)
LINE = [
    ("SKU", "sku", ""),
    ("Location", "location_id", ""),
    ("Item", "name", ""),
    ("Category", "category", ""),
    ("Supplier", "supplier_id", ""),
    ("Segment", "segment", ""),
    ("Target fill", "target", "pct"),
    ("On hand", "on_hand", "qty"),
    ("On order", "on_order", "qty"),
    ("Demand per day", "mu_d", "rate"),
    ("Days of cover", "cover", "days"),
    ("Reorder point", "reorder_point", "qty"),
    ("Order-up-to", "order_up_to", "qty"),
    ("Safety stock", "safety", "qty"),
    ("Order qty", "order_qty", "qty"),
    ("Pack size", "pack_size", "int"),
    ("Unit cost", "unit_cost", "money"),
    ("Order value", "order_value", "money"),
    ("Need by", "need_by", "date"),
    ("Reason", "reason", ""),
    ("Exceptions", "exceptions", ""),
]
# what a position's notes and alerts say a planner should look at, as filterable kinds
NOTE_KINDS = (
    ("override", "planner override"),
    ("stock_note", "stock in doubt"),
    ("supplier_note", "supplier limit"),
    ("budget_note", "budget cut"),
    ("needs_master_data", "needs master data"),
)
KIND_SEP = ", "  # between the kinds of one position (the report's filter splits on it)
OFF_PACK = "override off pack or MOQ"


def off_pack_or_moq(df: pd.DataFrame) -> np.ndarray:
    """Lines a planner's fixed quantity put off the supplier's pack multiple or under its MOQ (the
    engine keeps a fixed quantity as given; the buyer should know before the PO goes out)."""
    if not {"override", "order_qty", "pack_size"} <= set(df.columns) or not len(df):
        return np.zeros(len(df), bool)
    q = df["order_qty"].to_numpy(float)
    pack = np.nan_to_num(df["pack_size"].to_numpy(float), nan=1.0)
    moq = np.nan_to_num(df["moq"].to_numpy(float), nan=0.0) if "moq" in df else np.zeros(len(df))
    fixed = np.array([isinstance(o, str) and "fixed quantity" in o for o in df["override"]])
    off = (np.abs(q / np.maximum(pack, 1) - np.round(q / np.maximum(pack, 1))) > 1e-9) | (q < moq)
    return fixed & (q > 0) & off


MAX_COVER_DAYS = 999.0  # shown as is up to here; beyond, "999" (and empty where no demand is expected)


def _frame(df: pd.DataFrame, spec) -> tuple[pd.DataFrame, dict[str, str]]:
    import pandas as pd

    cols = {title: df[c] if c in df else pd.Series([None] * len(df), index=df.index) for title, c, _ in spec}
    return pd.DataFrame(cols).reset_index(drop=True), {title: kind for title, _, kind in spec if kind}


def _numbers_people_read(df: pd.DataFrame) -> pd.DataFrame:
    """Days of cover capped (empty without demand, never inf or 10,744); safety stock never
    negative (a low fill-rate target can put the reorder point under the expected demand)."""
    out = df.copy()
    # the plan's days of cover (inf where no demand is expected) as a planner reads it
    out["cover"] = out["days_of_cover"].replace(np.inf, np.nan).clip(upper=MAX_COVER_DAYS)
    if "safety_stock" in out:
        out["safety"] = out["safety_stock"].clip(lower=0)
    return out


def exception_kinds(df: pd.DataFrame, alerts: pd.DataFrame | None = None, below_minimum=()) -> list[str]:
    """Per row of `df` (positions or order lines), the kinds of exception on it: its plan notes
    (override, stock in doubt, supplier limit, budget cut, master data), the types of its open
    anomaly alerts, and an order below its supplier's minimum order value (`below_minimum`)."""
    kinds: list[list[str]] = [[] for _ in range(len(df))]
    for col, kind in NOTE_KINDS:
        if col in df:
            for i, v in enumerate(df[col].to_numpy()):
                if isinstance(v, str) and v:
                    kinds[i].append(kind)
    if alerts is not None and len(alerts) and {"sku", "location_id", "type"} <= set(alerts.columns):
        a = alerts[alerts["open"].astype(bool)] if "open" in alerts else alerts
        types = a.groupby(["sku", "location_id"])["type"].agg(lambda t: sorted(set(t)))
        for i, key in enumerate(zip(df["sku"], df["location_id"], strict=True)):
            for t in types.get(key, []):
                kinds[i].append(f"anomaly: {str(t).replace('_', ' ')}")
    for i, off in enumerate(off_pack_or_moq(df)):
        if off:
            kinds[i].append(OFF_PACK)
    if len(below_minimum) and "supplier_id" in df and "order_qty" in df:
        short = set(below_minimum)
        for i, (sup, q) in enumerate(zip(df["supplier_id"], df["order_qty"], strict=True)):
            if sup in short and q > 0:
                kinds[i].append("below supplier minimum")
    return [KIND_SEP.join(k) for k in kinds]


def _why_not_ordered(r) -> str:
    if isinstance(r.needs_master_data, str) and r.needs_master_data:
        return f"needs master data: {r.needs_master_data}"
    notes = [n for n in (r.budget_note, r.supplier_note, r.override) if isinstance(n, str) and n]
    if not r.order_today:
        when = str(r.next_order_date)[:10] if r.next_order_date == r.next_order_date else "its next order day"
        notes.insert(0, f"supplier {r.supplier_id} is not ordered today: next on {when}")
    return "; ".join(notes) or "ordered by an earlier plan"


SUPPLIER = [
    ("Supplier", "supplier_id", ""),
    ("Receipts (365 days)", "receipts", "int"),
    ("Promised lead time", "promised_days", "rate"),
    ("Actual lead time", "actual_days", "rate"),
    ("Spread (std)", "actual_std_days", "rate"),
    ("On time", "on_time_rate", "pct"),
    ("Last 90 days", "recent_days", "rate"),
    ("Trend (days)", "trend_days", "rate"),
    ("Planned with", "planned_days", "rate"),
    ("Planned spread", "planned_std_days", "rate"),
    ("Source", "lead_time_source", ""),
]


def order_lines(
    orders: pd.DataFrame, alerts: pd.DataFrame | None = None, below_minimum=()
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The order lines as a worklist: earliest need-by first, then the largest value."""
    lines = _numbers_people_read(orders).sort_values(["need_by", "order_value"], ascending=[True, False])
    lines["exceptions"] = exception_kinds(lines, alerts, below_minimum)
    return _frame(lines, LINE)


def sheets(
    orders: pd.DataFrame,
    positions: pd.DataFrame,
    summary: list[tuple[str, object]],
    exceptions: pd.DataFrame | None = None,
    alerts: pd.DataFrame | None = None,
    suppliers: pd.DataFrame | None = None,
    ds: str | None = None,
    supplier_names: dict[str, str] | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, str]]]:
    """The workbook's frames and their column kinds (for `exports.xlsx_bytes`); `suppliers`:
    the suppliers' delivery performance (`planning.leadtime.performance`); `ds`: the plan date
    (the purchase orders' order day, from which their expected arrival is counted);
    `supplier_names`: the supplier master's names by id (an ERP without names: ids only)."""
    import pandas as pd

    out: dict[str, pd.DataFrame] = {}
    kinds: dict[str, dict[str, str]] = {}
    pos = _numbers_people_read(positions)
    out["Summary"] = pd.DataFrame()  # first sheet; filled at the end
    out["Order lines"] = pd.DataFrame()  # second; filled once the purchase orders are known
    pos["exceptions"] = exception_kinds(pos, alerts)

    if len(orders):
        g = orders.groupby("supplier_id", sort=True)
        po = pd.DataFrame(
            {
                "Supplier": list(g.groups),
                "Lines": g.size().to_numpy(),
                "Units": g["order_qty"].sum().to_numpy(),
                "Order value": g["order_value"].sum().to_numpy(),
                "Minimum order value": g["min_order_value"].max().to_numpy() if "min_order_value" in orders else np.nan,
                "First need by": g["need_by"].min().to_numpy(),
            }
        )
        po["Meets the minimum"] = np.where(po["Order value"] >= po["Minimum order value"].fillna(0), "yes", "no")
        if supplier_names:
            po.insert(1, "Supplier name", [supplier_names.get(s) for s in po["Supplier"]])
        if ds:  # placed today; the last line arrives after the longest lead time planned for it
            po["Order day"] = pd.Timestamp(ds)
            if "lead_time_days" in orders:
                days = np.ceil(g["lead_time_days"].max().to_numpy(float))
                po["Expected arrival"] = pd.Timestamp(ds) + pd.to_timedelta(days, unit="D")
        off = pd.Series(off_pack_or_moq(orders), index=orders.index)
        po["Overrides off pack/MOQ"] = off.groupby(orders["supplier_id"]).sum().reindex(po["Supplier"]).to_numpy()
    else:
        po = pd.DataFrame(columns=["Supplier", "Lines", "Units", "Order value", "Minimum order value", "First need by"])
    out["Purchase orders"] = po
    below = po.loc[po["Meets the minimum"] == "no", "Supplier"].tolist() if "Meets the minimum" in po else []
    out["Order lines"], kinds["Order lines"] = order_lines(orders, alerts, below)
    kinds["Purchase orders"] = {
        "Lines": "int",
        "Units": "qty",
        "Order value": "money",
        "Minimum order value": "money",
        "First need by": "date",
        "Order day": "date",
        "Expected arrival": "date",
        "Overrides off pack/MOQ": "int",
    }

    if suppliers is not None and len(suppliers):
        out["Suppliers"], kinds["Suppliers"] = _frame(suppliers, SUPPLIER)

    at_risk = pos[(pos["inventory_position"] <= pos["reorder_point"]) & (pos["order_qty"] <= 0)].copy()
    at_risk["why"] = [_why_not_ordered(r) for r in at_risk.itertuples(index=False)]
    risk_spec = [s for s in LINE if s[1] not in ("order_qty", "order_value", "need_by", "reason", "pack_size")]
    risk_spec = [s for s in risk_spec if s[1] != "exceptions"]
    risk_spec += [
        ("Next order day", "next_order_date", "date"),
        ("Why not ordered today", "why", ""),
        ("Exceptions", "exceptions", ""),
    ]
    out["At risk, not ordered"], kinds["At risk, not ordered"] = _frame(
        at_risk.sort_values("cover", na_position="last"), risk_spec
    )

    exc = exceptions if exceptions is not None else pd.DataFrame(columns=["sku", "location_id", "kind", "detail"])
    titles = {"sku": "SKU", "location_id": "Location", "kind": "Kind", "detail": "Detail"}
    out["Exceptions"] = exc.rename(columns=titles)
    if alerts is not None and len(alerts):
        a = alerts.copy()
        a.columns = [str(c).replace("_", " ").capitalize() for c in a.columns]
        out["Anomalies"] = a
        kinds["Anomalies"] = {c: "money" for c in a.columns if "value" in c.lower() or "cost" in c.lower()}
    out["All positions"], kinds["All positions"] = _frame(
        pos, [s for s in LINE if s[1] not in ("need_by",)] + [("Next order day", "next_order_date", "date")]
    )
    summary = [
        *summary,
        ("Order lines", len(orders)),
        ("Units to order", round(float(orders["order_qty"].sum()), 2) if len(orders) else 0),
        ("Value to order", round(float(orders["order_value"].sum()), 2) if len(orders) else 0),
        ("Suppliers ordered from today", int(orders["supplier_id"].nunique()) if len(orders) else 0),
        ("At or below reorder point, not ordered today", len(at_risk)),
        ("Exceptions", len(exc)),
    ]
    out["Summary"] = pd.DataFrame({"What": [k for k, _ in summary], "Value": [v for _, v in summary]})
    return out, kinds
