"""Reorder policy at equal service: Stockwise's policy engine vs a tuned static min/max.

    .venv/bin/python bench/policy_simulation.py [--datasets demo m5_tiny] [--target 0.95]

Both policies are replayed day by day by Stockwise's simulator on the same true demand, with the
same stochastic lead times (common random numbers), review calendar, packs and MOQ.

- Stockwise re-plans every week, as the daily DAG would: the baseline forecaster refit on the
  sales history known at that date (stockout days censored), lead times learned from the
  receipts received so far, ABC/XYZ targets around `--target` fill rate, sample-path reorder
  points, EOQ-aware (R, s, S) quantities, nearest-pack rounding that never eats safety stock.
- The baseline is the ERP's static min/max, made as strong as possible: one multiplier per
  ABC/XYZ segment is tuned on the training window until the baseline's fill rate matches
  Stockwise's there, so that the two are compared at equal service, not at whatever service the
  ERP happened to be configured for.
- The textbook safety stock fed the same forecasts (z·σ·√(L+R) over the forecast's mean, the
  same cycle quantity), its z per segment matched the same ways, or 1.645 for every item.
- Both are then measured on the later evaluation window: fill rate, cycle service level,
  stockouts, average inventory value, orders and cost. Goal (demo ERP, 95% target): Stockwise's
  fill rate >= 94.5% and its average inventory value >= 20% below the matched min/max.

The cost-of-service curve (inventory value against fill rate, Stockwise's target moved from 85%
to 99.5%, the min/max multiplier moved across its range) is saved to docs/img/.

Datasets: `demo` (the default demo ERP: 200 skus x 5 stores x 730 days; true demand from its truth
store; the ERP's own min/max rules) and `m5_tiny` (../shared/data: 280 Walmart series; sales are
taken as demand, and lead times, packs, costs and the min/max rule are assumptions printed with
the results).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from m5_data import m5_daily
from scipy.stats import norm

from stockwise.forecasting import baseline
from stockwise.planning import leadtime, supplier
from stockwise.planning.demand import exposed_days
from stockwise.planning.engine import PlanConfig, compute_levels
from stockwise.planning.quantity import cycle_quantity
from stockwise.planning.simulator import SimItems, SimParams, SimPolicy, simulate
from stockwise.planning.targets import TargetParams, assign, segments

REPO = Path(__file__).resolve().parents[1]
KEYS = ["sku", "location_id"]
CURVE_TARGETS = (0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995)
CURVE_MULTIPLIERS = (0.4, 0.55, 0.7, 0.85, 1.0, 1.2, 1.45, 1.75, 2.1, 2.6, 3.2)
log = logging.getLogger("policy_simulation")


@dataclass
class Scenario:
    name: str
    keys: pd.DataFrame  # sku, location_id per series (row order of every array)
    dates: pd.DatetimeIndex
    demand: np.ndarray  # [series, days] true demand, what the simulator replays
    panel: pd.DataFrame  # what the forecaster sees: date, sku, location_id, qty, stockout
    items: pd.DataFrame  # sku, unit_cost, unit_price, pack_size, moq, supplier_id
    suppliers: pd.DataFrame  # the supplier master
    receipts: pd.DataFrame | None  # PO lines with order_date, expected_date, received_date
    sim_items: SimItems  # how suppliers really deliver (the simulator's truth)
    minmax: tuple[np.ndarray, np.ndarray]  # the static min/max baseline
    notes: str


# --- scenarios ----------------------------------------------------------------------------------


def demo_scenario(skus: int = 200, stores: int = 5) -> Scenario:
    from stockwise.erp.demo import DemoConfig, generate

    demo = generate(DemoConfig(skus=skus, stores=stores))
    t, truth = demo.tables, demo.truth
    rules = t["reorder_rules"].sort_values(KEYS).reset_index(drop=True)
    keys = rules[KEYS]
    td = truth["demand"]
    dates = pd.DatetimeIndex(sorted(td["date"].unique()))
    demand = (
        td.pivot_table(index=KEYS, columns="date", values="true_demand", aggfunc="first")
        .reindex(pd.MultiIndex.from_frame(keys))
        .reindex(columns=dates)
        .fillna(0)
        .to_numpy(float)
    )
    panel = td[["date", *KEYS]].copy()
    panel = panel.merge(t["sales"][["date", *KEYS, "qty"]], on=["date", *KEYS], how="left")
    panel["qty"] = panel["qty"].fillna(0.0)
    panel = panel.merge(t["stock"], on=["date", *KEYS], how="left")
    # a day the book shows no stock is a censored day (the ERP's stock count is what the pipeline knows)
    panel["stockout"] = panel["on_hand"].fillna(0) <= 0
    items = t["items"]
    sup = t["suppliers"]
    prof = truth["supplier_profile"].set_index("supplier_id")
    it = keys.merge(items, on="sku", how="left")
    sim_items = SimItems(
        unit_cost=it["unit_cost"].to_numpy(float),
        unit_price=it["unit_price"].to_numpy(float),
        pack=it["pack_size"].to_numpy(float),
        moq=it["moq"].to_numpy(float),
        lead_mean=prof.loc[it["supplier_id"], "actual_lead_time_mean"].to_numpy(float),
        lead_std=prof.loc[it["supplier_id"], "actual_lead_time_std"].to_numpy(float),
        order_mask=supplier.weekday_mask(it.merge(sup, on="supplier_id", how="left")["order_weekdays"]),
    )
    return Scenario(
        "demo",
        keys,
        dates,
        demand,
        panel[["date", *KEYS, "qty", "stockout"]],
        items,
        sup,
        t["purchase_orders"],
        sim_items,
        (rules["min_qty"].to_numpy(float), rules["max_qty"].to_numpy(float)),
        "demo ERP (seed 7): true demand from the truth store; suppliers deliver as the truth "
        "store says (some slower than their master data); the ERP's own min/max rules",
    )


def m5_scenario() -> Scenario:
    df, keys, dates, demand = m5_daily(730)
    price = df.groupby("sku")["sell_price"].median().fillna(df["sell_price"].median())
    rate = demand[:, :365].mean(axis=1)
    pack = np.where(rate < 1, 1, np.where(rate < 5, 6, 12)).astype(float)
    items = keys.assign(unit_price=keys["sku"].map(price).to_numpy(), pack_size=pack, moq=pack)
    items["unit_cost"] = (items["unit_price"] * 0.7).round(2)
    items["supplier_id"] = "DC"
    items_per_sku = items.drop_duplicates("sku")[["sku", "unit_cost", "unit_price", "pack_size", "moq", "supplier_id"]]
    sup = pd.DataFrame(
        {
            "supplier_id": ["DC"],
            "lead_time_days_mean": [5.0],
            "lead_time_days_std": [1.5],
            "order_weekdays": ["mon,thu"],
            "min_order_value": [0.0],
        }
    )
    sim_items = SimItems(
        unit_cost=items["unit_cost"].to_numpy(float),
        unit_price=items["unit_price"].to_numpy(float),
        pack=pack,
        moq=pack,
        lead_mean=np.full(len(keys), 5.0),
        lead_std=np.full(len(keys), 1.5),
        order_mask=supplier.weekday_mask(pd.Series(["mon,thu"] * len(keys))),
    )
    # the static rule ERPs ship with: min = average demand x (lead time + a week of safety),
    # max = min + two weeks, from the year before the replay, never updated
    mn = np.ceil(rate * (5 + 7))
    mx = mn + np.maximum(np.ceil(rate * 14), pack)
    panel = df[["date", *KEYS, "qty"]].assign(stockout=False)
    # per-series pack sizes: items differ by store volume here, so packs are set per series
    items_per_series = items
    scen = Scenario(
        "m5_tiny",
        keys,
        dates,
        demand,
        panel,
        items_per_sku,
        sup,
        None,
        sim_items,
        (mn, mx),
        "M5 subset (280 series, last 730 days): sales taken as demand (no stock data, so no "
        "censoring correction); assumed: one supplier, lead time 5 +/- 1.5 days, orders "
        "Mon and Thu, pack 1/6/12 by volume = MOQ, unit cost 70% of the median sell price; "
        "min/max = avg demand x (5 + 7) days, max = min + 14 days, from the first replay year",
    )
    scen.items = items_per_series  # keyed by sku and location_id
    return scen


# --- Stockwise's weekly re-plans ----------------------------------------------------------------


@dataclass
class Replans:
    days: np.ndarray  # day index of each re-plan
    d_p: list[np.ndarray]  # samples of protection-interval demand per re-plan
    parts: list[dict]  # per re-plan: mu, sd, L, sL, R, unit_cost, pack, moq, segment frame
    d_l: list[np.ndarray]  # the lead time's demand on the same paths


def replan(sc: Scenario, start: int, every: int, cfg: PlanConfig) -> Replans:
    it = sc.keys.merge(sc.items, on=[c for c in KEYS if c in sc.items.columns], how="left")
    mask = sc.sim_items.order_mask
    R = supplier.mean_review_days(mask)
    out = Replans(np.arange(start, len(sc.dates), every), [], [], [])
    for n, day in enumerate(out.days):
        ds = sc.dates[day - 1].date()  # plan at the end of the day before
        fc, _ = baseline.forecast(sc.panel[sc.panel["date"] <= pd.Timestamp(ds)], ds, 42)
        fc = fc.merge(sc.keys.reset_index(), on=KEYS).sort_values(["index", "date"])
        mu = fc["mean"].to_numpy(float).reshape(len(sc.keys), -1)
        sd = fc["sigma"].to_numpy(float).reshape(len(sc.keys), -1)
        lt = leadtime.learn(sc.receipts, sc.items.drop_duplicates("sku"), sc.suppliers, ds, cfg.lead_times)
        lts = it[["supplier_id"]].merge(lt, on="supplier_id", how="left")
        L = lts["lead_time_days_mean"].to_numpy(float)
        sL = lts["lead_time_days_std"].to_numpy(float)
        hist = sc.panel[
            (sc.panel["date"] <= pd.Timestamp(ds)) & (sc.panel["date"] > pd.Timestamp(ds - timedelta(days=365)))
        ]
        seg = sc.keys.merge(
            segments(hist, it.drop_duplicates("sku").set_index("sku")["unit_cost"], cfg.targets), on=KEYS, how="left"
        ).fillna({"abc": "C", "xyz": "Z"})
        part = {
            "mu": mu,
            "sd": sd,
            "L": L,
            "sL": sL,
            "R": R,
            "unit_cost": it["unit_cost"].to_numpy(float),
            "pack": it["pack_size"].to_numpy(float),
            "moq": it["moq"].to_numpy(float),
            "seg": seg,
        }
        lv = compute_levels(
            mu,
            sd,
            L,
            sL,
            R,
            0.95,
            part["unit_cost"],
            part["pack"],
            part["moq"],
            replace(cfg, paths=replace(cfg.paths, seed=cfg.paths.seed + n)),
        )
        out.d_p.append(lv.d_p)
        out.d_l.append(lv.d_l)
        out.parts.append(part)
        if n % 8 == 0:
            log.info("%s: re-plan %d/%d at %s", sc.name, n + 1, len(out.days), ds)
    return out


def calibration(sc: Scenario, rp: Replans) -> pd.DataFrame:
    """How well the demand each re-plan protects against matches what came: per ABC/XYZ segment,
    the planned protection-interval demand (its sample paths) against the true demand over the
    next lead time + review period. A calibrated plan: bias near 0, the true demand above the
    paths' 95% quantile 5% of the time, above their 80% quantile 20%."""
    rows = []
    for k, day in enumerate(rp.days):
        p, dp = rp.parts[k], rp.d_p[k]
        P = np.round(exposed_days(np.nan_to_num(p["L"], nan=7.0)) + np.asarray(p["R"], dtype=float)).astype(int)
        ok = day + P <= sc.demand.shape[1]
        cum = np.concatenate([np.zeros((len(P), 1)), np.cumsum(sc.demand[:, day:], axis=1)], axis=1)
        real = cum[np.arange(len(P)), np.minimum(P, cum.shape[1] - 1)]
        pit = (dp < real[:, None]).mean(axis=1) + 0.5 * (dp == real[:, None]).mean(axis=1)
        seg = p["seg"]["segment"].to_numpy()
        rows.append(pd.DataFrame({"segment": seg, "planned": dp.mean(axis=1), "real": real, "pit": pit})[ok])
    df = pd.concat(rows, ignore_index=True)
    g = df.groupby("segment")
    return pd.DataFrame(
        {
            "bias %": 100 * (g["planned"].sum() / g["real"].sum().where(g["real"].sum() > 0) - 1),
            "above q95": g["pit"].apply(lambda x: (x > 0.95).mean()),
            "above q80": g["pit"].apply(lambda x: (x > 0.80).mean()),
            "below q20": g["pit"].apply(lambda x: (x < 0.20).mean()),
            "cases": g.size(),
        }
    ).round(3)


