"""Properties of order quantities and of the simulator, over generated cases (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from stockwise.planning.quantity import POLICIES, order_quantity, round_order
from stockwise.planning.simulator import SimItems, SimParams, SimPolicy, simulate

qty = st.floats(min_value=-500, max_value=5000, allow_nan=False)
packs = st.integers(min_value=1, max_value=48)
moqs = st.integers(min_value=0, max_value=200)


@given(
    raw=qty,
    pack=packs,
    moq=moqs,
    position=st.floats(-50, 500, allow_nan=False),
    rounding=st.sampled_from(["up", "nearest"]),
)
def test_rounded_quantities_are_whole_packs_at_least_moq_never_negative(raw, pack, moq, position, rounding):
    s = position + max(raw, 0) * 0.7  # some reorder point the need reaches past
    got = float(
        round_order(np.array([raw]), np.array([pack]), np.array([moq]), np.array([position]), np.array([s]), rounding)[
            0
        ]
    )
    assert got >= 0
    assert got % pack == 0
    if raw > 1e-6:
        assert got >= moq
        assert got > 0
        # rounding never leaves the position below the reorder point the need was computed for
        assert position + got >= s - 1e-6
    else:
        assert got == 0
    if rounding == "up" and raw > 1e-6:  # below that a need is float noise: nothing is ordered (above)
        assert got >= raw - 1e-9


@given(
    policy=st.sampled_from(POLICIES),
    position=st.floats(-20, 400, allow_nan=False),
    on_order=st.floats(0, 400, allow_nan=False),
    s=st.floats(0, 300, allow_nan=False),
    gap=st.floats(1, 300, allow_nan=False),
    pack=packs,
    moq=moqs,
)
def test_every_policy_orders_whole_packs_and_nets_open_orders(policy, position, on_order, s, gap, pack, moq):
    args = (np.array([s]), np.array([s + gap]), np.array([gap]), policy, np.array([pack]), np.array([moq]))
    without = float(order_quantity(np.array([position]), *args)[0])
    with_oo = float(order_quantity(np.array([position + on_order]), *args)[0])
    for q in (without, with_oo):
        assert q >= 0 and q % pack == 0
        assert q == 0 or q >= moq
    # what is already on order is never ordered again: more on order never means a larger order
    assert with_oo <= without + 1e-9


def _items(n, rng):
    return SimItems(
        unit_cost=rng.uniform(0.5, 9, n),
        unit_price=rng.uniform(1, 15, n),
        pack=rng.choice([1, 4, 6, 12], n).astype(float),
        moq=rng.choice([0, 6, 12], n).astype(float),
        lead_mean=rng.uniform(1, 9, n),
        lead_std=rng.uniform(0, 3, n),
        order_mask=rng.random((n, 7)) < 0.4,
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 12),
    days=st.integers(10, 80),
    policy=st.sampled_from(["rsS", "RS", "sQ", "minmax"]),
)
def test_simulator_conserves_units(seed, n, days, policy):
    rng = np.random.default_rng(seed)
    demand = rng.poisson(rng.uniform(0, 8, (n, 1)), (n, days)).astype(float)
    s = rng.uniform(0, 60, n)
    pol = SimPolicy(
        "p", s, s + rng.uniform(1, 60, n), rng.uniform(1, 40, n), policy, "nearest" if policy != "minmax" else "up"
    )
    r = simulate(
        demand,
        pd.date_range("2025-01-01", periods=days),
        _items(n, rng),
        pol,
        SimParams(seed=seed, warmup_days=min(5, days - 1)),
    )
    p = r.per_series
    # start + receipts - sales - end = 0 for every item
    np.testing.assert_allclose(p["start_on_hand"] + p["received"] - p["sold_total"] - p["end_on_hand"], 0, atol=1e-6)
    assert (r.on_hand >= -1e-9).all()
    assert (p["sold"] <= p["demand"] + 1e-9).all()
    assert 0 <= r.kpis["fill_rate"] <= 1
    assert 0 <= r.kpis["cycle_service_level"] <= 1
