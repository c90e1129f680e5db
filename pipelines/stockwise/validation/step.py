"""Job: the data-quality gate. Passing batches go to `validated/`, failing ones to `quarantine/`.

A failure fails the job with a message that names each extract, the failed expectations and
example rows; nothing downstream runs, because downstream reads `validated/` only.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date

from stockwise import catalog, lake
from stockwise.erp.schema import EXTRACTS
from stockwise.errors import ValidationFailed
from stockwise.settings import Settings
from stockwise.validation.gate import validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidateResult:
    ds: str
    passed: list[str]
    rows: dict[str, int]
    data_docs: str
    seconds: float


def newest(name: str, df) -> str | None:
    """The newest date of a time-bound extract (what the plan's "data as of" shows)."""
    import pandas as pd

    col = EXTRACTS[name].date_column
    if not col or col not in df or not len(df):
        return None
    top = pd.to_datetime(df[col], errors="coerce").max()
    return None if pd.isna(top) else str(top.date())


def run(ds: date, settings: Settings | None = None) -> ValidateResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    # optional extracts the mapping leaves out were not pulled
    extracts = {
        name: catalog.raw(name).read(store, d)
        for name, spec in EXTRACTS.items()
        if not spec.optional or catalog.raw(name).exists(store, d)
    }
    gate = validate(extracts, ds, settings.great_expectations_dir, freshness_lag_days=settings.freshness_lag_days)
    status = {
        "passed": sorted(n for n, r in gate.results.items() if r.success),
        "failed": sorted(n for n, r in gate.results.items() if not r.success),
    }
    docs = catalog.DATA_DOCS.write(store, d, gate.docs_files, meta=status)
    docs_uri = store.uri(docs.key("index.html"))
    failures, quarantine = {}, {}
    for name, res in gate.results.items():
        if res.success:
            catalog.validated(name).write(
                store,
                d,
                {"data.parquet": lake.parquet_bytes(extracts[name])},
                meta={"rows": res.rows, "newest": newest(name, extracts[name])},
            )
            continue
        q = catalog.quarantine(name).write(
            store,
            d,
            {
                "data.parquet": lake.parquet_bytes(extracts[name]),
                "validation_result.json": json.dumps(res.result_json, indent=2, default=str).encode(),
                "failures.json": json.dumps(res.failures, indent=2, default=str).encode(),
            },
            meta={"rows": res.rows, "failed_expectations": len(res.failures)},
        )
        # a stale validated batch of the same date must not feed anything downstream
        stale = store.list(catalog.validated(name).prefix(d) + "/")
        if stale:
            store.delete(stale)
        failures[name] = res.failures
        quarantine[name] = store.uri(lake.partition_prefix(q.dataset, d))
    if failures:
        err = ValidationFailed(failures, quarantine)
        log.error("%s\nData Docs: %s", err, docs_uri)
        raise err
    log.info("all %d extracts passed validation; Data Docs: %s", len(gate.results), docs_uri)
    return ValidateResult(
        d, sorted(gate.results), {n: r.rows for n, r in gate.results.items()}, docs_uri, round(time.monotonic() - t0, 1)
    )
