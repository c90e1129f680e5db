"""The report's worklist tables: what a planner acts on first, capped pages, an allowed script."""

import base64
import hashlib
import re

import numpy as np
import pandas as pd

from stockwise import worklist


def _lines(n=3):
    return pd.DataFrame(
        {
            "Need by": pd.to_datetime(["2026-01-05", "2026-01-20", "2025-12-30"][:n] + ["2026-02-01"] * (n - 3)),
            "SKU": [f"S{i}" for i in range(n)],
            "Supplier": ["B", "A", "A"][:n] + ["C"] * (n - 3),
            "Order value": [10.0, 2.5, np.nan][:n] + [1.0] * (n - 3),
            "Days of cover": [30.0, 3.0, np.nan][:n] + [1.0] * (n - 3),
            "Reason": ["<b>x</b>", "y", "z"][:n] + ["w"] * (n - 3),
        }
    )


def test_runs_out_and_the_lines_to_act_on_first():
    book = {"Order lines": _lines()}
    page = worklist.sections("2026-01-01", book, {"Order lines": {"Order value": "money", "Need by": "date"}})
    rows = re.findall(r"<tr(?: class='late')?>.*?</tr>", page.split("<tbody>")[1])
    # S0 runs out on 01-31, after its need-by date: fine; S1 runs out on 01-04, before its
    # need-by date of 01-20: red; S2's need-by date has passed: red (and no demand: no run-out day)
    assert ["class='late'" in r for r in rows] == [False, True, True]
    assert "2026-01-31" in rows[0] and "2026-01-04" in rows[1]
    assert "In red (2)" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # text is escaped
    # numbers sort on their raw value; a missing one sorts first, shown empty
    assert "data-v='10.0'>10.00</td>" in page and "data-v='-1e308'></td>" in page
    # filters only for the columns the table has
    assert "aria-label='Supplier'" in page and "aria-label='Location'" not in page


def test_a_long_table_shows_its_first_rows_and_says_where_the_rest_are(monkeypatch):
    monkeypatch.setattr(worklist, "MAX_ROWS", 5)
    page = worklist.table(_lines(12), {}, "t")
    assert page.count("<tr>") + page.count("<tr class='late'>") == 5 + 1
    assert "The first 5 of 12 rows; the Excel has them all." in page


def test_the_page_policy_allows_exactly_the_worklist_script():
    digest = base64.b64encode(hashlib.sha256(worklist.SCRIPT.encode()).digest()).decode()
    assert worklist.script_hash() == f"'sha256-{digest}'"


def test_supplier_performance_promised_against_actual_and_its_trend():
    """A supplier promising 10 days that took 12 then 16 (slower lately), one on time, one
    without receipts (the master only); shown in red where a planner should question it."""
    from datetime import date

    from stockwise import workbook
    from stockwise.planning import leadtime

    ds = date(2025, 12, 31)
    suppliers = pd.DataFrame(
        {"supplier_id": ["A", "B", "C"], "lead_time_days_mean": [10.0, 5.0, 7.0], "lead_time_days_std": [1.0] * 3}
    )
    items = pd.DataFrame({"sku": ["a", "b"], "supplier_id": ["A", "B"]})
    rows = []
    for i in range(40):  # A: 12 days until October, 16 days since (late against 10 promised)
        ordered = pd.Timestamp("2025-02-01") + pd.Timedelta(days=7 * i)
        lt = 16 if ordered > pd.Timestamp("2025-10-01") else 12
        rows.append(("a", ordered, ordered + pd.Timedelta(days=lt), ordered + pd.Timedelta(days=10)))
        rows.append(("b", ordered, ordered + pd.Timedelta(days=5), ordered + pd.Timedelta(days=5)))
    receipts = pd.DataFrame(rows, columns=["sku", "order_date", "received_date", "expected_date"])
    perf = leadtime.performance(receipts, items, suppliers, ds).set_index("supplier_id")
    a, b, c = perf.loc["A"], perf.loc["B"], perf.loc["C"]
    a_rows = receipts[receipts["sku"] == "a"]
    recent = a_rows["received_date"] > pd.Timestamp(ds) - pd.Timedelta(days=90)
    took = (a_rows["received_date"] - a_rows["order_date"]).dt.days
    assert a["promised_days"] == 10 and a["on_time_rate"] == 0 and a["actual_days"] == took.mean()
    assert a["recent_days"] == took[recent].mean() and a["trend_days"] == took[recent].mean() - took[~recent].mean()
    assert a["trend_days"] > 2  # slower lately
    assert b["actual_days"] == 5 and b["on_time_rate"] == 1 and b["trend_days"] == 0
    assert c["receipts"] == 0 and c["lead_time_source"] == "supplier master" and np.isnan(c["actual_days"])

    book, kinds = workbook.sheets(
        pd.DataFrame(columns=["need_by", "order_value", "days_of_cover"]),
        pd.DataFrame(columns=["inventory_position", "reorder_point", "order_qty", "days_of_cover"]),
        [],
        suppliers=perf.reset_index(),
    )
    page = worklist.sections(ds.isoformat(), book, kinds)
    section = page.split("Supplier performance")[1]
    rows_html = re.findall(r"<tr(?: class='late')?>.*?</tr>", section.split("<tbody>")[1].split("</tbody>")[0])
    assert ["class='late'" in r for r in rows_html] == [True, False, False]  # A late; B on time; C unmeasured


