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


def run(ds: date, settings: Settings | None = None) -> PublishResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    staged = lake.read_manifest(store, STAGING, d)
    df = lake.read_parquet(store, STAGING, d, "plan.parquet")
    orders = df[df["order_qty"] > 0].reset_index(drop=True)
    pid = plan_id(ds)
    part = lake.write_partition(
        store, PLANS, d,
        {
            "reorder_plan.parquet": lake.parquet_bytes(orders),
            "reorder_plan.csv": orders.to_csv(index=False, float_format="%.4g").encode(),
            "all_positions.parquet": lake.parquet_bytes(df),
        },
        meta={"plan_id": pid, "order_lines": len(orders), **staged.meta},
    )
    conn = connect(settings)
    wb = conn.write_requisitions(pid, orders, ds)
    log.info("published plan %s: %d lines to %s and %s (%s)", pid, len(orders),
             store.uri(lake.partition_prefix(PLANS, d)), conn.describe(), wb)
    return PublishResult(d, pid, len(orders), wb["upserted"], wb["removed"],
                         store.uri(part.key("reorder_plan.csv")), store.uri(part.key("reorder_plan.parquet")),
                         conn.describe(), round(time.monotonic() - t0, 1))
