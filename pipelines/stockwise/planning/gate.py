"""The pre-publication gate: replay the plan's policy on recent demand before anyone acts on it.

Today's levels (reorder point, order-up-to, cycle quantity) are replayed by the simulator over
the last `window_days` of observed demand, with the learned lead-time distributions, the
supplier calendars, packs and MOQ, starting from the order-up-to level after a warm-up. If the
simulated fill rate misses the target by more than `margin`, the plan is held back: the
forecast or the levels are not fit to deliver the service asked for on the demand just seen.
The same replay runs the ERP's min/max (when its rules are extracted) for comparison, and the
plan's policy at targets from 85% to 99.5% for the cost-of-service curve.

Observed sales understate demand on stockout days, so the replay is a check that the plan holds
up on recent demand, not a promise; the benchmark (bench/policy_simulation.py) measures the
policy on true demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from stockwise.planning.engine import PlanConfig, Planned, compute_levels
from stockwise.planning.network_plan import NetworkPlan
from stockwise.planning.network_sim import NetworkPolicy, rows_of, simulate_network
from stockwise.planning.simulator import SimItems, SimParams, SimPolicy, simulate
from stockwise.planning.targets import assign

KEYS = ["sku", "location_id"]
CURVE = (0.85, 0.90, 0.95, 0.97, 0.99, 0.995)


@dataclass(frozen=True)
class GateParams:
    window_days: int = 56
    warmup_days: int = 28
    margin: float = 0.02
    seed: int = 7
    min_days: int = 28  # the replay needs sales on at least this many days of its window


def demand_matrix(sales: pd.DataFrame, frame: pd.DataFrame, ds: date, days: int) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Observed daily demand [plan rows in `row` order, days] over the `days` days up to `ds`."""
    dates = pd.date_range(ds - timedelta(days=days - 1), ds, freq="D")
    s = sales[(sales["date"] >= dates[0]) & (sales["date"] <= dates[-1])]
    wide = s.pivot_table(index=KEYS, columns="date", values="qty", aggfunc="sum")
    keys = frame.sort_values("row")[KEYS]
    m = wide.reindex(pd.MultiIndex.from_frame(keys)).reindex(columns=dates)
    return np.nan_to_num(m.to_numpy(dtype=float), nan=0.0), dates


def check(
    planned: Planned,
    sales: pd.DataFrame,
    ds: date,
    cfg: PlanConfig,
    params: GateParams = GateParams(),
    reorder_rules: pd.DataFrame | None = None,
    curve: tuple[float, ...] = CURVE,
) -> dict:
    f = planned.frame.sort_values("row").reset_index(drop=True)
    demand, dates = demand_matrix(sales, f, ds, params.window_days + params.warmup_days)
    window = dates[params.warmup_days :]
    sold = pd.to_datetime(sales["date"])
    days_with_sales = int(sold[(sold >= window[0]) & (sold <= window[-1])].dt.normalize().nunique())
    if days_with_sales < min(params.min_days, len(window)) or not demand[:, params.warmup_days :].sum() > 0:
        # an empty replay "meets" any target: refuse to vouch for a plan on no evidence
        return {
            "passed": False,
            "checked": False,
            "target": cfg.target,
            "margin": params.margin,
            "window": [str(window[0].date()), str(window[-1].date())],
            "stockwise": None,
            "minmax": None,
            "curve": [],
            "days_with_sales": days_with_sales,
            "why": (
                f"not enough recent demand to check: sales on {days_with_sales} of the "
                f"{len(window)} days {window[0].date()}..{window[-1].date()} (at least "
                f"{min(params.min_days, len(window))} needed)"
            ),
        }
    items = SimItems(
        unit_cost=f["unit_cost"].to_numpy(float),
        unit_price=f["unit_price"].fillna(f["unit_cost"]).to_numpy(float),
        pack=f["pack_size"].fillna(1).clip(lower=1).to_numpy(float),
        moq=f["moq"].fillna(0).to_numpy(float),
        lead_mean=planned.lead_mean,
        lead_std=planned.lead_std,
        order_mask=planned.order_mask,
    )
    sp = SimParams(
        seed=params.seed, warmup_days=params.warmup_days, order_cost=cfg.order_cost, holding_rate=cfg.holding_rate
    )
    lv = planned.levels
    res = simulate(demand, dates, items, SimPolicy("stockwise", lv.s, lv.S, lv.q, cfg.policy, cfg.rounding), sp)
    k = res.kpis
    passed = k["fill_rate"] >= cfg.target - params.margin
    out: dict[str, Any] = {
        "passed": bool(passed),
        "checked": True,
        "target": cfg.target,
        "margin": params.margin,
        "days_with_sales": days_with_sales,
        "window": [str(dates[params.warmup_days].date()), str(dates[-1].date())],
        "stockwise": k,
        "minmax": None,
        "curve": [],
        "why": (
            f"simulated fill rate {k['fill_rate']:.1%} over {dates[params.warmup_days].date()}.."
            f"{dates[-1].date()} {'meets' if passed else 'misses'} the {cfg.target:.1%} target"
            f"{'' if passed else f' by more than {params.margin:.1%}'}"
        ),
    }
    if reorder_rules is not None and len(reorder_rules):
        r = f[KEYS].merge(reorder_rules, on=KEYS, how="left")
        known = r["min_qty"].notna().to_numpy()
        mm = simulate(
            demand[known],
            dates,
            _subset(items, known),
            SimPolicy(
                "erp min/max",
                r["min_qty"].to_numpy(float)[known],
                r["max_qty"].to_numpy(float)[known],
                None,
                "minmax",
                "up",
            ),
            sp,
        )
        sw_same = simulate(
            demand[known],
            dates,
            _subset(items, known),
            SimPolicy("stockwise", lv.s[known], lv.S[known], lv.q[known], cfg.policy, cfg.rounding),
            sp,
        )
        out["minmax"] = {"series": int(known.sum()), "erp": mm.kpis, "stockwise": sw_same.kpis}
    seg = f[["abc", "xyz"]]
    # the ERP's min/max ignores the target: there is no cost-of-service curve to draw for it
    for t in curve if cfg.policy != "minmax" else ():
        if lv.d_p is None and cfg.method == "paths":
            break
        tl = compute_levels(
            planned.mu,
            planned.sd,
            planned.lead_mean,
            planned.lead_std,
            planned.review,
            assign(seg, t, cfg.targets),
            f["unit_cost"].to_numpy(float),
            items.pack,
            items.moq,
            cfg,
            d_p=lv.d_p,
            d_l=lv.d_l,
            aggregate=t,
        )
        r = simulate(demand, dates, items, SimPolicy(f"stockwise@{t}", tl.s, tl.S, tl.q, cfg.policy, cfg.rounding), sp)
        out["curve"].append(
            {
                "target": t,
                "fill_rate": r.kpis["fill_rate"],
                "avg_inventory_value": r.kpis["avg_inventory_value"],
                "total_cost": r.kpis["total_cost"],
            }
        )
    return out


