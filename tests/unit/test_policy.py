from datetime import date

import numpy as np
import pandas as pd
import pytest

from stockwise.planning.policy import PolicyParams, plan, positions, review_period_days, round_order

DS = date(2025, 3, 31)


def test_round_order_packs_and_moq():
    got = round_order(np.array([0.0, -3, 1, 13, 5]), np.array([6, 6, 6, 6, 4]), np.array([0, 0, 12, 0, 10]))
    # nothing needed -> 0; 1 needed with MOQ 12 -> 12; 13 -> 3 packs of 6; MOQ 10 in packs of 4 -> 12
    assert got.tolist() == [0, 0, 12, 18, 12]


def test_review_period_from_order_weekdays():
    assert review_period_days(pd.Series(["mon,thu", "wed", "mon,tue,wed,thu,fri,sat,sun"])).tolist() == [3.5, 7.0, 1.0]


def test_positions_net_open_orders_and_take_last_count():
    stock = pd.DataFrame({
        "date": pd.to_datetime(["2025-03-30", "2025-03-31", "2025-04-01"]),
        "sku": ["A"] * 3, "location_id": ["S"] * 3, "on_hand": [5.0, 7.0, 99.0],
    })
    oo = pd.DataFrame({"po_id": ["P1", "P2"], "sku": ["A", "A"], "location_id": ["S", "S"], "qty": [10.0, 4.0]})
    pos = positions(stock, oo, DS)
    assert pos.loc[0, "on_hand"] == 7.0  # the count of the run date, not a later one
    assert pos.loc[0, "on_order"] == 14.0


def _inputs(on_hand: float, on_order: float, mu: float = 10.0, sigma: float = 3.0):
    fc = pd.DataFrame({
        "sku": "A", "location_id": "S", "date": pd.date_range("2025-04-01", periods=28),
        "mean": mu, "sigma": sigma, "method": "test",
    })
    items = pd.DataFrame({"sku": ["A"], "name": ["a"], "category": ["c"], "unit_cost": [2.0],
                          "pack_size": [12], "moq": [24], "supplier_id": ["V"]})
    sup = pd.DataFrame({"supplier_id": ["V"], "lead_time_days_mean": [5.0], "lead_time_days_std": [1.0],
                        "order_weekdays": ["mon"], "min_order_value": [0.0]})
    stock = pd.DataFrame({"date": [pd.Timestamp(DS)], "sku": ["A"], "location_id": ["S"], "on_hand": [on_hand]})
    oo = pd.DataFrame({"po_id": ["P"], "sku": ["A"], "location_id": ["S"], "qty": [on_order]})
    return fc, items, sup, stock, oo


def test_plan_orders_up_to_target_in_packs_with_a_reason():
    r = plan(*_inputs(on_hand=20, on_order=12), DS, PolicyParams(service_level=0.95)).iloc[0]
    P = 5 + 7  # lead time + weekly review
    sigma_p = np.sqrt(P * 3**2 + 10**2 * 1**2)
    assert r.order_up_to == pytest.approx(10 * P + 1.6448536 * sigma_p, rel=1e-6)
    need = r.order_up_to - 32
    assert r.order_qty == np.ceil(need / 12) * 12
    assert r.order_qty % 12 == 0 and r.order_qty >= 24
    assert "on order 12" in r.reason and "pack(s) of 12" in r.reason
    assert r.need_by == pd.Timestamp("2025-04-05")


def test_open_orders_are_not_ordered_twice():
    fc, items, sup, stock, _ = _inputs(on_hand=0, on_order=0)
    no_oo = plan(fc, items, sup, stock, pd.DataFrame(columns=["po_id", "sku", "location_id", "qty"]), DS, PolicyParams())
    with_oo = plan(*_inputs(on_hand=0, on_order=240), DS, PolicyParams())
    assert no_oo.iloc[0].order_qty > 0
    assert with_oo.iloc[0].order_qty == 0
    assert with_oo.iloc[0].reason.endswith("no order.")


def test_higher_service_level_never_orders_less():
    lo = plan(*_inputs(on_hand=30, on_order=0), DS, PolicyParams(service_level=0.8)).iloc[0]
    hi = plan(*_inputs(on_hand=30, on_order=0), DS, PolicyParams(service_level=0.99)).iloc[0]
    assert hi.safety_stock > lo.safety_stock
    assert hi.order_qty >= lo.order_qty
