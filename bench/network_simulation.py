"""Network planning at equal store fill: Stockwise's two-echelon plan against planning each
echelon on its own, against stockpyl's guaranteed-service placement, and against today's
stores ordering straight from their suppliers.

    .venv/bin/python bench/network_simulation.py [--datasets demo m5_tiny] [--targets 0.9 0.95 0.98 0.99]

The network: every store is served by a distribution centre (DC) on truck days (staggered:
half the stores Mon/Wed/Fri, half Tue/Thu/Sat; transfer lead time 1 +/- 0.4 days; store packs:
a quarter of the supplier's case for cases of 12 or more, else single units); the DC buys
from the item's supplier on the supplier's order days, in its cases and MOQ, with the lead times
the supplier really delivers in. Demo: the 5 stores of the default demo ERP behind one DC; M5:
the 10 stores of ../shared/data/m5_tiny behind one DC per state (CA, TX, WI).

Every policy is re-planned weekly from the same forecasts (the baseline forecaster refit on the
history known at that date, as in bench/policy_simulation.py) and replayed day by day on the
same true demand with the same trucks and supplier lead times (common random numbers,
`planning.network_sim`): the DC ships only what it has, so a DC shortage reaches the shelves.

- **Stockwise network** (`planning.network.plan_levels`): the DC's demand from the stores'
  order paths, the DC fill rate chosen per sku for the least network on-hand value, the stores
  carrying the wait it causes.
- **Independent echelons**: today's engine planning each echelon on its own: each store for its
  target with the transfer lead time (as if the DC never ran short), the DC for the same target
  on the stores' summed forecast (sales, not orders) with the supplier's lead time.
- **stockpyl GSM**: the guaranteed-service model's safety-stock placement (Graves-Willems,
  `stockpyl.gsm_tree.optimize_committed_service_times`) per sku and DC, fed the same forecast
  means and spreads (processing time = lead time + review gap; equal holding cost at both
  echelons, the units cost the same), its base-stock levels mu*tau + z*sigma*sqrt(tau) as the
  reorder points, the same cycle quantities on top.
- **ZF (s, S) per echelon**: Zheng-Federgruen's optimal (s, S) (`bench/zf.py`: stockpyl's
  algorithm with the lead-time demand for the cost and one period's for the renewal) per store
  row (transfer lead time, truck days) and per DC row (the stores' summed forecast, supplier
  lead time and order days), fed the same forecast means and spreads; its knob is the shortage
  penalty over a period's holding cost.
- **Direct (today)**: the single-echelon engine, each store ordering from the supplier itself
  (no DC stock): its store fill and inventory.

Each policy's service knob is moved over a range (target fill rate, or z) to draw its curve of
network on-hand value against store fill rate; the table compares them at equal store fill
(interpolated on each curve). Goal 1: Stockwise's network value >= 15% below the independent
echelons at equal store fill; goal 2: within 5% of, or below, stockpyl's GSM.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import zf
from policy_simulation import Scenario, demo_scenario, m5_scenario, replan, run_sim, stockwise_policy

from stockwise.planning import levels
from stockwise.planning.demand import PathParams, exposed_days, sample_interval
from stockwise.planning.engine import PlanConfig
from stockwise.planning.network import Echelon, NetworkParams, plan_levels
from stockwise.planning.network_sim import NetworkPolicy, NetworkRows, simulate_network
from stockwise.planning.quantity import cycle_quantity
from stockwise.planning.simulator import SimParams
from stockwise.planning.supplier import mean_review_days, weekday_mask
from stockwise.planning.targets import TargetParams

REPO = Path(__file__).resolve().parents[1]
KEYS = ["sku", "location_id"]
TRANSFER_LEAD = (1.0, 0.4)
Z_GRID = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.645)
RATIO_GRID = (1.0, 3.0, 9.0, 19.0, 49.0, 99.0, 199.0)  # ZF's shortage penalty over holding
log = logging.getLogger("network_simulation")


@dataclass
class Network:
    sc: Scenario
    parent: np.ndarray  # DC row of each store row
    dc_keys: pd.DataFrame  # sku, dc
    rows: NetworkRows  # the simulator's truth
    st_mask: np.ndarray
    dc_mask: np.ndarray


def build(sc: Scenario, dc_of) -> Network:
    keys = sc.keys.assign(dc=[dc_of(x) for x in sc.keys["location_id"]])
    dc_keys = keys[["sku", "dc"]].drop_duplicates().reset_index(drop=True)
    parent = keys.merge(dc_keys.reset_index(), on=["sku", "dc"], how="left")["index"].to_numpy()
    it = sc.sim_items
    first = pd.Series(np.arange(len(keys))).groupby(parent).first().to_numpy()  # a store row per DC row
    case = pd.Series(it.pack).groupby(parent).max().to_numpy()
    moq = pd.Series(it.moq).groupby(parent).max().to_numpy()
    store_pack = np.where(case >= 12, case // 4, 1.0)[parent]
    stores = sorted(keys["location_id"].unique())
    odd = np.array([stores.index(x) % 2 for x in keys["location_id"]])
    st_mask = weekday_mask(pd.Series(np.where(odd == 0, "mon,wed,fri", "tue,thu,sat")))
    dc_mask = it.order_mask[first]
    rows = NetworkRows(
        parent=parent,
        st_cost=it.unit_cost,
        st_pack=store_pack,
        st_lead_mean=np.full(len(keys), TRANSFER_LEAD[0]),
        st_lead_std=np.full(len(keys), TRANSFER_LEAD[1]),
        st_mask=st_mask,
        dc_cost=it.unit_cost[first],
        dc_pack=case,
        dc_moq=moq,
        dc_lead_mean=it.lead_mean[first],
        dc_lead_std=it.lead_std[first],
        dc_mask=dc_mask,
    )
    return Network(sc, parent, dc_keys, rows, st_mask, dc_mask)


@dataclass
class Plan:
    """Per re-plan: the network's echelons as Stockwise sees them that day."""

    day: int
    weekday: int
    st: Echelon
    dc: Echelon


