"""Job: publish the staged plan to `plans/ds=.../` (Parquet, CSV, manifest last) and to the ERP."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from stockwise import lake
from stockwise.erp.connect import connect
from stockwise.planning.step import STAGING
from stockwise.settings import Settings

log = logging.getLogger(__name__)

PLANS = "plans"


def plan_id(ds: date) -> str:
    return f"SW-{ds.isoformat()}"


@dataclass(frozen=True)
class PublishResult:
    ds: str
    plan_id: str
    lines: int
    requisitions_upserted: int
    requisitions_removed: int
    plan_csv: str
    plan_parquet: str
    erp: str
    seconds: float
    held: bool = False
    why: str = ""


def run(ds: date, settings: Settings | None = None) -> PublishResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    staged = lake.read_manifest(store, STAGING, d)
    pid = plan_id(ds)
    gate = staged.meta.get("gate") or {}
    if gate.get("held"):
        # a plan held by the gate is not published; an earlier published plan of the same date is
        # withdrawn from the lake so that nobody acts on it (the ERP keeps what it already has)
        stale = store.list(lake.partition_prefix(PLANS, d) + "/")
        if stale:
            store.delete(stale)
        log.warning("plan %s held back, not published: %s", pid, gate.get("why"))
        return PublishResult(d, pid, 0, 0, 0, "", "", "", round(time.monotonic() - t0, 1), True, gate.get("why", ""))
    df = lake.read_parquet(store, STAGING, d, "plan.parquet")
    orders = df[df["order_qty"] > 0].reset_index(drop=True)
    part = lake.write_partition(
        store, PLANS, d,
        {
            "reorder_plan.parquet": lake.parquet_bytes(orders),
            "reorder_plan.csv": orders.to_csv(index=False, float_format="%.4g").encode(),
            "all_positions.parquet": lake.parquet_bytes(df),
            "simulation.json": lake.read_file(store, STAGING, d, "simulation.json"),
        },
        meta={"plan_id": pid, "order_lines": len(orders), **staged.meta},
    )
    conn = connect(settings)
    wb = conn.write_requisitions(pid, orders, ds)
    log.info("published plan %s: %d lines to %s and %s (%s)", pid, len(orders),
             store.uri(lake.partition_prefix(PLANS, d)), conn.describe(), wb)
    return PublishResult(d, pid, len(orders), wb["upserted"], wb["removed"],
                         store.uri(part.key("reorder_plan.csv")), store.uri(part.key("reorder_plan.parquet")),
                         conn.describe(), round(time.monotonic() - t0, 1), False, gate.get("why", ""))