def stockwise_policy(sc: Scenario, rp: Replans, target: float, cfg: PlanConfig) -> SimPolicy:
    n, T = sc.demand.shape
    s = np.zeros((n, T))
    S = np.zeros((n, T))
    q = None
    for k, day in enumerate(rp.days):
        p = rp.parts[k]
        tg = assign(p["seg"], target, cfg.targets)
        lv = compute_levels(
            p["mu"],
            p["sd"],
            p["L"],
            p["sL"],
            p["R"],
            tg,
            p["unit_cost"],
            p["pack"],
            p["moq"],
            cfg,
            d_p=rp.d_p[k],
            d_l=rp.d_l[k],
            aggregate=target,
        )
        end = rp.days[k + 1] if k + 1 < len(rp.days) else T
        s[:, day:end] = lv.s[:, None]
        S[:, day:end] = lv.S[:, None]
        q = lv.q
    first = rp.days[0]
    s[:, :first], S[:, :first] = s[:, [first]], S[:, [first]]
    return SimPolicy(f"stockwise@{target:.3g}", s, S, q, cfg.policy, cfg.rounding)


def textbook_policy(sc: Scenario, rp: Replans, z: np.ndarray, cfg: PlanConfig) -> SimPolicy:
    """The textbook policy fed the same forecasts and re-planned on the same days: reorder point
    = mean demand over lead time + review period P, plus z * sigma * sqrt(P) (sigma the
    forecast's daily spread; lead-time variability, packs and the fill-rate shape ignored, as the
    formula does), order-up-to = reorder point + the same cycle quantity as Stockwise's."""
    n, T = sc.demand.shape
    s, S = np.zeros((n, T)), np.zeros((n, T))
    q = None
    for k, day in enumerate(rp.days):
        p = rp.parts[k]
        mu_d, sd_d = p["mu"].mean(axis=1), np.sqrt((p["sd"] ** 2).mean(axis=1))
        L = np.nan_to_num(p["L"], nan=float(np.nanmedian(p["L"])) if np.isfinite(p["L"]).any() else 7.0)
        P = L + np.asarray(p["R"], dtype=float)
        q = cycle_quantity(
            mu_d, p["unit_cost"], p["R"], cfg.order_cost, cfg.holding_rate, cfg.max_cycle_days, p["pack"], p["moq"]
        )
        end = rp.days[k + 1] if k + 1 < len(rp.days) else T
        s[:, day:end] = (mu_d * P + z * sd_d * np.sqrt(P))[:, None]
        S[:, day:end] = s[:, [day]] + q[:, None]
    first = rp.days[0]
    s[:, :first], S[:, :first] = s[:, [first]], S[:, [first]]
    return SimPolicy("textbook z*sigma*sqrt(L+R)", s, S, q, "rsS", cfg.rounding)


