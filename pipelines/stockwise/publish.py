"""Job: publish the staged plan to `plans/ds=.../` and to the ERP, with one point of commit.

The protocol (docs/architecture.md, "Publishing"):

1. **stage** the plan's files in the lake as a new version `plans/ds=D/v=<hash>/` with its
   pending manifest; readers do not see it (the partition's manifest still names the old one);
2. **commit** in the ERP, in one transaction: the order lines, the exceptions, and the row of
   `stockwise_publications` that names the version. This is the single point of commit;
3. **flip** the lake's manifest to the new version (and drop the older versions).

A process killed before 2 leaves the old plan in force everywhere (the staged files are
orphans the next publish cleans up). Killed between 2 and 3, the ERP already holds the new
version: every reader (`publish`, `report`, `stockwise where`) first *reconciles*, flipping the
lake to the version the ERP names, so lake, ERP and report always agree; a rerun heals it too,
and the upserts keyed by (plan, sku, location) never duplicate a line.

A scenario (what-if) writes its plan into its own corner of the lake and never to the ERP; a
plan held by the gate is not published at all: the plan in force (if any) stays as it was.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from stockwise import exports, faults, lake
from stockwise.catalog import PLANS, STAGED_PLAN
from stockwise.erp.connect import connect
from stockwise.settings import Settings

log = logging.getLogger(__name__)

# the plan's CSV: every column a buyer may act on, money to the cent, quantities whole
MONEY = ("unit_cost", "unit_price", "order_value", "min_order_value")


def plan_id(ds: date) -> str:
    return f"SW-{ds.isoformat()}"


@dataclass(frozen=True)
class PublishResult:
    ds: str
    plan_id: str
    version: str
    lines: int
    exceptions: int
    requisitions_upserted: int
    requisitions_removed: int
    plan_csv: str
    plan_parquet: str
    erp: str
    seconds: float
    held: bool = False
    why: str = ""
    healed: str = ""
    scenario: str = ""


def plan_csv(orders) -> bytes:
    """Order lines as CSV: full precision for quantities, money to the cent, no internal columns."""
    out = orders.drop(columns=[c for c in ("row",) if c in orders.columns]).copy()
    for c in MONEY:
        if c in out:
            out[c] = out[c].round(2)
    for c in out.columns:
        if str(out[c].dtype).startswith("datetime"):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return exports.csv_bytes(out)


def exceptions_of(df):
    """Lines Stockwise will not order, with why: today, missing master data."""
    import pandas as pd

    if "needs_master_data" not in df:
        return pd.DataFrame(columns=["sku", "location_id", "kind", "detail"])
    x = df[df["needs_master_data"].fillna("").astype(str) != ""]
    return pd.DataFrame(
        {
            "sku": x["sku"].to_numpy(),
            "location_id": x["location_id"].to_numpy(),
            "kind": "needs_master_data",
            "detail": ("missing " + x["needs_master_data"].astype(str)).to_numpy(),
        }
    )


def reconcile(store, conn, ds: date) -> str:
    """Bring the lake to the plan version the ERP holds (a publish killed after its commit).

    Returns what was done: "" (they agree, or nothing was published), "healed <version>",
    or a warning when the ERP names a version the lake does not have.
    """
    pub = conn.publication(plan_id(ds))
    if not pub:
        return ""
    d = ds.isoformat()
    current = PLANS.manifest(store, d).version if PLANS.exists(store, d) else None
    if current == pub["version"]:
        return ""
    staged = lake.staged_partition(store, PLANS.path, d, pub["version"])
    if staged is None:
        msg = (
            f"the ERP holds plan {plan_id(ds)} version {pub['version']} but the lake has no such version "
            f"(it shows {current or 'none'}); rerun publish to publish the staged plan again"
        )
        log.error(msg)
        return msg
    lake.commit_partition(store, staged)
    log.warning(
        "healed an interrupted publish: the ERP committed plan %s version %s, the lake now shows it too (it showed %s)",
        plan_id(ds),
        pub["version"],
        current or "nothing",
    )
    return f"healed {pub['version']}"


def run(ds: date, settings: Settings | None = None) -> PublishResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    staged = STAGED_PLAN.manifest(store, d)
    pid = plan_id(ds)
    gate = staged.meta.get("gate") or {}
    conn = None if settings.scenario else connect(settings)
    healed = reconcile(store, conn, ds) if conn is not None else ""
    if gate.get("held"):
        # a held plan is not published; the plan in force (if any) stays in force, in the lake and the ERP
        log.warning("plan %s held back, not published: %s", pid, gate.get("why"))
        return PublishResult(
            d,
            pid,
            "",
            0,
            0,
            0,
            0,
            "",
            "",
            "",
            round(time.monotonic() - t0, 1),
            True,
            gate.get("why", ""),
            healed,
            settings.scenario or "",
        )
    df = STAGED_PLAN.read(store, d)
    orders = df[df["order_qty"] > 0].reset_index(drop=True)
    exceptions = exceptions_of(df)
    files = {
        "reorder_plan.parquet": lake.parquet_bytes(orders),
        "reorder_plan.csv": plan_csv(orders),
        "exceptions.csv": exports.csv_bytes(exceptions),
        "all_positions.parquet": lake.parquet_bytes(df),
        "simulation.json": STAGED_PLAN.read_bytes(store, d, "simulation.json"),
    }
    meta = {"plan_id": pid, "order_lines": len(orders), "exceptions": len(exceptions), **staged.meta}
    part = lake.stage_partition(store, PLANS.path, d, files, meta)
    faults.point(settings, "publish.after_stage")
    if conn is None:
        wb, where = {"upserted": 0, "removed": 0}, f"nowhere (scenario '{settings.scenario}')"
    else:
        wb = conn.commit_plan(
            pid,
            ds,
            part.version,
            orders,
            exceptions,
            published_by=_who(),
            before_commit=lambda: faults.point(settings, "publish.in_erp_transaction"),
        )
        where = conn.describe()
    faults.point(settings, "publish.after_erp_commit")
    lake.commit_partition(store, part)
    faults.point(settings, "publish.after_flip")
    log.info(
        "published plan %s version %s: %d lines, %d exceptions to %s and %s (%s)",
        pid,
        part.version,
        len(orders),
        len(exceptions),
        store.uri(PLANS.prefix(d)),
        where,
        wb,
    )
    return PublishResult(
        d,
        pid,
        part.version,
        len(orders),
        len(exceptions),
        wb["upserted"],
        wb["removed"],
        store.uri(part.key("reorder_plan.csv")),
        store.uri(part.key("reorder_plan.parquet")),
        where,
        round(time.monotonic() - t0, 1),
        False,
        gate.get("why", ""),
        healed,
        settings.scenario or "",
    )


def _who() -> str:
    import os
    import socket

    return f"stockwise@{socket.gethostname()}:{os.getpid()}"