def echelons(net: Network, rp, cfg: PlanConfig) -> list[Plan]:
    """Each re-plan's forecasts and learned supplier lead times, as echelons."""
    out = []
    n_dc = len(net.dc_keys)
    first = pd.Series(np.arange(len(net.parent))).groupby(net.parent).first().to_numpy()
    for k, day in enumerate(rp.days):
        p = rp.parts[k]
        wd = int(net.sc.dates[day - 1].dayofweek)  # planned at the end of the day before
        mu_d = p["mu"].mean(axis=1)
        R_st = mean_review_days(net.st_mask)
        R_dc = mean_review_days(net.dc_mask)
        cost = p["unit_cost"]
        q_st = cycle_quantity(
            mu_d,
            cost,
            R_st,
            cfg.order_cost,
            cfg.holding_rate,
            cfg.max_cycle_days,
            net.rows.st_pack,
            np.zeros(len(mu_d)),
        )
        rate_dc = np.bincount(net.parent, weights=mu_d, minlength=n_dc)
        q_dc = cycle_quantity(
            rate_dc, cost[first], R_dc, cfg.order_cost, cfg.holding_rate, cfg.max_cycle_days,
            net.rows.dc_pack, net.rows.dc_moq,
        )  # fmt: skip
        L_dc = np.nan_to_num(p["L"][first], nan=7.0)
        sL_dc = np.nan_to_num(p["sL"][first], nan=0.0)
        # a typical position mid-cycle: lead-time demand plus half a cycle
        pos_st = mu_d * (TRANSFER_LEAD[0] + R_st) + q_st / 2
        pos_dc = rate_dc * (L_dc + R_dc) + q_dc / 2
        n = len(mu_d)
        st = Echelon(
            np.full(n, TRANSFER_LEAD[0]), np.full(n, TRANSFER_LEAD[1]), net.st_mask, cost, net.rows.st_pack,
            np.zeros(n), q_st, pos_st, p["mu"], p["sd"], np.full(n, 0.95), net.parent,
        )  # fmt: skip
        dc = Echelon(L_dc, sL_dc, net.dc_mask, cost[first], net.rows.dc_pack, net.rows.dc_moq, q_dc, pos_dc)
        out.append(Plan(day, wd, st, dc))
    return out