def test_a_page_per_line_safe_names_escaped_text_capped(monkeypatch):
    """Each line's page: a file name that cannot leave the folder and never collides, hostile
    item text escaped, a chart even without history or forecast, at most MAX_PAGES pages."""
    from stockwise import drilldown

    assert drilldown.slug("../../etc/passwd", "ST01").startswith(".._.._etc_passwd_ST01-")
    assert "/" not in drilldown.slug("a/b", "c") and drilldown.slug("a/b", "c") != drilldown.slug("a_b", "c")
    line = {
        "sku": "<script>alert(1)</script>",
        "location_id": "ST00",
        "name": "<img src=x onerror=alert(2)>",
        "supplier_id": "S",
        "segment": "AX",
        "target": 0.95,
        "target_kind": "fill_rate",
        "on_hand": 3.0,
        "on_order": 0.0,
        "inventory_position": 3.0,
        "mu_d": 2.0,
        "sigma_d": 1.0,
        "lead_time_days": 5.0,
        "lead_time_days_std": 1.0,
        "lead_time_source": "receipts",
        "reorder_point": 12.0,
        "order_up_to": 20.0,
        "order_qty": 17.0,
        "order_value": 34.0,
        "need_by": pd.Timestamp("2026-01-06"),
        "forecast_method": "baseline",
        "reason": "on hand 3 <b>",
    }
    lines = pd.DataFrame([line, {**line, "sku": "B"}, {**line, "sku": "C"}])
    days = pd.date_range("2025-12-01", "2025-12-31")
    panel = pd.DataFrame({"sku": "B", "location_id": "ST00", "date": days, "qty": 2.0, "stockout": days.day == 5})
    fc = pd.DataFrame(
        {"sku": "B", "location_id": "ST00", "date": pd.date_range("2026-01-01", periods=14), "mean": 2.0}
    ).assign(p10=1.0, p50=2.0, p90=3.0)
    monkeypatch.setattr(drilldown, "MAX_PAGES", 2)
    pages = drilldown.pages("2025-12-31", lines, panel, fc, None)
    assert len(pages) == 2 and all(k.startswith("positions/") for k in pages)
    first = pages[f"positions/{drilldown.slug(line['sku'], 'ST00')}"]
    assert "<script>" not in first and "onerror=alert(2)>" not in first and "&lt;script&gt;" in first
    assert "script-src" not in first and "default-src 'none'" in first  # no script at all on these pages
    assert first.count("data:image/png;base64,") == 1 and "on hand 3 &lt;b&gt;" in first


