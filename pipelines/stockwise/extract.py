"""Job: pull the canonical extracts from the ERP into `raw/erp/<extract>/ds=.../` (kept as pulled)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from stockwise import catalog, lake
from stockwise.erp.connect import connect
from stockwise.erp.schema import EXTRACTS
from stockwise.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractResult:
    ds: str
    source: str
    rows: dict[str, int]
    uris: dict[str, str]
    seconds: float


def run(ds: date, settings: Settings | None = None) -> ExtractResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    conn = connect(settings)
    t0 = time.monotonic()
    rows, uris = {}, {}
    for name, spec in EXTRACTS.items():
        if spec.optional and not conn.maps(name):
            log.info("extract %-13s not in the mapping (optional): skipped", name)
            continue
        # batch by batch into one Parquet file (a multi-year extract is never one pandas frame)
        batches = (
            conn.extract_batches(name, ds, settings.history_days)
            if hasattr(conn, "extract_batches")
            else [conn.extract(name, ds, settings.history_days)]
        )
        data, n = lake.parquet_bytes_of_batches(batches)
        # raw keeps every version it ever received for this date: the audit trail
        part = catalog.raw(name).write(store, ds, {"data.parquet": data}, meta={"rows": n, "source": conn.describe()})
        rows[name] = n
        uris[name] = store.uri(part.key("data.parquet"))
        log.info("extracted %-11s %9d rows from %s", name, n, conn.describe())
    return ExtractResult(ds.isoformat(), conn.describe(), rows, uris, round(time.monotonic() - t0, 1))
