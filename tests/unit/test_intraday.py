"""Stock events applied to positions, and the intraday replan's decisions (pure functions)."""

import html
import json
from datetime import date

import pandas as pd
import pytest

from stockwise import events as ev
from stockwise.planning import intraday

T = "2026-01-01T{:02d}:00:00+00:00"


def _frame(*rows) -> pd.DataFrame:
    return ev.frame(
        [
            ev.parse({"v": 1, "id": f"e{i}", "kind": k, "sku": s, "location_id": "L", "qty": q, "at": T.format(h), **x})
            for i, (k, s, q, h, x) in enumerate(rows)
        ]
    )


def test_events_apply_in_the_order_they_happened_whatever_order_they_arrive():
    pos = pd.DataFrame({"sku": ["A", "B"], "location_id": "L", "on_hand": [10.0, 5.0], "on_order": [0.0, 8.0]})
    rows = [
        ("movement", "A", -3, 9, {}),  # before the count: the count overrides it
        ("count", "A", 4, 10, {}),
        ("movement", "A", -1, 11, {}),  # after the count: counts from 4
        ("receipt", "B", 6, 9, {"po_id": "PO1", "expected_qty": 8}),
        ("stockout", "B", None, 12, {}),
        ("movement", "Z", -2, 9, {}),  # a position the plan does not hold
    ]
    a = ev.apply(pos, _frame(*rows)).set_index("sku")
    b = ev.apply(pos, _frame(*reversed(rows))).set_index("sku")
    pd.testing.assert_frame_equal(a.drop(columns="events"), b.drop(columns="events"))
    assert a.loc["A", "on_hand"] == 3 and a.loc["A", "events"] == 3
    assert (a.loc["B", "on_hand"], a.loc["B", "on_order"]) == (0.0, 2.0)  # received 6 of 8, then found empty
    assert a.loc["Z", "on_hand"] == -2 and a.loc["Z", "on_order"] == 0
    assert len(ev.short_receipts(_frame(*rows), 0.1)) == 1 and ev.short_receipts(_frame(*rows), 0.3).empty


def test_a_position_outside_the_plan_or_without_master_data_is_never_ordered():
    plan = pd.DataFrame(
        {
            "sku": ["A"],
            "location_id": ["L"],
            "supplier_id": [None],
            "on_hand": [5.0],
            "on_order": [0.0],
            "reorder_point": [8.0],
            "order_up_to": [20.0],
            "safety_stock": [3.0],
            "order_today": [True],
            "order_qty": [0.0],
            "needs_master_data": ["supplier"],
            "policy": ["rsS"],
            "unit_cost": [1.0],
        }
    )
    r = intraday.replan(
        plan, _frame(("movement", "A", -4, 9, {}), ("movement", "Z", -1, 9, {})), None, date(2026, 1, 1)
    )
    assert r.lines.empty
    why = r.positions.set_index("sku")["reason"]
    assert "master data missing" in why["A"] and "not in the plan in force" in why["Z"]
    assert set(r.exceptions["kind"]) == {"below_safety_stock"}  # A: 1 < 3


@pytest.mark.parametrize(
    "raw, why",
    [
        (
            {"v": 1, "id": "1", "kind": "sale", "sku": "A", "location_id": "S", "qty": 1, "at": "2026-01-01T00:00:00Z"},
            "'kind'",
        ),
        (
            {
                "v": 1,
                "id": "1",
                "kind": "count",
                "sku": "A",
                "location_id": "S",
                "qty": -1,
                "at": "2026-01-01T00:00:00Z",
            },
            "negative",
        ),
        (
            {
                "v": 1,
                "id": "1",
                "kind": "movement",
                "sku": "A",
                "location_id": "S",
                "qty": "x",
                "at": "2026-01-01T00:00:00Z",
            },
            "'qty'",
        ),
        (
            {
                "v": 1,
                "id": "1",
                "kind": "movement",
                "sku": "A",
                "location_id": "S",
                "qty": 1,
                "at": "2026-01-01T00:00:00",
            },
            "offset",
        ),
        ({"v": 1, "id": "1", "kind": "movement", "location_id": "S", "qty": 1, "at": "2026-01-01T00:00:00Z"}, "'sku'"),
        (
            {
                "v": 1,
                "id": "1",
                "kind": "movement",
                "sku": "A\x00",
                "location_id": "S",
                "qty": 1,
                "at": "2026-01-01T00:00:00Z",
            },
            "control",
        ),
        (
            {
                "v": 1,
                "id": "1",
                "kind": "movement",
                "sku": "A",
                "location_id": "S",
                "qty": float("nan"),
                "at": "2026-01-01T00:00:00Z",
            },
            "finite",
        ),
    ],
)
def test_a_bad_event_is_refused_naming_the_field(raw, why):
    with pytest.raises(ev.BadEvent, match=why):
        ev.parse(json.dumps(raw))


def test_the_reports_intraday_part_escapes_names_and_says_what_it_leaves_out():
    from stockwise import report

    n = report.INTRADAY_ROWS + 1
    exc = pd.DataFrame(
        {"sku": ["<script>x</script>"] + [f"S{i}" for i in range(1, n)], "location_id": "L1", "kind": "short_receipt"}
    ).assign(detail="d", revision=1)
    part = report._intraday_day("2026-01-01", {"revision": 1, "plan_id": "SW-2025-12-31-r1"}, exc, None, html.escape)
    assert part.count("<tr>") == report.INTRADAY_ROWS + 1  # the header and the first rows
    assert f"The first {report.INTRADAY_ROWS:,} of {n:,}" in part and f"{n:,} exception(s) and 0 line(s)" in part
    assert "<script>" not in part and "&lt;script&gt;" in part


def test_a_network_plans_lines_raise_exceptions_but_are_left_to_the_nightly_plan():
    plan = pd.DataFrame(
        {
            "sku": ["A", "A", "B"],
            "location_id": ["L", "DC", "L"],
            "supplier_id": ["DC", "V", "V"],
            "on_hand": [5.0, 40.0, 5.0],
            "on_order": [0.0, 0.0, 0.0],
            "reorder_point": [8.0, 50.0, 8.0],
            "order_up_to": [20.0, 90.0, 20.0],
            "safety_stock": [3.0, 10.0, 3.0],
            "order_today": [True, True, True],
            "order_qty": [0.0, 0.0, 0.0],
            "needs_master_data": ["", "", ""],
            "policy": ["rsS", "rsS", "rsS"],
            "unit_cost": [1.0, 1.0, 1.0],
            "order_type": ["transfer", "purchase", "purchase"],
            "echelon": ["store", "dc", "store"],
        }
    )
    events = ev.frame(
        [
            ev.parse(
                {"v": 1, "id": f"e{i}", "kind": "movement", "sku": s, "location_id": loc, "qty": -4, "at": T.format(9)}
            )  # fmt: skip
            for i, (s, loc) in enumerate([("A", "L"), ("A", "DC"), ("B", "L")])
        ]
    )
    r = intraday.replan(plan, events, None, date(2026, 1, 1))
    # only the store that buys from its supplier is reordered; the transfer and the DC wait for the night
    assert r.lines[["sku", "location_id"]].values.tolist() == [["B", "L"]]
    why = r.positions.set_index(["sku", "location_id"])["reason"]
    assert "network plan" in why[("A", "L")] and "network plan" in why[("A", "DC")]
    assert ("A", "L") in set(map(tuple, r.exceptions[["sku", "location_id"]].values))  # 1 < 3: still raised