def test_the_plan_in_money_against_the_previous_plan():
    from stockwise import finance

    pos = pd.DataFrame(
        {
            "supplier_id": ["A", "A", "B"],
            "category": ["x", "y", "x"],
            "unit_cost": [2.0, 10.0, np.nan],  # a missing cost counts as nothing, never NaN totals
            "on_hand": [10.0, -3.0, 5.0],  # a negative book is no stock
            "on_order": [5.0, 0.0, 1.0],
            "mu_d": [1.0, 0.5, 2.0],
            "order_qty": [6.0, 0.0, 4.0],
        }
    )
    f = finance.figures(pos, holding_rate=0.25)
    assert f["inventory_value"] == 20 and f["on_order_value"] == 10 and f["order_value"] == 12
    assert f["turnover"] == 365 * 7 / 20 and f["days_of_supply"] == 20 / 7 and f["carrying_cost_year"] == 5
    t = finance.by(pos, "supplier_id").set_index("supplier_id")
    assert t.loc["A", "inventory_value"] == 20 and t.loc["A", "lines"] == 1 and t.loc["B", "order_value"] == 0
    assert np.isnan(t.loc["B", "days_of_supply"])  # no demand at cost: no days of supply, not inf
    page = finance.section(f, {**f, "order_value": 8.0}, "2025-12-30", "EUR")
    assert "previous plan (2025-12-30)" in page and "12 EUR" in page and "+50%" in page
    assert "No earlier official plan" in finance.section(f, None, None, "")


def test_a_one_page_pdf_summary_for_management():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stockwise import summary_pdf
    from stockwise.report import _png

    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    chart = _png(fig)
    orders = pd.DataFrame(
        {
            "sku": [f"S{i}" for i in range(30)],
            "location_id": "L",
            "supplier_id": "A",
            "order_qty": 5.0,
            "order_value": np.arange(30, dtype=float),
            "need_by": pd.Timestamp("2026-01-05"),
        }
    )
    po = pd.DataFrame({"Supplier": ["A"], "Lines": [30], "Order value": [435.0], "Minimum order value": [100.0]})
    money = {"inventory_value": 1e5, "carrying_cost_year": 2.5e4, "turnover": float("nan"), "days_of_supply": 12.0}
    pdf = summary_pdf.pdf_bytes(
        "2025-12-31",
        "",
        "Plan SW-2025-12-31",
        [("order lines", "30")],
        money,
        "EUR",
        chart,
        orders,
        po.assign(**{"Meets the minimum": "yes"}),
    )
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") == 1
    assert b"/Subtype /Image" in pdf  # the cost-of-service chart


def test_the_report_parts_without_their_inputs():
    """An ERP without receipts, a plan without a simulation, a move of the champion without a
    reason: each part says what it can, or refuses clearly, and nothing breaks the report."""
    from datetime import date

    import pytest

    from stockwise import registry, summary_pdf
    from stockwise.planning import leadtime

    suppliers = pd.DataFrame({"supplier_id": ["A"], "lead_time_days_mean": [7.0], "lead_time_days_std": [1.0]})
    perf = leadtime.performance(None, pd.DataFrame({"sku": ["a"], "supplier_id": ["A"]}), suppliers, date(2025, 12, 31))
    assert perf.loc[0, "receipts"] == 0 and perf.loc[0, "planned_days"] == 7 and np.isnan(perf.loc[0, "actual_days"])
    money = {
        "inventory_value": 0.0,
        "carrying_cost_year": 0.0,
        "turnover": float("nan"),
        "days_of_supply": float("nan"),
    }
    empty = pd.DataFrame(columns=["sku", "location_id", "supplier_id", "order_qty", "order_value", "need_by"])
    pdf = summary_pdf.pdf_bytes("2025-12-31", "", "Plan x", [], money, "", None, empty, None)
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf  # no chart without a simulation
    with pytest.raises(ValueError, match="say why"):
        registry.set_champion(None, registry.DEMAND, 3, "  ")


