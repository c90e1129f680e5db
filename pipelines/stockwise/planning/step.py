"""Job: compute the reorder plan for `ds` into `staging/plan/`, gate it by simulation.

Publish makes a staged plan official unless the gate held it back (see `planning.gate`).
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass
from datetime import date

import pandas as pd

from stockwise import catalog, lake
from stockwise.planning.engine import Inputs, PlanConfig, plan_detail
from stockwise.planning.gate import GateParams, check, check_network
from stockwise.planning.network_plan import apply_network
from stockwise.planning.targets import TargetParams
from stockwise.settings import Settings
from stockwise.version import code_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanResult:
    ds: str
    lines: int
    order_lines: int
    order_units: float
    order_value: float
    service_level: float
    simulated_fill_rate: float | None
    gate_passed: bool
    held: bool
    why: str
    uri: str
    seconds: float


def lake_overrides(store) -> pd.DataFrame | None:
    if not store.exists(catalog.OVERRIDES_FILE):
        return None
    df = pd.read_csv(io.BytesIO(store.get(catalog.OVERRIDES_FILE)), dtype={"sku": str, "location_id": str})
    log.info("%d planner override(s) from %s", len(df), store.uri(catalog.OVERRIDES_FILE))
    return df


def read_inputs(store, d: str, settings: Settings) -> Inputs:
    """What the engine plans from: the validated extracts, forecasts, overrides (ERP and lake
    file), and the stock not to trust (open phantom-stock alerts, shelves photographed empty)."""
    v = {n: catalog.validated(n).read(store, d) for n in ("items", "suppliers", "stock", "open_orders", "sales")}
    erp_ovr, file_ovr = catalog.validated("overrides").read_if_there(store, d), lake_overrides(store)
    ovr = (
        pd.concat([x for x in (erp_ovr, file_ovr) if x is not None], ignore_index=True)
        if erp_ovr is not None or file_ovr is not None
        else None
    )
    suspect = None
    if catalog.ANOMALIES.exists(store, d) and not settings.trust_book_on_phantom:
        al = catalog.ANOMALIES.read(store, d)
        suspect = al[(al["type"] == "phantom_stock") & al["open"]]
        log.info("%d series with open phantom-stock alerts planned as if empty", len(suspect))
    if catalog.SHELF_FINDINGS.exists(store, d) and not settings.trust_book_on_phantom:
        shelf = catalog.SHELF_FINDINGS.read(store, d)
        shelf = shelf[shelf["finding"] == "suspected_phantom"][["sku", "location_id"]]
        log.info("%d shelves photographed empty while the book shows stock: planned as empty", len(shelf))
        suspect = shelf if suspect is None else pd.concat([suspect[["sku", "location_id"]], shelf], ignore_index=True)
    return Inputs(
        forecast=catalog.FORECASTS.read(store, d),
        items=v["items"],
        suppliers=v["suppliers"],
        stock=v["stock"],
        open_orders=v["open_orders"],
        sales=v["sales"],
        receipts=catalog.validated("receipts").read_if_there(store, d),
        overrides=ovr,
        reorder_rules=catalog.validated("reorder_rules").read_if_there(store, d),
        suspect_stock=suspect,
        sourcing=catalog.validated("sourcing").read_if_there(store, d),
        transfers=catalog.validated("transfers").read_if_there(store, d),
    )


def _direct_lines(frame: pd.DataFrame, sourcing: pd.DataFrame | None) -> int:
    """Lines with demand at a location neither served by a DC nor one: they buy from suppliers
    with the single-echelon plan."""
    served = set() if sourcing is None else set(sourcing["location_id"]) | set(sourcing["source_id"])
    return int((~frame["location_id"].isin(served) & frame["mu_d"].gt(0)).sum())


def _simulated_fill(sim: dict) -> float | None:
    """The fill rate the published plan replayed to: the stores' in the network replay when the
    network is the whole plan."""
    if sim.get("network") and not sim.get("direct_lines"):
        return float(sim["network"]["kpis"]["store_fill_rate"])
    return sim["stockwise"]["fill_rate"] if sim.get("stockwise") else None


def run(
    ds: date,
    settings: Settings | None = None,
    service_level: float | None = None,
    horizon_days: int | None = None,
    budget: float | None = None,
    gate_margin: float | None = None,
    publish_if_gate_fails: bool = False,
) -> PlanResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    target = service_level or settings.service_level
    cfg = PlanConfig(
        target=target,
        targets=TargetParams(kind=settings.target_kind),
        policy=settings.plan_policy,
        method=settings.plan_method,
        order_cost=settings.order_cost,
        holding_rate=settings.holding_rate,
        budget=budget if budget is not None else settings.budget,
    )
    inp = read_inputs(store, d, settings)
    planned = plan_detail(inp, ds, cfg)
    net = apply_network(planned, inp, ds, cfg, inp.sourcing)
    df = net.frame
    if net.levels is not None:
        log.info("network: %d store lines get transfers from %d DC lines (sourcing table)", net.stores, net.dcs)
    log.info(
        "plan: %d sku x locations planned in %.1fs; replaying the policy on recent demand",
        len(df),
        time.monotonic() - t0,
    )
    gp = GateParams(
        window_days=settings.gate_window_days,
        margin=gate_margin if gate_margin is not None else settings.gate_margin,
        min_days=settings.gate_min_days,
    )
    sim = check(planned, inp.sales, ds, cfg, gp, reorder_rules=inp.reorder_rules)
    if net.levels is not None and sim["checked"]:
        # what is published for the sourced stores is the network's plan: replay that too (and
        # the ERP's own min/max network on the same days)
        sim["network"] = check_network(net, inp.sales, ds, gp, reorder_rules=inp.reorder_rules)
        sim["direct_lines"] = _direct_lines(planned.frame, inp.sourcing)
        if sim["direct_lines"]:
            sim["passed"] = bool(sim["passed"] and sim["network"]["passed"])
            sim["why"] += "; " + sim["network"]["why"]
        else:
            # every line with demand is planned across echelons: the single-echelon replay (the
            # stores buying from suppliers themselves) is not what is published; the network's is
            sim["single_echelon"] = {"passed": sim["passed"], "why": sim["why"]}
            sim["passed"] = sim["network"]["passed"]
            sim["why"] = sim["network"]["why"]
    held = not sim["passed"] and not publish_if_gate_fails
    why = sim["why"] + (
        "; plan held back (not published)"
        if held
        else "; published anyway (gate overridden)"
        if not sim["passed"]
        else ""
    )
    (log.warning if not sim["passed"] else log.info)("gate: %s", why)
    orders = df[df["order_qty"] > 0]
    part = catalog.STAGED_PLAN.write(
        store,
        d,
        {"plan.parquet": lake.parquet_bytes(df), "simulation.json": json.dumps(sim, indent=2).encode()},
        meta={
            "whatifs": {
                k: v
                for k, v in (("service_level", service_level), ("horizon_days", horizon_days), ("budget", budget))
                if v is not None
            }
            if settings.scenario
            else {},
            "scenario": settings.scenario,
            "code_version": code_version(settings),  # lineage: the commit that made this plan
            "service_level": target,
            "target_kind": cfg.targets.kind,
            "policy": cfg.policy,
            "method": cfg.method,
            "horizon_days": horizon_days or settings.horizon_days,
            "budget": cfg.budget,
            "network": {"store_lines": net.stores, "dc_lines": net.dcs} if net.levels is not None else None,
            "gate": {
                "passed": sim["passed"],
                "checked": sim["checked"],
                "held": held,
                "why": why,
                "simulated_fill_rate": _simulated_fill(sim),
            },
        },
    )
    log.info(
        "plan: %d sku x locations, %d to order (%.0f units, %.2f value)",
        len(df),
        len(orders),
        orders["order_qty"].sum(),
        orders["order_value"].sum(),
    )
    return PlanResult(
        d,
        len(df),
        len(orders),
        float(orders["order_qty"].sum()),
        round(float(orders["order_value"].sum()), 2),
        target,
        round(fill, 4) if (fill := _simulated_fill(sim)) is not None else None,
        sim["passed"],
        held,
        why,
        store.uri(part.key("plan.parquet")),
        round(time.monotonic() - t0, 1),
    )