def _spread(plans: list[Plan], T: int, per_plan) -> tuple[np.ndarray, ...]:
    """Levels per re-plan [rows] -> per day [rows, T] (the first re-plan's before it)."""
    parts = [per_plan(p) for p in plans]
    outs = []
    for j in range(len(parts[0])):
        arr = np.zeros((len(parts[0][j]), T))
        for k, p in enumerate(plans):
            end = plans[k + 1].day if k + 1 < len(plans) else T
            arr[:, p.day : end] = parts[k][j][:, None]
        arr[:, : plans[0].day] = arr[:, [plans[0].day]]
        outs.append(arr)
    return tuple(outs)


def stockwise_network(plans: list[Plan], T: int, target: float, params: NetworkParams) -> NetworkPolicy:
    def one(p: Plan):
        st = Echelon(**{**p.st.__dict__, "target": np.full(len(p.st.position), target)})
        lv = plan_levels(st, p.dc, p.weekday, params)
        PLANNED_DC_FILL.setdefault(target, []).append(float(np.average(lv.dc_fill, weights=lv.dc_rate + 1e-9)))
        return lv.store_s, lv.store_S, lv.dc_s, lv.dc_S

    return NetworkPolicy(f"stockwise network @{target:g}", *_spread(plans, T, one))


PLANNED_DC_FILL: dict[float, list[float]] = {}  # the DC fill rate the network plans chose, per target


def independent(plans: list[Plan], T: int, target: float, params: NetworkParams) -> NetworkPolicy:
    """Each echelon on its own: stores for `target` with the transfer lead time only; the DC for
    `target` on the summed store forecast (its sales, not the stores' orders)."""

    def one(p: Plan):
        st, dc = p.st, p.dc
        n_dc = len(dc.position)
        R_st = mean_review_days(st.order_mask)
        R_dc = mean_review_days(dc.order_mask)
        mu_d = st.mu.mean(axis=1)
        l_st, d_st = sample_interval(st.mu, st.sd, st.L, st.sL, R_st, params.paths)
        s_st = levels.from_samples(d_st, target, "fill_rate", st.q, np.maximum(st.q, mu_d * R_st), l_st)
        mu_dc = np.stack(
            [np.bincount(st.parent, weights=st.mu[:, j], minlength=n_dc) for j in range(st.mu.shape[1])], 1
        )
        var_dc = np.stack(
            [np.bincount(st.parent, weights=st.sd[:, j] ** 2, minlength=n_dc) for j in range(st.sd.shape[1])], 1
        )
        l_dc, d_dc = sample_interval(mu_dc, np.sqrt(var_dc), dc.L, dc.sL, R_dc, params.paths)
        rate = mu_dc.mean(axis=1)
        s_dc = levels.from_samples(d_dc, target, "fill_rate", dc.q, np.maximum(dc.q, rate * R_dc), l_dc)
        return s_st, s_st + st.q, s_dc, s_dc + dc.q

    return NetworkPolicy(f"independent @{target:g}", *_spread(plans, T, one))


def gsm_network(plans: list[Plan], T: int, z: float, cfg: PlanConfig) -> NetworkPolicy:
    """stockpyl's guaranteed-service placement per sku x DC, its base-stock levels as reorder points."""
    return NetworkPolicy(f"stockpyl GSM z={z:g}", *_spread(plans, T, lambda p: _gsm_levels(p, z, cfg)))