def minmax_policy(sc: Scenario, mult: np.ndarray) -> SimPolicy:
    mn, mx = sc.minmax
    return SimPolicy("erp min/max", mn * mult, mx * mult, None, "minmax", "up")


def window(sc: Scenario, a: int, b: int) -> tuple[np.ndarray, pd.DatetimeIndex]:
    return sc.demand[:, a:b], sc.dates[a:b]


def run_sim(sc: Scenario, pol: SimPolicy, a: int, b: int, params: SimParams):
    dem, dates = window(sc, a, b)
    sl = lambda x: x[:, a:b] if np.ndim(x) == 2 else x  # noqa: E731
    return simulate(dem, dates, sc.sim_items, replace(pol, s=sl(pol.s), S=sl(pol.S)), params)


def segment_fill(per: pd.DataFrame, seg: np.ndarray) -> pd.Series:
    g = per.assign(seg=seg).groupby("seg")[["sold", "demand"]].sum()
    return g["sold"] / g["demand"].where(g["demand"] > 0)


def tune_minmax(
    sc: Scenario, target_fill: pd.Series, seg: np.ndarray, a: int, b: int, params: SimParams, iters: int = 18
) -> np.ndarray:
    """One multiplier per segment, by bisection on its log, so each segment's fill matches."""
    make = lambda k: minmax_policy(sc, np.exp(k))  # noqa: E731
    return np.exp(tune(sc, make, target_fill, seg, a, b, params, (np.log(0.1), np.log(10.0)), iters))