def test_each_line_lists_its_exception_kinds_and_the_filter_offers_each_kind():
    """A planner filters the worklist on one kind of exception: a planner override, stock in
    doubt, an open anomaly, an order below its supplier's minimum, a line running out before its
    need-by date or past it; a line with several kinds matches each of them."""
    from stockwise import workbook

    base = {
        "location_id": "ST01",
        "name": "x",
        "category": "soda",
        "segment": "AX",
        "on_hand": 1.0,
        "on_order": 0.0,
        "inventory_position": 1.0,
        "mu_d": 1.0,
        "reorder_point": 5.0,
        "order_up_to": 9.0,
        "order_qty": 8.0,
        "unit_cost": 1.0,
        "order_value": 8.0,
        "min_order_value": 0.0,
        "order_today": True,
        "next_order_date": pd.Timestamp("2026-01-02"),
        "reason": "r",
        "pack_size": 4.0,
        "moq": 4.0,
        "lead_time_days": 6.2,
    }
    orders = pd.DataFrame(
        [
            {
                **base,
                "sku": "A",
                "supplier_id": "S1",
                "days_of_cover": 30.0,
                "need_by": pd.Timestamp("2026-01-05"),
                "override": "planner override by j.doe: fixed quantity 8",
                "pack_size": 6.0,
                "lead_time_days": 9.5,
            },
            {
                **base,
                "sku": "B",
                "supplier_id": "S1",
                "days_of_cover": 2.0,
                "need_by": pd.Timestamp("2026-01-10"),
                "stock_note": "book shows 9 on hand but nothing sold",
            },
            {
                **base,
                "sku": "C",
                "supplier_id": "S2",
                "days_of_cover": 40.0,
                "need_by": pd.Timestamp("2025-12-30"),
                "min_order_value": 100.0,
            },
        ]
    )
    alerts = pd.DataFrame(
        {
            "sku": ["B", "B", "A"],
            "location_id": "ST01",
            "type": ["phantom_stock", "shrinkage", "fat_finger"],
            "open": [True, True, False],
            "value_at_risk": 1.0,
        }
    )
    book, kinds = workbook.sheets(
        orders, orders.assign(order_qty=8.0), [], None, alerts, ds="2026-01-01", supplier_names={"S1": "Northfield"}
    )
    lines = book["Order lines"].set_index("SKU")
    # 8 is not a multiple of A's pack of 6: the buyer sees it; its fat-finger alert is closed
    assert lines.loc["A", "Exceptions"] == "planner override, override off pack or MOQ"
    assert lines.loc["B", "Exceptions"] == "stock in doubt, anomaly: phantom stock, anomaly: shrinkage"
    assert lines.loc["C", "Exceptions"] == "below supplier minimum"  # S2 orders 8 of a 100 minimum
    assert list(book)[:3] == ["Summary", "Order lines", "Purchase orders"]
    assert lines.loc["A", "Category"] == "soda"
    po = book["Purchase orders"].set_index("Supplier")
    assert po.loc["S1", "Supplier name"] == "Northfield" and po.loc["S2", "Supplier name"] is None  # S2: no name
    assert po.loc["S1", "Overrides off pack/MOQ"] == 1 and po.loc["S2", "Overrides off pack/MOQ"] == 0
    assert po.loc["S1", "Order day"] == pd.Timestamp("2026-01-01")
    assert po.loc["S1", "Expected arrival"] == pd.Timestamp("2026-01-11")  # A's 9.5 days, the longer
    assert po.loc["S2", "Expected arrival"] == pd.Timestamp("2026-01-08") and po.loc["S2", "Meets the minimum"] == "no"

    page = worklist.sections("2026-01-01", book, kinds)
    table = page.split("id='worklist'")[1].split("</table>")[0]
    rows = {
        re.search(r"<td>([ABC])</td>", r).group(1): r for r in re.findall(r"<tr.*?</tr>", table.split("<tbody>")[1])
    }
    assert "stock in doubt, anomaly: phantom stock, anomaly: shrinkage, runs out before need-by" in rows["B"]
    assert "below supplier minimum, need-by passed" in rows["C"]
    tools = page.split("data-table='worklist'")[1].split("</div>")[0]
    select = re.search(r"<select data-col='(\d+)' data-multi aria-label='Exceptions'>(.*?)</select>", tools)
    assert select and int(select.group(1)) == worklist.WORKLIST.index("Exceptions")
    offered = re.findall(r"<option>(.*?)</option>", select.group(2))
    assert offered == sorted(
        [
            "planner override",
            "override off pack or MOQ",
            "stock in doubt",
            "anomaly: phantom stock",
            "anomaly: shrinkage",
            "runs out before need-by",
            "below supplier minimum",
            "need-by passed",
        ]
    )
    assert "aria-label='Category'" in tools and "split(', ')" in worklist.SCRIPT
    po_rows = re.findall(r"<tr.*?</tr>", page.split("id='purchase-orders'")[1].split("<tbody>")[1].split("</tbody>")[0])
    assert ["class='late'" in r for r in po_rows] == [True, True]  # S1: an override off pack; S2: under its minimum
    assert "1 line(s) a planner fixed off the pack multiple or under the MOQ." in page
