"""The planner's workbook as Excel shows it: sheets to act on, formats, no float noise, no inf."""

import io

import numpy as np
import pandas as pd
from openpyxl import load_workbook

from stockwise import exports, workbook


def _positions() -> pd.DataFrame:
    base = {
        "name": "item",
        "category": "c",
        "segment": "AX",
        "target": 0.95,
        "on_order": 0.0,
        "pack_size": 6,
        "unit_cost": 2.5,
        "min_order_value": 100.0,
        "next_order_date": pd.Timestamp("2026-01-05"),
        "override": "",
        "supplier_note": "",
        "budget_note": "",
        "needs_master_data": "",
        "reason": "why",
    }
    rows = [
        # ordered today, float noise in its value, a low target: reorder point under expected demand
        dict(
            sku="A",
            location_id="S1",
            supplier_id="SUP1",
            on_hand=3.0,
            inventory_position=3.0,
            mu_d=2.0,
            reorder_point=10.0,
            order_up_to=20.0,
            safety_stock=-1.5,
            order_qty=18.0,
            order_value=297.7499999999999,
            need_by=pd.Timestamp("2026-01-09"),
            order_today=True,
        ),
        # below its reorder point, supplier not ordered today: at risk, with the next order day
        dict(
            sku="B",
            location_id="S1",
            supplier_id="SUP2",
            on_hand=1.0,
            inventory_position=1.0,
            mu_d=0.001,
            reorder_point=4.0,
            order_up_to=8.0,
            safety_stock=1.0,
            order_qty=0.0,
            order_value=0.0,
            need_by=pd.NaT,
            order_today=False,
        ),
        # no demand: days of cover empty, not inf
        dict(
            sku="C",
            location_id="S2",
            supplier_id="SUP1",
            on_hand=5.0,
            inventory_position=5.0,
            mu_d=0.0,
            reorder_point=0.0,
            order_up_to=0.0,
            safety_stock=0.0,
            order_qty=0.0,
            order_value=0.0,
            need_by=pd.NaT,
            order_today=True,
        ),
        # no lead time in the ERP: an exception, at risk
        dict(
            sku="D",
            location_id="S2",
            supplier_id="SUP1",
            on_hand=0.0,
            inventory_position=0.0,
            mu_d=1.0,
            reorder_point=5.0,
            order_up_to=9.0,
            safety_stock=2.0,
            order_qty=0.0,
            order_value=0.0,
            need_by=pd.NaT,
            order_today=True,
            needs_master_data="lead time",
        ),
    ]
    df = pd.DataFrame([{**base, **r} for r in rows])
    # as the engine computes it
    df["days_of_cover"] = np.where(df["mu_d"] > 0, df["inventory_position"] / df["mu_d"].where(df["mu_d"] > 0), np.inf)
    return df


def test_the_workbook_is_a_planners_worklist():
    pos = _positions()
    orders = pos[pos["order_qty"] > 0]
    exc = pd.DataFrame(
        {"sku": ["D"], "location_id": ["S2"], "kind": ["needs_master_data"], "detail": ["missing lead time"]}
    )
    book, kinds = workbook.sheets(orders, pos, [("Plan", "SW-1")], exc, None)
    wb = load_workbook(io.BytesIO(exports.xlsx_bytes(book, kinds)))
    assert wb.sheetnames == [
        "Summary",
        "Order lines",
        "Purchase orders",
        "At risk, not ordered",
        "Exceptions",
        "All positions",
    ]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref and ws["A1"].font.b

    def table(name):
        rows = list(wb[name].iter_rows())
        head = [c.value for c in rows[0]]
        return [dict(zip(head, r, strict=True)) for r in rows[1:]]

    line = table("Order lines")[0]
    assert line["Order value"].value == 297.75 and line["Order value"].number_format == "#,##0.00"
    assert line["Need by"].value.date().isoformat() == "2026-01-09" and line["Need by"].number_format == "yyyy-mm-dd"
    assert line["Target fill"].number_format == "0.0%"
    assert line["Safety stock"].value == 0  # never negative
    assert line["Days of cover"].value == 1.5

    risk = {r["SKU"].value: r for r in table("At risk, not ordered")}
    assert set(risk) == {"B", "D"}
    assert "not ordered today: next on 2026-01-05" in risk["B"]["Why not ordered today"].value
    assert risk["D"]["Why not ordered today"].value == "needs master data: lead time"
    assert risk["B"]["Days of cover"].value == workbook.MAX_COVER_DAYS  # 1,000 days: capped

    every = {r["SKU"].value: r for r in table("All positions")}
    assert every["C"]["Days of cover"].value is None  # no demand: empty, not inf
    assert not any(
        isinstance(c.value, float) and not np.isfinite(c.value) for ws in wb for row in ws.iter_rows() for c in row
    )

    po = {r["Supplier"].value: r for r in table("Purchase orders")}
    assert po["SUP1"]["Lines"].value == 1 and po["SUP1"]["Meets the minimum"].value == "yes"
    summary = {r["What"].value: r["Value"].value for r in table("Summary")}
    assert summary["Plan"] == "SW-1" and summary["At or below reorder point, not ordered today"] == 2
    assert summary["Value to order"] == 297.75