_GSM_CACHE: dict[tuple[int, int], tuple[float, np.ndarray]] = {}


def _gsm_levels(p: Plan, z: float, cfg: PlanConfig):
    from stockpyl.demand_source import DemandSource
    from stockpyl.gsm_tree import optimize_committed_service_times
    from stockpyl.supply_chain_network import network_from_edges

    st, dc = p.st, p.dc
    R_st = mean_review_days(st.order_mask)
    R_dc = mean_review_days(dc.order_mask)
    mu, sd = st.mu.mean(axis=1), np.sqrt((st.sd**2).mean(axis=1))
    T_st = np.maximum(np.round(st.L + R_st), 1).astype(int)
    T_dc = np.maximum(np.round(dc.L + R_dc), 1).astype(int)
    s_st, s_dc = np.zeros(len(mu)), np.zeros(len(dc.position))
    for j in range(len(dc.position)):
        kids = np.flatnonzero(st.parent == j)
        key = (p.day, j)
        if key not in _GSM_CACHE:  # the placement does not depend on z (it scales every buffer)
            tree = network_from_edges([(0, i + 1) for i in range(len(kids))])
            for node in tree.nodes:
                i = node.index
                node.local_holding_cost = float(cfg.holding_rate * max(dc.unit_cost[j], 1e-6))
                node.demand_bound_constant = 1.0
                if i == 0:
                    node.processing_time = int(T_dc[j])
                    node.external_inbound_cst = 0
                else:
                    r = kids[i - 1]
                    node.processing_time = int(T_st[r])
                    node.external_outbound_cst = 0
                    node.demand_source = DemandSource(
                        type="N", mean=float(mu[r]), standard_deviation=float(max(sd[r], 1e-6))
                    )
            cst, _ = optimize_committed_service_times(tree)
            _GSM_CACHE[key] = (float(cst[0]), kids)
        s_out, kids = _GSM_CACHE[key]
        tau_st = np.maximum(s_out + T_st[kids], 0)
        s_st[kids] = mu[kids] * tau_st + z * sd[kids] * np.sqrt(tau_st)
        tau_dc = max(T_dc[j] - s_out, 0)
        sd_dc = float(np.sqrt((sd[kids] ** 2).sum()))
        s_dc[j] = mu[kids].sum() * tau_dc + z * sd_dc * np.sqrt(tau_dc)
    return s_st, s_st + st.q, s_dc, s_dc + dc.q


def zf_network(plans: list[Plan], T: int, ratio: float, cfg: PlanConfig) -> NetworkPolicy:
    """Zheng-Federgruen's optimal (s, S) per row of each echelon (`zf.item_levels`): the stores
    on their forecast with the transfer lead time and truck days, the DC on the stores' summed
    forecast with its supplier's lead time and order days, a shortage costing `ratio` times a
    period's holding."""

    def one(p: Plan):
        st, dc = p.st, p.dc
        n_dc = len(dc.position)
        mu, sd = st.mu.mean(axis=1), np.sqrt((st.sd**2).mean(axis=1))
        mu_dc = np.bincount(st.parent, weights=mu, minlength=n_dc)
        sd_dc = np.sqrt(np.bincount(st.parent, weights=sd**2, minlength=n_dc))
        out = []
        for e, m, v in ((st, mu, sd), (dc, mu_dc, sd_dc)):
            R = mean_review_days(e.order_mask)
            h = cfg.holding_rate * e.unit_cost / 365
            lv = [
                zf.item_levels(m[i], v[i], R[i], exposed_days(e.L[i]), e.sL[i], h[i], ratio, cfg.order_cost)
                for i in range(len(m))
            ]
            out += [np.array([x for x, _ in lv]), np.array([y for _, y in lv])]
        return tuple(out)

    return NetworkPolicy(f"ZF (s, S) p/h={ratio:g}", *_spread(plans, T, one))


