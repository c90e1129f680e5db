"""Job: compute the reorder plan for `ds` into `staging/plan/` (publish makes it official)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from stockwise import lake
from stockwise.planning.policy import PolicyParams, plan
from stockwise.settings import Settings

log = logging.getLogger(__name__)

STAGING = "staging/plan"


@dataclass(frozen=True)
class PlanResult:
    ds: str
    lines: int
    order_lines: int
    order_units: float
    order_value: float
    service_level: float
    uri: str
    seconds: float


def run(ds: date, settings: Settings | None = None, service_level: float | None = None,
        horizon_days: int | None = None) -> PlanResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    params = PolicyParams(
        service_level=service_level or settings.service_level,
        horizon_days=horizon_days or settings.horizon_days,
    )
    v = {n: lake.read_parquet(store, f"validated/{n}", d, "data.parquet")
         for n in ("items", "suppliers", "stock", "open_orders")}
    fc = lake.read_parquet(store, "forecasts", d, "forecast.parquet")
    df = plan(fc, v["items"], v["suppliers"], v["stock"], v["open_orders"], ds, params)
    orders = df[df["order_qty"] > 0]
    part = lake.write_partition(
        store, STAGING, d, {"plan.parquet": lake.parquet_bytes(df)},
        meta={"service_level": params.service_level, "horizon_days": params.horizon_days},
    )
    log.info("plan: %d sku x locations, %d to order (%.0f units, %.2f value)",
             len(df), len(orders), orders["order_qty"].sum(), orders["order_value"].sum())
    return PlanResult(d, len(df), len(orders), float(orders["order_qty"].sum()),
                      round(float(orders["order_value"].sum()), 2), params.service_level,
                      store.uri(part.key("plan.parquet")), round(time.monotonic() - t0, 1))
