"""The policy engine on small hand-made cases: netting, calendars, lead times, overrides,
supplier minimums, the budget and the reasons."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from stockwise.planning import leadtime
from stockwise.planning.engine import Inputs, PlanConfig, plan
from stockwise.planning.position import inventory_position
from stockwise.planning.targets import TargetParams

DS = date(2025, 3, 31)  # a Monday


def _inputs(
    on_hand=20.0, on_order=0.0, mu=10.0, sigma=3.0, weekdays="mon,thu", mov=0.0, skus=("A",), cost=2.0, pack=12, moq=24
):
    fc = pd.concat(
        [
            pd.DataFrame(
                {
                    "sku": s,
                    "location_id": "S",
                    "date": pd.date_range("2025-04-01", periods=28),
                    "mean": mu,
                    "sigma": sigma,
                    "method": "test",
                }
            )
            for s in skus
        ]
    )
    items = pd.DataFrame(
        {
            "sku": list(skus),
            "name": list(skus),
            "category": "c",
            "unit_cost": cost,
            "unit_price": 2 * cost,
            "pack_size": pack,
            "moq": moq,
            "supplier_id": "V",
        }
    )
    sup = pd.DataFrame(
        {
            "supplier_id": ["V"],
            "lead_time_days_mean": [5.0],
            "lead_time_days_std": [1.0],
            "order_weekdays": [weekdays],
            "min_order_value": [mov],
        }
    )
    stock = pd.DataFrame({"date": pd.Timestamp(DS), "sku": list(skus), "location_id": "S", "on_hand": on_hand})
    oo = pd.DataFrame({"po_id": [f"P{s}" for s in skus], "sku": list(skus), "location_id": "S", "qty": on_order})
    return Inputs(forecast=fc, items=items, suppliers=sup, stock=stock, open_orders=oo)


def test_position_nets_open_orders_and_takes_the_run_dates_count():
    stock = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-03-30", "2025-03-31", "2025-04-01"]),
            "sku": "A",
            "location_id": "S",
            "on_hand": [5.0, 7.0, 99.0],
        }
    )
    oo = pd.DataFrame({"po_id": ["P1", "P2"], "sku": "A", "location_id": "S", "qty": [10.0, 4.0]})
    bo = pd.DataFrame({"sku": ["A"], "location_id": ["S"], "qty": [3.0]})
    pos = inventory_position(stock, oo, DS, bo).iloc[0]
    assert (pos.on_hand, pos.on_order, pos.backorders, pos.inventory_position) == (7, 14, 3, 18)


def test_plan_orders_whole_packs_with_a_reason_a_planner_can_read():
    r = plan(_inputs(on_hand=20, on_order=12), DS).iloc[0]
    assert r.order_today and r.order_qty > 0
    assert r.order_qty % 12 == 0 and r.order_qty >= 24
    assert r.inventory_position + r.order_qty >= r.reorder_point
    # a cycle-service target puts safety stock on top of the interval's expected demand (a fill
    # rate with a long cycle may not need any: it is measured over the whole cycle's demand)
    cyc = plan(_inputs(on_hand=20, on_order=12), DS, PlanConfig(targets=TargetParams(kind="cycle_service"))).iloc[0]
    assert cyc.reorder_point > cyc.expected_interval_demand
    for words in ("on hand 20 + on order 12", "lead time 5 ± 1 days", "fill rate", "packs of 12"):
        assert words in r.reason, r.reason
    assert r.need_by == pd.Timestamp("2025-04-05")


def test_open_orders_are_never_ordered_twice():
    none_on_order = plan(_inputs(on_hand=0, on_order=0), DS).iloc[0]
    covered = plan(_inputs(on_hand=0, on_order=400), DS).iloc[0]
    assert none_on_order.order_qty > 0
    assert covered.order_qty == 0
    assert "no order" in covered.reason


def test_no_order_on_a_day_the_supplier_does_not_take_orders():
    r = plan(_inputs(on_hand=0, weekdays="wed"), DS).iloc[0]
    assert not r.order_today and r.order_qty == 0
    assert "next order day Wed 2025-04-02" in r.reason


def test_higher_targets_and_slower_suppliers_raise_the_reorder_point():
    lo = plan(_inputs(), DS, PlanConfig(target=0.85)).iloc[0]
    hi = plan(_inputs(), DS, PlanConfig(target=0.99)).iloc[0]
    assert hi.reorder_point > lo.reorder_point
    slow = _inputs()
    slow.receipts = pd.DataFrame(
        {
            "po_id": [f"R{i}" for i in range(40)],
            "sku": "A",
            "location_id": "S",
            "qty": 12.0,
            "order_date": pd.Timestamp("2025-02-01"),
            "expected_date": pd.Timestamp("2025-02-06"),
            "received_date": pd.Timestamp("2025-02-01") + pd.to_timedelta(np.r_[[9, 10, 11, 12] * 10], unit="D"),
        }
    )
    r = plan(slow, DS).iloc[0]
    base = plan(_inputs(), DS).iloc[0]
    assert r.lead_time_days > 9 and r.lead_time_source == "receipts"
    assert r.reorder_point > base.reorder_point


def test_lead_times_shrink_towards_the_master_when_history_is_thin():
    items = pd.DataFrame({"sku": ["A"], "supplier_id": ["V"]})
    sup = pd.DataFrame({"supplier_id": ["V", "W"], "lead_time_days_mean": [5.0, 3.0], "lead_time_days_std": [1.0, 0.5]})
    rec = pd.DataFrame(
        {
            "po_id": ["1", "2"],
            "sku": "A",
            "location_id": "S",
            "qty": 1.0,
            "order_date": pd.Timestamp("2025-03-01"),
            "expected_date": pd.Timestamp("2025-03-06"),
            "received_date": pd.Timestamp("2025-03-11"),
        }
    )
    lt = leadtime.learn(rec, items, sup, DS).set_index("supplier_id")
    assert 5 < lt.loc["V", "lead_time_days_mean"] < 7  # two receipts of 10 days move it, a little
    assert lt.loc["V", "on_time_rate"] == 0
    assert lt.loc["W", "lead_time_days_mean"] == 3 and lt.loc["W", "lead_time_source"] == "supplier master"


def test_a_lanes_transfer_lead_time_is_learned_from_the_transfers_it_received():
    """The sourcing table's lead time is the prior; received transfers (in the window, by the
    run date) move it; one still on the truck, or from the future, teaches nothing."""
    src = pd.DataFrame(
        {
            "location_id": ["S1", "S2"],
            "source_id": "DC",
            "lead_time_days_mean": [1.0, 1.0],
            "lead_time_days_std": [0.3, 0.3],
            "ship_weekdays": "mon",
        }
    )
    n = 40
    ship = pd.Timestamp("2025-02-01") + pd.to_timedelta(np.arange(n), unit="D")
    tr = pd.DataFrame(
        {
            "transfer_id": [f"T{i}" for i in range(n + 2)],
            "sku": "A",
            "source_id": "DC",
            "location_id": ["S1"] * n + ["S2", "S2"],
            "qty": 1.0,
            "ship_date": list(ship) + [pd.Timestamp("2025-03-30"), pd.Timestamp("2025-04-20")],
            "expected_date": list(ship + pd.Timedelta(days=1)) + [pd.NaT, pd.NaT],
            "received_date": list(ship + pd.Timedelta(days=3)) + [pd.NaT, pd.Timestamp("2025-04-25")],
        }
    )
    lanes = leadtime.learn_lanes(tr, src, DS).set_index("location_id")
    assert 2.5 < lanes.loc["S1", "lead_time_days_mean"] < 3  # 40 trucks of three days outweigh the table's one
    assert lanes.loc["S1", "lead_time_source"] == "transfers" and lanes.loc["S1", "on_time_rate"] == 0
    assert lanes.loc["S2", "lead_time_days_mean"] == 1.0 and lanes.loc["S2", "lead_time_source"] == "sourcing table"
    assert lanes.loc["S2", "transfers"] == 0


def test_overrides_fixed_quantity_target_and_expiry():
    inp = _inputs(skus=("A", "B", "C"), on_hand=0)
    inp.overrides = pd.DataFrame(
        {
            "sku": ["A", "B", "C"],
            "location_id": ["S", None, None],
            "fixed_qty": [7.0, None, 0.0],
            "service_level": [None, 0.995, None],
            "reason": ["display", "campaign", "old"],
            "author": ["jo", "al", "jo"],
            "expires": [pd.Timestamp("2025-04-30"), None, pd.Timestamp("2025-03-01")],
        }
    )
    seg = PlanConfig(targets=TargetParams(mode="segment"))  # per-line targets: lines do not interact
    p = plan(inp, DS, seg).set_index("sku")
    base = plan(_inputs(skus=("A", "B", "C"), on_hand=0), DS, seg).set_index("sku")
    assert p.loc["A", "order_qty"] == 7 and "planner override by jo: fixed quantity 7" in p.loc["A", "reason"]
    assert p.loc["B", "target"] == 0.995 and p.loc["B", "reorder_point"] > base.loc["B", "reorder_point"]
    assert p.loc["C", "order_qty"] == base.loc["C", "order_qty"] > 0  # expired: ignored
    assert p.loc["C", "override"] == ""


def test_supplier_minimum_order_value_tops_up_urgent_orders_and_holds_the_rest():
    urgent = plan(_inputs(on_hand=0, mov=2000.0, skus=("A", "B")), DS)
    assert (urgent["order_qty"] * urgent["unit_cost"]).sum() >= 2000
    assert (urgent["order_qty"] % 12 == 0).all()
    assert urgent["reason"].str.contains("topped up to the supplier minimum").all()
    # due (at or below its reorder point) but not yet into its safety stock: it can wait
    calm = plan(_inputs(on_hand=90, mov=5000.0), DS, PlanConfig(targets=TargetParams(kind="cycle_service"))).iloc[0]
    assert calm.expected_interval_demand <= 90 <= calm.reorder_point
    assert calm.order_qty == 0 and "waits for the next order day" in calm.reason


def test_budget_cap_spends_where_shortage_costs_most():
    inp = _inputs(on_hand=0, skus=("A", "B"))
    inp.items.loc[inp.items["sku"] == "B", "unit_price"] = 40.0  # B loses far more margin per unit short
    free = plan(inp, DS)
    assert free["order_value"].sum() > 300
    capped = plan(inp, DS, PlanConfig(budget=300.0)).set_index("sku")
    assert capped["order_value"].sum() <= 300
    assert (capped["order_qty"] % 12 == 0).all()
    assert ((capped["order_qty"] == 0) | (capped["order_qty"] >= 24)).all()
    assert capped.loc["B", "order_qty"] >= capped.loc["A", "order_qty"]
    assert capped["reason"].str.contains("budget cap").any()


@pytest.mark.parametrize("policy", ["rsS", "RS", "sQ", "days_of_cover"])
@pytest.mark.parametrize("method", ["paths", "normal"])
def test_every_policy_and_method_plans(policy, method):
    r = plan(_inputs(on_hand=5), DS, PlanConfig(policy=policy, method=method)).iloc[0]
    assert r.order_qty > 0 and r.order_qty % 12 == 0 and r.policy == policy


def test_the_gate_replays_the_erps_own_minmax_policy_without_a_curve():
    from stockwise.planning.engine import plan_detail
    from stockwise.planning.gate import GateParams, check

    inp = _inputs(on_hand=0, skus=("A", "B"))
    inp.reorder_rules = pd.DataFrame(
        {"sku": ["A", "B"], "location_id": "S", "min_qty": [40.0, 40.0], "max_qty": [120.0, 120.0]}
    )
    cfg = PlanConfig(policy="minmax")
    days = pd.date_range(end=DS, periods=84)
    sales = pd.DataFrame(
        [(d, s, "S", 10.0) for d in days for s in ("A", "B")], columns=["date", "sku", "location_id", "qty"]
    )
    res = check(plan_detail(inp, DS, cfg), sales, DS, cfg, GateParams())  # used to raise: no rules for the curve
    assert res["checked"] and res["curve"] == [] and res["stockwise"]["fill_rate"] > 0


def test_minmax_policy_uses_the_erps_rules():
    inp = _inputs(on_hand=30)
    inp.reorder_rules = pd.DataFrame({"sku": ["A"], "location_id": ["S"], "min_qty": [40.0], "max_qty": [100.0]})
    r = plan(inp, DS, PlanConfig(policy="minmax")).iloc[0]
    assert (r.reorder_point, r.order_up_to) == (40, 100)
    assert r.order_qty == 72  # 100 - 30 = 70 -> 6 packs of 12 (nearest would leave 60 + 30 >= 40: 5 packs)


def test_optimized_targets_reach_the_aggregate_fill_with_less_stock_than_uniform_targets():
    inp = _inputs(skus=("CHEAP", "DEAR"), on_hand=0)
    inp.items["unit_cost"] = [0.5, 20.0]
    opt = plan(inp, DS, PlanConfig(target=0.95)).set_index("sku")
    same = plan(inp, DS, PlanConfig(target=0.95, targets=TargetParams(mode="segment", offsets={}))).set_index("sku")
    # equal demand, so the aggregate fill is the plain mean of the planned fills
    assert opt["target"].mean() >= 0.95 - 1e-9
    assert opt.loc["CHEAP", "target"] > opt.loc["DEAR", "target"] >= 0.95 - 0.05 - 1e-9
    value = lambda p: (p["reorder_point"] * p["unit_cost"]).sum()  # noqa: E731
    assert value(opt) < value(same)


def test_missing_master_data_is_an_exception_never_a_guessed_order():
    inp = _inputs(on_hand=0, skus=("A", "B", "C", "D"))
    inp.items.loc[inp.items["sku"] == "A", "unit_cost"] = np.nan  # would be planned at cost 0: orders triple
    inp.items.loc[inp.items["sku"] == "B", "pack_size"] = np.nan
    inp.items.loc[inp.items["sku"] == "C", "supplier_id"] = "NOBODY"  # a supplier the master does not know
    p = plan(inp, DS).set_index("sku")
    assert p.loc["A", "needs_master_data"] == "unit cost" and p.loc["A", "order_qty"] == 0
    assert p.loc["B", "needs_master_data"] == "pack size" and p.loc["B", "order_qty"] == 0
    assert p.loc["C", "needs_master_data"] == "supplier" and p.loc["C", "order_qty"] == 0
    assert p.loc["D", "needs_master_data"] == "" and p.loc["D", "order_qty"] > 0
    assert p.loc["A", "reason"].startswith("needs master data: the ERP has no unit cost")
    # a supplier without a lead time in its master and no receipts to learn one from
    inp = _inputs(on_hand=0)
    inp.suppliers["lead_time_days_mean"] = np.nan
    r = plan(inp, DS).iloc[0]
    assert r.needs_master_data == "lead time" and r.order_qty == 0
    # an override cannot sneak an order past it either
    inp = _inputs(on_hand=0)
    inp.items["unit_cost"] = np.nan
    inp.overrides = pd.DataFrame(
        {
            "override_id": ["o1"],
            "sku": ["A"],
            "location_id": [None],
            "fixed_qty": [48.0],
            "service_level": [None],
            "reason": ["promo"],
            "author": ["kim"],
            "expires": [pd.Timestamp("2026-01-01")],
        }
    )
    assert plan(inp, DS).iloc[0].order_qty == 0


def test_the_gate_refuses_to_vouch_for_a_plan_on_an_empty_replay_window():
    from stockwise.planning.engine import plan_detail
    from stockwise.planning.gate import GateParams, check

    inp = _inputs(on_hand=0, skus=("A", "B"))
    planned = plan_detail(inp, DS, PlanConfig())
    days = pd.date_range(end=DS, periods=84)
    full = pd.DataFrame(
        [(d, s, "S", 10.0) for d in days for s in ("A", "B")], columns=["date", "sku", "location_id", "qty"]
    )
    ok = check(planned, full, DS, PlanConfig(), GateParams())
    assert ok["checked"] and ok["stockwise"] is not None
    # data that stopped a year ago: nothing in the window, "100% fill" on no demand is no evidence
    old = full.assign(date=full["date"] - pd.Timedelta(days=365))
    res = check(planned, old, DS, PlanConfig(), GateParams())
    assert not res["passed"] and not res["checked"]
    assert res["why"].startswith("not enough recent demand to check: sales on 0 of the 56 days")
    # a short window (sales on 10 of 56 days) is not enough either
    short = full[full["date"] > pd.Timestamp(DS) - pd.Timedelta(days=10)]
    res = check(planned, short, DS, PlanConfig(), GateParams(min_days=28))
    assert not res["checked"] and "sales on 10 of the 56 days" in res["why"]


@pytest.mark.parametrize(
    ("cover", "said"),
    [
        (float("inf"), "no demand expected"),
        (10_744.0, "covers over a year"),
        (21.3, "covers 21 days"),
        (4.14, "covers 4.1 days"),
    ],
)
def test_days_of_cover_read_as_a_planner_would(cover, said):
    from types import SimpleNamespace

    from stockwise.planning.reasons import _cover

    assert _cover(SimpleNamespace(days_of_cover=cover)) == said
