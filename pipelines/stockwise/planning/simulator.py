"""The policy simulator: replay demand day by day under any policy, with the supplier's review
calendar, pack and MOQ rounding and stochastic lead times, and measure what a planner and a
controller care about.

Each day: the receipts due arrive, demand is served from stock (what stock cannot serve is lost,
as in retail), and on the supplier's order days the policy looks at the inventory position (on
hand + on order) and orders; the order arrives after a lead time drawn from the supplier's
distribution. Lead times are drawn once per (series, order day), so two policies replayed with
the same seed face the same supplier (common random numbers: their difference is the policy's,
not the dice's). The first `warmup_days` settle the starting stock and are not measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockwise.planning.quantity import order_quantity


@dataclass(frozen=True)
class SimItems:
    """Per series (row): money, packs and supplier behaviour."""

    unit_cost: np.ndarray
    unit_price: np.ndarray
    pack: np.ndarray
    moq: np.ndarray
    lead_mean: np.ndarray
    lead_std: np.ndarray
    order_mask: np.ndarray  # [series, 7] bool, Monday first


@dataclass(frozen=True)
class SimPolicy:
    """Levels per series ([series] or [series, days] when re-planned over time) and the order rule."""

    name: str
    s: np.ndarray
    S: np.ndarray
    q: np.ndarray | None = None
    policy: str = "rsS"
    rounding: str = "nearest"


@dataclass(frozen=True)
class SimParams:
    seed: int = 7
    warmup_days: int = 28
    order_cost: float = 1.0
    holding_rate: float = 0.25  # per year, share of unit cost
    max_lead_days: int = 60


@dataclass
class SimResult:
    policy: str
    kpis: dict[str, float]
    per_series: pd.DataFrame = field(repr=False)
    on_hand: np.ndarray = field(repr=False)  # [series, days], end of day


def _at(x: np.ndarray, t: int) -> np.ndarray:
    return x[:, t] if x.ndim == 2 else x


def lead_time_draws(items: SimItems, days: int, params: SimParams) -> np.ndarray:
    rng = np.random.default_rng(params.seed)
    n = len(items.lead_mean)
    draw = rng.normal(items.lead_mean[:, None], np.maximum(items.lead_std, 0)[:, None], (n, days))
    return np.clip(np.round(draw), 1, params.max_lead_days).astype(int)


@dataclass
class _Tally:
    """What a replay counts per series (m_*: after the warm-up only)."""

    n: int
    sold_all: np.ndarray = field(init=False)
    recv_all: np.ndarray = field(init=False)
    m_dem: np.ndarray = field(init=False)
    m_sold: np.ndarray = field(init=False)
    m_orders: np.ndarray = field(init=False)
    m_units: np.ndarray = field(init=False)
    m_stockout_days: np.ndarray = field(init=False)
    cycles: np.ndarray = field(init=False)
    bad_cycles: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        for name in (
            "sold_all",
            "recv_all",
            "m_dem",
            "m_sold",
            "m_orders",
            "m_units",
            "m_stockout_days",
            "cycles",
            "bad_cycles",
        ):
            setattr(self, name, np.zeros(self.n))


def simulate(
    demand: np.ndarray,
    dates: pd.DatetimeIndex,
    items: SimItems,
    policy: SimPolicy,
    params: SimParams = SimParams(),
    initial_on_hand: np.ndarray | None = None,
) -> SimResult:
    """Replay `demand` [series, days] (true demand: what customers asked for) under `policy`."""
    n, T = demand.shape
    on_hand = (
        np.asarray(initial_on_hand, dtype=float).copy()
        if initial_on_hand is not None
        else np.maximum(_at(policy.S, 0), 0).astype(float).copy()
    )
    start = on_hand.copy()
    w = min(params.warmup_days, T - 1)
    tally, eod, on_order = _replay(demand, dates, items, policy, params, on_hand, w)
    per = _per_series(tally, eod, items, params, w, T, start, on_hand, on_order)
    return SimResult(policy.name, summarize(per, T - w), per, eod)


def _replay(
    demand: np.ndarray,
    dates: pd.DatetimeIndex,
    items: SimItems,
    policy: SimPolicy,
    params: SimParams,
    on_hand: np.ndarray,
    w: int,
) -> tuple[_Tally, np.ndarray, np.ndarray]:
    """Day by day: receipts land, demand is served from stock (the rest is lost), the policy
    orders on review days with lead times drawn from common random numbers."""
    n, T = demand.shape
    dow = dates.dayofweek.to_numpy()
    leads = lead_time_draws(items, T, params)
    arriving = np.zeros((n, T + params.max_lead_days + 1))
    on_order = np.zeros(n)
    q = policy.q if policy.q is not None else np.zeros(n)
    eod = np.zeros((n, T))
    tally = _Tally(n)
    short_in_cycle = np.zeros(n, dtype=bool)
    rows = np.arange(n)
    for t in range(T):
        got = arriving[:, t]
        on_hand += got
        on_order -= got
        tally.recv_all += got
        arrived = got > 0
        if t >= w:  # a receipt closes a replenishment cycle
            tally.cycles += arrived
            tally.bad_cycles += arrived & short_in_cycle
        short_in_cycle[arrived] = False
        d = demand[:, t]
        sold = np.minimum(d, on_hand)
        on_hand -= sold
        tally.sold_all += sold
        short = d - sold > 1e-9
        short_in_cycle |= short
        if t >= w:
            tally.m_dem += d
            tally.m_sold += sold
            tally.m_stockout_days += short
        review = items.order_mask[:, dow[t]]
        if review.any():
            ip = on_hand + on_order
            qty = order_quantity(
                ip, _at(policy.s, t), _at(policy.S, t), q, policy.policy, items.pack, items.moq, policy.rounding
            )
            qty = np.where(review, qty, 0.0)
            placed = qty > 0
            if placed.any():
                arr = t + leads[:, t]
                arriving[rows[placed], arr[placed]] += qty[placed]
                on_order += qty
                if t >= w:
                    tally.m_orders += placed
                    tally.m_units += qty
        eod[:, t] = on_hand
    return tally, eod, on_order


def _per_series(
    t: _Tally,
    eod: np.ndarray,
    items: SimItems,
    params: SimParams,
    w: int,
    T: int,
    start: np.ndarray,
    on_hand: np.ndarray,
    on_order: np.ndarray,
) -> pd.DataFrame:
    """Service, inventory and cost per series over the measured days."""
    days = T - w
    inv_units = eod[:, w:].mean(axis=1)
    inv_value = inv_units * items.unit_cost
    lost = t.m_dem - t.m_sold
    margin = np.maximum(items.unit_price - items.unit_cost, 0.0)
    return pd.DataFrame(
        {
            "demand": t.m_dem,
            "sold": t.m_sold,
            "lost": lost,
            "fill_rate": np.where(t.m_dem > 0, t.m_sold / np.maximum(t.m_dem, 1e-12), 1.0),
            "stockout_days": t.m_stockout_days,
            "cycles": t.cycles,
            "stockout_cycles": t.bad_cycles,
            "orders": t.m_orders,
            "ordered_units": t.m_units,
            "avg_on_hand": inv_units,
            "avg_inventory_value": inv_value,
            "holding_cost": inv_value * params.holding_rate * days / 365.0,
            "ordering_cost": t.m_orders * params.order_cost,
            "shortage_cost": lost * margin,
            "start_on_hand": start,
            "received": t.recv_all,
            "sold_total": t.sold_all,
            "end_on_hand": on_hand.copy(),
            "on_order_end": on_order.copy(),
        }
    )


def summarize(per: pd.DataFrame, days: int) -> dict[str, float]:
    dem = float(per["demand"].sum())
    cyc = float(per["cycles"].sum())
    return {
        "days": float(days),
        "fill_rate": float(per["sold"].sum()) / dem if dem else 1.0,
        "cycle_service_level": 1 - float(per["stockout_cycles"].sum()) / cyc if cyc else 1.0,
        "stockout_units": float(per["lost"].sum()),
        "stockout_days": float(per["stockout_days"].sum()),
        "avg_inventory_value": float(per["avg_inventory_value"].sum()),
        "orders": float(per["orders"].sum()),
        "holding_cost": float(per["holding_cost"].sum()),
        "ordering_cost": float(per["ordering_cost"].sum()),
        "shortage_cost": float(per["shortage_cost"].sum()),
        "total_cost": float(per[["holding_cost", "ordering_cost", "shortage_cost"]].to_numpy().sum()),
    }