def equal_fill(curve: list[tuple[float, float]], fill: float) -> float:
    """Network value at `fill` on a policy's curve (linear between its points; NaN outside)."""
    pts = sorted(curve)
    f = np.array([x for x, _ in pts])
    v = np.array([y for _, y in pts])
    if fill < f.min() - 1e-9 or fill > f.max() + 1e-9:
        return float("nan")
    return float(np.interp(fill, f, v))


def evaluate(sc: Scenario, dc_of, targets, eval_days: int, warmup: int, paths: int) -> dict:
    t0 = time.monotonic()
    _GSM_CACHE.clear()  # keyed by re-plan day and DC row: one data set's placements only
    T = len(sc.dates)
    a = T - eval_days - warmup
    net = build(sc, dc_of)
    cfg = PlanConfig(targets=TargetParams(kind="fill_rate"))
    rp = replan(sc, a, 7, cfg)
    plans = echelons(net, rp, cfg)
    # levels held for a week between re-plans: the average gap between truck and order days
    params = NetworkParams(paths=PathParams(n_paths=paths), review="mean")
    dem, dates = sc.demand[:, a:], sc.dates[a:]

    def replay(pol: NetworkPolicy) -> dict:
        sl = lambda x: x[:, a:] if x.ndim == 2 else x  # noqa: E731
        pol = NetworkPolicy(pol.name, sl(pol.st_s), sl(pol.st_S), sl(pol.dc_s), sl(pol.dc_S))
        r = simulate_network(dem, dates, net.rows, pol, warmup_days=warmup)
        assert r.shipped_over_stock <= 1e-9, f"{pol.name}: a DC shipped {r.shipped_over_stock} more than it had"
        log.info("%s: %s fill %.2f%% (DC %.2f%%), network %.0f", sc.name, pol.name, 100 * r.kpis["store_fill_rate"],
                 100 * r.kpis["dc_fill_rate"], r.kpis["network_inventory_value"])  # fmt: skip
        return r.kpis

    curves: dict[str, list] = {
        "stockwise network": [],
        "independent echelons": [],
        "stockpyl GSM": [],
        "ZF (s, S)": [],
        "direct": [],
    }
    for tg in targets:
        k = replay(stockwise_network(plans, T, tg, params))
        k["planned_dc_fill"] = float(np.mean(PLANNED_DC_FILL.pop(tg)))
        curves["stockwise network"].append((tg, k))
        curves["independent echelons"].append((tg, replay(independent(plans, T, tg, params))))
    for z in Z_GRID:
        curves["stockpyl GSM"].append((z, replay(gsm_network(plans, T, z, cfg))))
    for ratio in RATIO_GRID:
        curves["ZF (s, S)"].append((ratio, replay(zf_network(plans, T, ratio, cfg))))
    sim_params = SimParams(warmup_days=warmup, order_cost=cfg.order_cost, holding_rate=cfg.holding_rate)
    for tg in targets:
        k = run_sim(sc, stockwise_policy(sc, rp, tg, cfg), a, T, sim_params).kpis
        curves["direct"].append(
            (tg, {"store_fill_rate": k["fill_rate"], "network_inventory_value": k["avg_inventory_value"],
                  "store_inventory_value": k["avg_inventory_value"], "dc_inventory_value": 0.0})
        )  # fmt: skip
    return {
        "dataset": sc.name,
        "series": len(sc.keys),
        "dcs": sorted(set(net.dc_keys["dc"])),
        "eval_window": [str(sc.dates[a + warmup].date()), str(sc.dates[-1].date())],
        "curves": curves,
        "seconds": round(time.monotonic() - t0, 1),
    }


