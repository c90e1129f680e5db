"""Every lake dataset, declared once (in the spirit of a Kedro catalog): its path, its main file,
how it is read and written, and whether a scenario reads it from the official lake.

Jobs name datasets through this module, never by a path string, so a dataset moves in one place
and docs/architecture.md's lake layout is this list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from stockwise import lake

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


@dataclass(frozen=True)
class Dataset:
    path: str  # the partitioned dataset: <path>/ds=<date>/
    file: str | None = None  # its main file; None: every Parquet part
    doc: str = ""
    keep_history: bool = False  # keep every version ever written (the audit trail)
    shared_input: bool = False  # a scenario reads it from the official run of its date

    def exists(self, store: lake.Store, ds: date | str) -> bool:
        return lake.has_partition(store, self.path, _d(ds))

    def manifest(self, store: lake.Store, ds: date | str) -> lake.Partition:
        return lake.read_manifest(store, self.path, _d(ds))

    def read(self, store: lake.Store, ds: date | str, name: str | None = None) -> pd.DataFrame:
        """The main file (or `name`) as a frame; every Parquet part when the dataset has no main file."""
        return lake.read_parquet(store, self.path, _d(ds), name or self.file)

    def read_if_there(self, store: lake.Store, ds: date | str) -> pd.DataFrame | None:
        return self.read(store, ds) if self.exists(store, ds) else None

    def read_bytes(self, store: lake.Store, ds: date | str, name: str | None = None) -> bytes:
        return lake.read_file(store, self.path, _d(ds), name or self.file or "")

    def uri(self, store: lake.Store, ds: date | str, name: str | None = None) -> str:
        return store.uri(self.manifest(store, ds).key(name or self.file or ""))

    def write(
        self, store: lake.Store, ds: date | str, files: dict[str, bytes], meta: dict[str, Any] | None = None
    ) -> lake.Partition:
        return lake.write_partition(store, self.path, _d(ds), files, meta, keep_history=self.keep_history)

    def prefix(self, ds: date | str) -> str:
        return lake.partition_prefix(self.path, _d(ds))


def _d(ds: date | str) -> str:
    return ds.isoformat() if isinstance(ds, date) else str(ds)


def raw(extract: str) -> Dataset:
    return Dataset(
        f"raw/erp/{extract}", "data.parquet", "an extract as pulled from the ERP", keep_history=True, shared_input=True
    )


def validated(extract: str) -> Dataset:
    return Dataset(f"validated/{extract}", "data.parquet", "an extract that passed its suite", shared_input=True)


def quarantine(extract: str) -> Dataset:
    return Dataset(
        f"quarantine/{extract}", "data.parquet", "a batch that failed its suite, with the GX result", shared_input=True
    )


DATA_DOCS = Dataset("data_docs", "index.html", "the GX Data Docs site of the run", shared_input=True)
DEMAND_PANEL = Dataset("features/demand_panel", None, "daily panel per sku x location (Spark)", shared_input=True)
MOVEMENT_DAILY = Dataset(
    "features/movement_daily", None, "movements and book per sku x location x day (Spark)", shared_input=True
)
FORECASTS = Dataset("forecasts", "forecast.parquet", "mean, quantiles and sigma per sku x location x day")
ANOMALIES = Dataset("anomalies", "alerts.parquet", "alerts of the last weeks with value at risk")
STAGED_PLAN = Dataset("staging/plan", "plan.parquet", "the computed plan and its replay, before publishing")
PLANS = Dataset("plans", "reorder_plan.parquet", "the published order lines, exceptions and all positions")
REPORTS = Dataset("reports", "index.html", "the planner report and its Excel export")
SHELF_IMAGES = Dataset("shelf/images", None, "shelf photos and the planogram", shared_input=True)
SHELF_COUNTS = Dataset("shelf/counts", "counts.parquet", "facings counted per store x sku", shared_input=True)
SHELF_FINDINGS = Dataset("shelf/findings", "findings.parquet", "counts reconciled with the book", shared_input=True)
EVENTS = Dataset("events/stock", None, "the day's stock events, a Parquet file per micro-batch, each id once")
EVENTS_QUARANTINE = Dataset("events/quarantine", None, "events that could not be read, with why, a file per batch")
INTRADAY = Dataset(
    "plans_intraday",
    "lines.parquet",
    "the day's intraday revisions of the plan in force: the lines the stock events added",
    keep_history=True,
)

OVERRIDES_FILE = "config/overrides.csv"  # planner overrides kept in the lake (not partitioned)
FAILURES = "runs/failures"  # one record per task that failed for good (see stockwise.alerts)

# what a scenario reads from the official lake (lake.ScenarioStore): the shared inputs above
SHARED_PREFIXES = tuple(
    dict.fromkeys(
        [raw("x").path.split("/")[0] + "/", "validated/", "quarantine/", OVERRIDES_FILE.split("/")[0] + "/"]
        + [
            d.path.split("/")[0] + "/"
            for d in (DATA_DOCS, DEMAND_PANEL, MOVEMENT_DAILY, SHELF_IMAGES, SHELF_COUNTS, SHELF_FINDINGS)
            if d.shared_input
        ]
    )
)


def panel_parts(
    store: lake.Store, ds: date, days: int | None = None, columns: list[str] | None = None
) -> Iterator[pa.Table]:
    """The demand panel of `ds` one stored part at a time (Arrow tables): dates as timestamp[ns],
    an integer column with a missing value in the part as float64 (as pandas makes it); all of
    it, or its last `days` days (and only `columns`). A reader that needs the panel in another
    shape (the forecaster's matrices) builds it from the parts without holding the whole."""
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    part = DEMAND_PANEL.manifest(store, ds)
    since = (ds - timedelta(days=days)) if days else None
    for name in sorted(n for n in part.files if n.endswith(".parquet")):
        t = pq.read_table(io.BytesIO(store.get(part.key(name))), columns=columns)
        for i, f in enumerate(t.schema):
            if f.name == "date":
                t = t.set_column(i, "date", pc.cast(t.column(i), pa.timestamp("ns")))
            elif pa.types.is_integer(f.type) and t.column(i).null_count:
                t = t.set_column(i, f.name, pc.cast(t.column(i), pa.float64()))
        if since is not None:
            t = t.filter(pc.greater(t.column("date"), pa.scalar(datetime.combine(since, time()), pa.timestamp("ns"))))
        yield t


def panel_schema(store: lake.Store, ds: date) -> pa.Schema:
    """The columns of the demand panel of `ds` (from its first part's footer; no rows read)."""
    import io

    import pyarrow.parquet as pq

    part = DEMAND_PANEL.manifest(store, ds)
    first = sorted(n for n in part.files if n.endswith(".parquet"))[0]
    return pq.read_schema(io.BytesIO(store.get(part.key(first))))


def read_panel(store: lake.Store, ds: date, days: int | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """The demand panel of `ds`, sorted: all of it, or its last `days` days (and only `columns`).

    The parts are joined and sorted as Arrow tables and become one pandas frame once, its Arrow
    buffers freed as they convert: concatenating pandas parts, then sorting, held the panel three
    times over (17.5 GB for 20,000 series x 2 years). An integer column with a missing value in a
    part comes out as float64, as pandas made it part by part."""
    import pyarrow as pa

    tables = list(panel_parts(store, ds, days, columns))
    whole = pa.concat_tables(tables, promote_options="permissive")
    del tables
    whole = whole.sort_by([("sku", "ascending"), ("location_id", "ascending"), ("date", "ascending")])
    return whole.to_pandas(split_blocks=True, self_destruct=True)