def tune(sc, make, target_fill: pd.Series, seg: np.ndarray, a: int, b: int, params: SimParams, bounds, iters=18):
    """One knob per segment (the policy's fill rising with it), by bisection within `bounds`,
    until each segment's fill rate in days a..b matches `target_fill`; the knob per series."""
    lo = dict.fromkeys(target_fill.index, bounds[0])
    hi = dict.fromkeys(target_fill.index, bounds[1])
    for _ in range(iters):
        k = np.array([(lo[g] + hi[g]) / 2 if g in lo else 0.0 for g in seg])
        fill = segment_fill(run_sim(sc, make(k), a, b, params).per_series, seg)
        for g in target_fill.index:
            mid = (lo[g] + hi[g]) / 2
            if fill.get(g, 1.0) < target_fill[g]:
                lo[g] = mid
            else:
                hi[g] = mid
    return np.array([hi.get(g, 0.0) for g in seg])


def evaluate(
    sc: Scenario, target: float, cfg: PlanConfig, eval_days: int, train_days: int, warmup: int, curve: bool
) -> dict:
    T = len(sc.dates)
    e0, t0 = T - eval_days, T - eval_days - train_days
    params = SimParams(warmup_days=warmup, order_cost=cfg.order_cost, holding_rate=cfg.holding_rate)
    t_start = time.monotonic()
    rp = replan(sc, t0 - warmup, 7, cfg)
    calib = calibration(sc, rp)
    sw = stockwise_policy(sc, rp, target, cfg)
    seg = rp.parts[0]["seg"]["segment"].to_numpy()
    train_sw = run_sim(sc, sw, t0 - warmup, e0, params)
    match = segment_fill(train_sw.per_series, seg)
    mult = tune_minmax(sc, match, seg, t0 - warmup, e0, params)
    train_mm = run_sim(sc, minmax_policy(sc, mult), t0 - warmup, e0, params)
    ev_sw = run_sim(sc, sw, e0 - warmup, T, params)
    ev_mm = run_sim(sc, minmax_policy(sc, mult), e0 - warmup, T, params)
    ev_erp = run_sim(sc, minmax_policy(sc, np.ones(len(seg))), e0 - warmup, T, params)
    # equal service where it is measured: multipliers tuned on the evaluation window itself until
    # each segment's fill there matches Stockwise's (hindsight no ERP has: the strongest static
    # min/max, and the comparison at equal fill that the goal means)
    mult_h = tune_minmax(sc, segment_fill(ev_sw.per_series, seg), seg, e0 - warmup, T, params)
    ev_mmh = run_sim(sc, minmax_policy(sc, mult_h), e0 - warmup, T, params)
    # the textbook safety stock fed the same forecasts, its z per segment tuned the same way
    # (hindsight): the formula a planner would set up by hand, at Stockwise's fill
    make = lambda k: textbook_policy(sc, rp, k, cfg)  # noqa: E731
    z_h = tune(sc, make, segment_fill(ev_sw.per_series, seg), seg, e0 - warmup, T, params, (-3.0, 6.0))
    ev_tb = run_sim(sc, make(z_h), e0 - warmup, T, params)
    # ... tuned on the training window as an ERP could (Stockwise's fill there), and as a planner
    # would configure it: z of the 95% cycle service for every item
    z_t = tune(sc, make, match, seg, t0 - warmup, e0, params, (-3.0, 6.0))
    ev_tbt = run_sim(sc, make(z_t), e0 - warmup, T, params)
    ev_tbc = run_sim(sc, make(np.full(len(seg), float(norm.ppf(target)))), e0 - warmup, T, params)
    out = {
        "dataset": sc.name,
        "notes": sc.notes,
        "target": target,
        "series": len(sc.keys),
        "train": [str(sc.dates[t0].date()), str(sc.dates[e0 - 1].date())],
        "eval_window": [str(sc.dates[e0].date()), str(sc.dates[-1].date())],
        "multipliers": {g: round(float(mult[seg == g][0]), 3) for g in sorted(set(seg))},
        "multipliers_hindsight": {g: round(float(mult_h[seg == g][0]), 3) for g in sorted(set(seg))},
        "textbook_z_hindsight": {g: round(float(z_h[seg == g][0]), 3) for g in sorted(set(seg))},
        "textbook_z_training": {g: round(float(z_t[seg == g][0]), 3) for g in sorted(set(seg))},
        "calibration": calib.reset_index().to_dict("records"),
        "train_fill": {"stockwise": train_sw.kpis["fill_rate"], "minmax_matched": train_mm.kpis["fill_rate"]},
        "eval": {
            "stockwise": ev_sw.kpis,
            "minmax_matched": ev_mm.kpis,
            "minmax_hindsight": ev_mmh.kpis,
            "minmax_as_configured": ev_erp.kpis,
            "textbook_hindsight": ev_tb.kpis,
            "textbook_matched": ev_tbt.kpis,
            "textbook_as_configured": ev_tbc.kpis,
        },
    }
    v_sw, v_mm = ev_sw.kpis["avg_inventory_value"], ev_mm.kpis["avg_inventory_value"]
    out["inventory_reduction"] = 1 - v_sw / v_mm if v_mm else float("nan")
    v_mmh = ev_mmh.kpis["avg_inventory_value"]
    out["inventory_reduction_equal_fill"] = 1 - v_sw / v_mmh if v_mmh else float("nan")
    v_tb = ev_tb.kpis["avg_inventory_value"]
    out["inventory_reduction_vs_textbook"] = 1 - v_sw / v_tb if v_tb else float("nan")
    if curve:
        pts = []
        for tg in CURVE_TARGETS:
            r = run_sim(sc, stockwise_policy(sc, rp, tg, cfg), e0 - warmup, T, params)
            pts.append(("stockwise", tg, r.kpis["fill_rate"], r.kpis["avg_inventory_value"], r.kpis["total_cost"]))
        for m in CURVE_MULTIPLIERS:
            r = run_sim(sc, minmax_policy(sc, np.full(len(seg), m)), e0 - warmup, T, params)
            pts.append(("min/max x m", m, r.kpis["fill_rate"], r.kpis["avg_inventory_value"], r.kpis["total_cost"]))
        out["curve"] = pts
    out["seconds"] = round(time.monotonic() - t_start, 1)
    return out