def check_network(
    net: NetworkPlan,
    sales: pd.DataFrame,
    ds: date,
    params: GateParams = GateParams(),
    reorder_rules: pd.DataFrame | None = None,
) -> dict:
    """Replay what a network plan publishes (stores served by their DC, the DC by its supplier,
    `network_sim`) on the stores' recent sales; it passes when the stores' fill rate is within
    `margin` of the demand-weighted target they were planned for. With the ERP's min/max for
    every store and DC line, the ERP's own network (stores ordering up to their max from the DC,
    the DC from its suppliers) is replayed on the same days, trucks and suppliers."""
    st, dc, lv = net.store_echelon, net.dc_echelon, net.levels
    assert st is not None and dc is not None and lv is not None and net.store_keys is not None
    keys = net.store_keys.assign(row=np.arange(len(net.store_keys)))
    demand, dates = demand_matrix(sales, keys, ds, params.window_days + params.warmup_days)
    pol = NetworkPolicy("network", lv.store_s, lv.store_S, lv.dc_s, lv.dc_S)
    rows = rows_of(st, dc)
    r = simulate_network(demand, dates, rows, pol, seed=params.seed, warmup_days=params.warmup_days)
    assert st.target is not None and st.mu is not None
    target = float(np.average(st.target, weights=st.mu.mean(axis=1) + 1e-9))
    k = r.kpis
    passed = k["store_fill_rate"] >= target - params.margin
    minmax = None
    if reorder_rules is not None and len(reorder_rules) and net.dc_keys is not None:
        rr = reorder_rules.drop_duplicates(KEYS, keep="last")
        st_r = net.store_keys.merge(rr, on=KEYS, how="left")
        dc_r = net.dc_keys.merge(rr, on=KEYS, how="left")
        if st_r["min_qty"].notna().all() and dc_r["min_qty"].notna().all():
            erp = NetworkPolicy(
                "erp min/max",
                st_r["min_qty"].to_numpy(float),
                st_r["max_qty"].to_numpy(float),
                dc_r["min_qty"].to_numpy(float),
                dc_r["max_qty"].to_numpy(float),
            )
            e = simulate_network(demand, dates, rows, erp, seed=params.seed, warmup_days=params.warmup_days)
            minmax = {"series": len(st_r) + len(dc_r), "erp": e.kpis, "stockwise": k}
    return {
        "passed": bool(passed),
        "checked": True,
        "stores": net.stores,
        "dcs": net.dcs,
        "target": target,
        "kpis": k,
        "minmax": minmax,
        "why": (
            f"network replay ({net.stores} store lines behind {net.dcs} DC lines): stores' fill rate "
            f"{k['store_fill_rate']:.1%} (the DCs shipped {k['dc_fill_rate']:.1%} of what stores asked for on the day) "
            f"{'meets' if passed else 'misses'} their {target:.1%} target"
            f"{'' if passed else f' by more than {params.margin:.1%}'}"
        ),
    }


def _subset(items: SimItems, keep: np.ndarray) -> SimItems:
    return SimItems(
        *(
            getattr(items, f)[keep]
            for f in ("unit_cost", "unit_price", "pack", "moq", "lead_mean", "lead_std", "order_mask")
        )
    )
