"""Job: the data-quality gate. Passing batches go to `validated/`, failing ones to `quarantine/`.

A failure fails the job with a message that names each extract, the failed expectations and
example rows; nothing downstream runs, because downstream reads `validated/` only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
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


class RawExtracts(Mapping):
    """The date's raw extracts, each read from the lake when asked for and not kept: validation
    holds one extract in memory at a time (a 20,000-series lake's extracts together took 6 GB)."""

    def __init__(self, store, ds: str) -> None:
        self.store, self.ds = store, ds
        # optional extracts the mapping leaves out were not pulled
        self.names = [n for n, spec in EXTRACTS.items() if not spec.optional or catalog.raw(n).exists(store, ds)]

    def __getitem__(self, name: str):
        if name not in self.names:
            raise KeyError(name)
        return catalog.raw(name).read(self.store, self.ds)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def run(ds: date, settings: Settings | None = None) -> ValidateResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    extracts = RawExtracts(store, d)
    gate = validate(extracts, ds, settings.great_expectations_dir, freshness_lag_days=settings.freshness_lag_days)
    status = {
        "passed": sorted(n for n, r in gate.results.items() if r.success),
        "failed": sorted(n for n, r in gate.results.items() if not r.success),
    }
    docs = catalog.DATA_DOCS.write(store, d, gate.docs_files, meta=status)
    docs_uri = store.uri(docs.key("index.html"))
    failures, quarantine = {}, {}
    for name, res in gate.results.items():
        # the batch as pulled, byte for byte: what passed is what downstream reads
        data = catalog.raw(name).read_bytes(store, d)
        if res.success:
            catalog.validated(name).write(
                store, d, {"data.parquet": data}, meta={"rows": res.rows, "newest": res.newest}
            )
            continue
        q = catalog.quarantine(name).write(
            store,
            d,
            {
                "data.parquet": data,
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
