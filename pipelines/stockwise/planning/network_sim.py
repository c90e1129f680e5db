"""Replay a two-echelon network day by day: stores served from a DC, the DC from suppliers.

Each day: the DC's receipts land and what it owes stores is shipped first (fair shares when it
cannot ship all, `network.allocate`); the stores' transfers due arrive; customers are served
from store stock (what a store cannot serve is lost); on truck days each store asks for a
transfer up to its levels from its position (on hand + in transit + owed by the DC) and gets
what the DC has (the rest is owed, a backorder at the DC); on its supplier's order days the DC
orders from its position (on hand + on order - owed). Transfer and supplier lead times are drawn
once per (row, day) from a seed, so policies replayed with one seed face the same trucks and
suppliers (common random numbers). The DC never ships stock it does not have: a DC shortage
reaches the shelves as it would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockwise.planning.network import Echelon, allocate
from stockwise.planning.quantity import order_quantity


@dataclass(frozen=True)
class NetworkRows:
    """Per row of each echelon: money, packs, lead times and calendars (the simulator's truth)."""

    parent: np.ndarray  # DC row of each store row
    st_cost: np.ndarray
    st_pack: np.ndarray
    st_lead_mean: np.ndarray
    st_lead_std: np.ndarray
    st_mask: np.ndarray  # [stores, 7] truck days
    dc_cost: np.ndarray
    dc_pack: np.ndarray
    dc_moq: np.ndarray
    dc_lead_mean: np.ndarray
    dc_lead_std: np.ndarray
    dc_mask: np.ndarray  # [dcs, 7] supplier order days


def rows_of(st: Echelon, dc: Echelon) -> NetworkRows:
    """The replay's rows for echelons as a plan saw them (its lead times, calendars, packs)."""
    assert st.parent is not None
    return NetworkRows(
        parent=np.asarray(st.parent), st_cost=st.unit_cost, st_pack=st.pack, st_lead_mean=st.L,
        st_lead_std=st.sL, st_mask=st.order_mask, dc_cost=dc.unit_cost, dc_pack=dc.pack, dc_moq=dc.moq,
        dc_lead_mean=dc.L, dc_lead_std=dc.sL, dc_mask=dc.order_mask,
    )  # fmt: skip


@dataclass(frozen=True)
class NetworkPolicy:
    """Levels per row ([rows] or [rows, days] when re-planned over time)."""

    name: str
    st_s: np.ndarray
    st_S: np.ndarray
    dc_s: np.ndarray
    dc_S: np.ndarray


@dataclass
class NetworkResult:
    policy: str
    kpis: dict[str, float]
    store_fill: np.ndarray  # per store row
    shipped_over_stock: float  # the most a DC ever shipped beyond its stock (0 by construction)


def _at(x: np.ndarray, t: int) -> np.ndarray:
    return x[:, t] if x.ndim == 2 else x


def _leads(mean: np.ndarray, std: np.ndarray, days: int, rng: np.random.Generator, cap: int) -> np.ndarray:
    draw = rng.normal(mean[:, None], np.maximum(std, 0)[:, None], (len(mean), days))
    return np.clip(np.round(draw), 1, cap).astype(int)


def simulate_network(
    demand: np.ndarray,
    dates: pd.DatetimeIndex,
    rows: NetworkRows,
    policy: NetworkPolicy,
    seed: int = 7,
    warmup_days: int = 28,
    max_lead_days: int = 60,
) -> NetworkResult:
    """Replay store demand [store rows, days] through the network under `policy`."""
    n, T = demand.shape
    m = len(rows.dc_cost)
    par = np.asarray(rows.parent, dtype=int)
    rng = np.random.default_rng(seed)
    lead_st = _leads(rows.st_lead_mean, rows.st_lead_std, T, rng, max_lead_days)
    lead_dc = _leads(rows.dc_lead_mean, rows.dc_lead_std, T, rng, max_lead_days)
    dow = dates.dayofweek.to_numpy()
    H = T + max_lead_days + 1
    st_arr, dc_arr = np.zeros((n, H)), np.zeros((m, H))
    st_oh = np.maximum(_at(policy.st_S, 0), 0).astype(float).copy()
    dc_oh = np.maximum(_at(policy.dc_S, 0), 0).astype(float).copy()
    owed, in_transit, dc_on_order = np.zeros(n), np.zeros(n), np.zeros(m)
    dem_m, sold_m = np.zeros(n), np.zeros(n)
    st_inv, dc_inv, transit_inv = 0.0, 0.0, 0.0
    over = 0.0
    asked_m, shipped_m = 0.0, 0.0  # store requests and what the DC shipped on the day (measured days)
    w = min(warmup_days, T - 1)
    zeros_n = np.zeros(n)
    for t in range(T):
        got = dc_arr[:, t]
        dc_oh += got
        dc_on_order -= got
        if owed.any():  # what the DC owes goes out first
            ship = allocate(owed, par, dc_oh, rows.st_pack)
            over = max(over, float((np.bincount(par, weights=ship, minlength=m) - dc_oh).max()))
            dc_oh -= np.bincount(par, weights=ship, minlength=m)
            owed -= ship
            _send(st_arr, in_transit, ship, t + lead_st[:, t])
        arr = st_arr[:, t]
        st_oh += arr
        in_transit -= arr
        d = demand[:, t]
        sold = np.minimum(d, st_oh)
        st_oh -= sold
        if t >= w:
            dem_m += d
            sold_m += sold
        truck = rows.st_mask[:, dow[t]]
        if truck.any():
            ip = st_oh + in_transit + owed
            req = order_quantity(ip, _at(policy.st_s, t), _at(policy.st_S, t), zeros_n, "rsS", rows.st_pack, zeros_n)
            req = np.where(truck, req, 0.0)
            ship = allocate(req, par, dc_oh, rows.st_pack)
            over = max(over, float((np.bincount(par, weights=ship, minlength=m) - dc_oh).max()))
            dc_oh -= np.bincount(par, weights=ship, minlength=m)
            owed += req - ship
            _send(st_arr, in_transit, ship, t + lead_st[:, t])
            if t >= w:
                asked_m += float(req.sum())
                shipped_m += float(ship.sum())
        review = rows.dc_mask[:, dow[t]]
        if review.any():
            ip = dc_oh + dc_on_order - np.bincount(par, weights=owed, minlength=m)
            qty = order_quantity(
                ip, _at(policy.dc_s, t), _at(policy.dc_S, t), np.zeros(m), "rsS", rows.dc_pack, rows.dc_moq
            )
            qty = np.where(review, qty, 0.0)
            dc_arr[np.arange(m), t + lead_dc[:, t]] += qty
            dc_on_order += qty
        if t >= w:
            st_inv += float(st_oh @ rows.st_cost)
            dc_inv += float(dc_oh @ rows.dc_cost)
            transit_inv += float(in_transit @ rows.st_cost)
    days = T - w
    fill = np.where(dem_m > 0, sold_m / np.maximum(dem_m, 1e-12), 1.0)
    kpis = {
        "store_fill_rate": float(sold_m.sum() / dem_m.sum()) if dem_m.sum() else 1.0,
        "store_inventory_value": st_inv / days,
        "dc_inventory_value": dc_inv / days,
        "network_inventory_value": (st_inv + dc_inv) / days,
        "in_transit_value": transit_inv / days,
        "dc_fill_rate": shipped_m / asked_m if asked_m else 1.0,
        "lost_units": float((dem_m - sold_m).sum()),
        "days": float(days),
    }
    return NetworkResult(policy.name, kpis, fill, over)


def _send(arriving: np.ndarray, in_transit: np.ndarray, qty: np.ndarray, when: np.ndarray) -> None:
    go = qty > 0
    if go.any():
        np.add.at(arriving, (np.flatnonzero(go), when[go]), qty[go])
        in_transit += qty