# --- output -------------------------------------------------------------------------------------


def table(res: dict) -> str:
    rows = [
        ("Stockwise", res["eval"]["stockwise"]),
        ("min/max, matched on training", res["eval"]["minmax_matched"]),
        ("min/max, matched on evaluation (hindsight)", res["eval"]["minmax_hindsight"]),
        ("min/max, as configured", res["eval"]["minmax_as_configured"]),
        ("textbook z·σ·√(L+R), z per segment matched on training", res["eval"]["textbook_matched"]),
        ("textbook z·σ·√(L+R), z per segment matched on evaluation (hindsight)", res["eval"]["textbook_hindsight"]),
        (f"textbook z·σ·√(L+R), z = {norm.ppf(res['target']):.3f} for all", res["eval"]["textbook_as_configured"]),
    ]
    head = (
        "| policy | fill rate | cycle service | stockout units | avg inventory value | orders | "
        "holding | ordering | lost margin | total cost |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for name, k in rows:
        lines.append(
            f"| {name} | {k['fill_rate']:.2%} | {k['cycle_service_level']:.2%} | {k['stockout_units']:,.0f} | "
            f"{k['avg_inventory_value']:,.0f} | {k['orders']:,.0f} | {k['holding_cost']:,.0f} | "
            f"{k['ordering_cost']:,.0f} | {k['shortage_cost']:,.0f} | {k['total_cost']:,.0f} |"
        )
    return "\n".join(lines)


def plot_curve(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.2 * len(results), 4.6), squeeze=False)
    for ax, res in zip(axes[0], results, strict=True):
        pts = pd.DataFrame(res["curve"], columns=["policy", "knob", "fill", "value", "cost"])
        for name, style in (
            ("stockwise", dict(color="#2680c2", marker="o")),
            ("min/max x m", dict(color="#9aa5b1", marker="s")),
        ):
            p = pts[pts["policy"] == name].sort_values("fill")
            ax.plot(
                p["fill"] * 100,
                p["value"],
                label="Stockwise (target 85%..99.5%)" if name == "stockwise" else "static min/max x multiplier",
                **style,
            )
            if name == "stockwise":
                for r in p.itertuples():
                    if r.knob in (0.85, 0.95, 0.99, 0.995):
                        ax.annotate(
                            f"target {r.knob:.1%}",
                            (r.fill * 100, r.value),
                            textcoords="offset points",
                            xytext=(6, -12),
                            fontsize=7,
                            color="#2680c2",
                        )
        m = res["eval"]["minmax_matched"]
        ax.plot(
            m["fill_rate"] * 100, m["avg_inventory_value"], "D", color="#e12d39", label="min/max matched on training"
        )
        h = res["eval"]["minmax_hindsight"]
        ax.plot(
            h["fill_rate"] * 100,
            h["avg_inventory_value"],
            "D",
            mfc="none",
            color="#e12d39",
            label="min/max matched on evaluation (hindsight)",
        )
        s = res["eval"]["stockwise"]
        ax.plot(
            s["fill_rate"] * 100,
            s["avg_inventory_value"],
            "*",
            ms=14,
            color="#0b6e4f",
            label=f"Stockwise at {res['target']:.0%} target",
        )
        sw = pts[pts["policy"] == "stockwise"]
        ax.set_xlim(max(sw["fill"].min() * 100 - 10, 50), 100.2)
        ax.set_ylim(0, max(sw["value"].max(), m["avg_inventory_value"], h["avg_inventory_value"]) * 1.8)
        ax.set_xlabel("simulated fill rate (%)")
        ax.set_ylabel("average inventory value")
        ax.set_title(f"Cost of service: {res['dataset']} (evaluation window)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        ax.text(
            0.99,
            0.02,
            "same demand, lead times, calendar, packs",
            transform=ax.transAxes,
            ha="right",
            fontsize=7,
            color="#52606d",
        )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["demo", "m5_tiny"], choices=["demo", "m5_tiny"])
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--eval-days", type=int, default=182)
    ap.add_argument("--train-days", type=int, default=182)
    ap.add_argument("--warmup", type=int, default=28)
    ap.add_argument("--method", default="paths", choices=["paths", "normal"])
    ap.add_argument("--no-curve", action="store_true")
    ap.add_argument(
        "--allowance",
        type=float,
        default=TargetParams.allowance,
        help="how far below its segment's target the optimiser may plan a series (the engine's default)",
    )
    ap.add_argument("--skus", type=int, default=200, help="demo ERP size (the goal is stated for 200 x 5)")
    ap.add_argument("--stores", type=int, default=5)
    ap.add_argument("--level-cv", type=float, default=None, help="the sample paths' shared level shock (PathParams)")
    ap.add_argument("--png", default=str(REPO / "docs" / "img" / "cost_of_service.png"))
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--replot", default=None, help="only redraw the curve from a --json file")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if a.replot:
        plot_curve(json.loads(Path(a.replot).read_text()), Path(a.png))
        return 0
    cfg = PlanConfig(target=a.target, method=a.method, targets=TargetParams(kind="fill_rate", allowance=a.allowance))
    if a.level_cv is not None:
        cfg = replace(cfg, paths=replace(cfg.paths, level_cv=a.level_cv))
    results = []
    for name in a.datasets:
        sc = demo_scenario(a.skus, a.stores) if name == "demo" else m5_scenario()
        res = evaluate(sc, a.target, cfg, a.eval_days, a.train_days, a.warmup, not a.no_curve)
        results.append(res)
        k = res["eval"]["stockwise"]
        print(
            f"\n## {name}: {res['series']} series; train {res['train'][0]}..{res['train'][1]}, "
            f"evaluation {res['eval_window'][0]}..{res['eval_window'][1]}"
        )
        print(f"{res['notes']}")
        print(f"min/max multipliers per segment (tuned on the training window): {json.dumps(res['multipliers'])}")
        print(f"... tuned on the evaluation window (hindsight): {json.dumps(res['multipliers_hindsight'])}")
        print(f"textbook z per segment (training): {json.dumps(res['textbook_z_training'])}")
        print(f"textbook z per segment (hindsight): {json.dumps(res['textbook_z_hindsight'])}")
        print(
            f"training-window fill: Stockwise {res['train_fill']['stockwise']:.2%}, "
            f"matched min/max {res['train_fill']['minmax_matched']:.2%}\n"
        )
        print(table(res))
        calib = pd.DataFrame(res["calibration"]).set_index("segment")
        print("\nprotection-interval demand planned against what came (calibrated: 5% above q95, 20% above q80):")
        print(calib.to_markdown())
        ok_fill = k["fill_rate"] >= a.target - 0.005
        ok_inv = res["inventory_reduction_equal_fill"] >= 0.20
        h = res["eval"]["minmax_hindsight"]
        print(
            f"\nStockwise fill {k['fill_rate']:.2%} "
            f"(goal >= {a.target - 0.005:.1%}: {'met' if ok_fill else 'MISSED'}); "
            f"inventory value {res['inventory_reduction_equal_fill']:.1%} below the min/max at equal fill "
            f"({h['fill_rate']:.2%}, matched on the evaluation window; goal >= 20%: "
            f"{'met' if ok_inv else 'MISSED'}), {res['inventory_reduction']:.1%} below the min/max matched on "
            f"training (fill {res['eval']['minmax_matched']['fill_rate']:.2%}); "
            f"{res['inventory_reduction_vs_textbook']:.1%} below the textbook z*sigma*sqrt(L+R) policy at equal fill "
            f"({res['eval']['textbook_hindsight']['fill_rate']:.2%}); {res['seconds']:.0f} s"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=float))
    if not a.no_curve:
        plot_curve(results, Path(a.png))
        print(f"\ncost-of-service curve: {a.png}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