def table(res: dict, fills: list[float]) -> str:
    c = res["curves"]
    xy = {name: [(k["store_fill_rate"], k["network_inventory_value"]) for _, k in pts] for name, pts in c.items()}
    lines = [
        "| store fill | Stockwise network | independent echelons | stockpyl GSM | ZF (s, S) per echelon | "
        "direct (no DC) | vs independent | vs GSM | vs ZF |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in fills:
        v = {n: equal_fill(xy[n], f) for n in xy}
        sw = v["stockwise network"]
        vs = lambda other, sw=sw: f"{1 - sw / other:+.1%}" if np.isfinite(other) and np.isfinite(sw) else "n/a"  # noqa: E731
        fmt = lambda x: f"{x:,.0f}" if np.isfinite(x) else "out of range"  # noqa: E731
        lines.append(
            f"| {f:.1%} | {fmt(sw)} | {fmt(v['independent echelons'])} | {fmt(v['stockpyl GSM'])} | "
            f"{fmt(v['ZF (s, S)'])} | {fmt(v['direct'])} | {vs(v['independent echelons'])} | "
            f"{vs(v['stockpyl GSM'])} | {vs(v['ZF (s, S)'])} |"
        )
    return "\n".join(lines)


def points(res: dict) -> str:
    rows = [
        "| policy | knob | store fill | DC fill (planned) | stores | DC | network |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, pts in res["curves"].items():
        for knob, k in pts:
            dc = f"{k['dc_fill_rate']:.1%}" if "dc_fill_rate" in k else "–"
            if "planned_dc_fill" in k:
                dc += f" ({k['planned_dc_fill']:.1%})"
            rows.append(
                f"| {name} | {knob:g} | {k['store_fill_rate']:.2%} | {dc} | {k['store_inventory_value']:,.0f} | "
                f"{k['dc_inventory_value']:,.0f} | {k['network_inventory_value']:,.0f} |"
            )
    return "\n".join(rows)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.6), squeeze=False)
    style = {
        "stockwise network": "o-",
        "independent echelons": "s--",
        "stockpyl GSM": "^-.",
        "ZF (s, S)": "v-",
        "direct": "x:",
    }
    for ax, res in zip(axes[0], results, strict=True):
        for name, pts in res["curves"].items():
            xy = sorted((k["store_fill_rate"] * 100, k["network_inventory_value"]) for _, k in pts)
            ax.plot([x for x, _ in xy], [y for _, y in xy], style[name], label=name)
        ax.set_title(f"{res['dataset']}: network on-hand value against store fill")
        ax.set_xlabel("store fill rate (%)")
        ax.set_ylabel("average on-hand value (stores + DC)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["demo", "m5_tiny"], choices=["demo", "m5_tiny"])
    ap.add_argument("--targets", nargs="+", type=float, default=[0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    ap.add_argument("--fills", nargs="+", type=float, default=[0.94, 0.96, 0.98])
    ap.add_argument("--eval-days", type=int, default=182)
    ap.add_argument("--warmup", type=int, default=28)
    ap.add_argument("--paths", type=int, default=PathParams.n_paths)
    ap.add_argument("--png", default=str(REPO / "docs" / "img" / "network_cost_of_service.png"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    results = []
    for name in a.datasets:
        if name == "demo":
            sc, dc_of = demo_scenario(), lambda loc: "DC01"
        else:
            sc, dc_of = m5_scenario(), lambda loc: f"DC_{loc.split('_')[0]}"
        res = evaluate(sc, dc_of, a.targets, a.eval_days, a.warmup, a.paths)
        results.append(res)
        print(f"\n## {name}: {res['series']} store series behind {', '.join(res['dcs'])}; "
              f"evaluation {res['eval_window'][0]}..{res['eval_window'][1]}; {res['seconds']:.0f} s")  # fmt: skip
        print("\nnetwork on-hand value at equal store fill (interpolated on each policy's curve):\n")
        print(table(res, a.fills))
        print("\nevery replayed point:\n")
        print(points(res))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=float))
    plot(results, Path(a.png))
    print(f"\ncurves: {a.png}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
