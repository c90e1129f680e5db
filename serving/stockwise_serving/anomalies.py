"""Job: find inventory anomalies, rank them by money at risk, and turn them into cycle counts.

Reads the daily movement table the feature job built (`features/movement_daily`) in batches of
whole series (`anomaly_batch_rows` rows, so memory stays flat however many series there are),
runs the detectors (`stockwise.anomaly.rules`) over each series' whole history with the
assortment's pooled figures taken in a first pass (the alerts equal those of one pass over
everything), and keeps the alerts of the last `lookback_days`:

- `anomalies/ds=D/alerts.parquet` (and CSV): type, sku, location, day, the window of its cause,
  units, value at risk (units x unit cost), a reason, and whether it is still open (phantom
  stock: no sale and no count since);
- the ERP's `cycle_count_tasks`, one per actionable alert (phantom stock, fat finger, duplicate
  receipt, negative or unexplained book), keyed by the alert so a rerun updates rather than
  duplicates, due within `count_due_days`, the dearest first;
- planning reads the open phantom-stock alerts and, unless told to trust the book, plans those
  series as if the shelf were empty (a suspect zero-selling item is not left unreplenished).
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from stockwise import catalog, exports, lake, registry
from stockwise.anomaly.rules import FROM_DATA, Pooled, RuleParams, detect
from stockwise.erp.connect import connect
from stockwise.registry import ANOMALY
from stockwise.settings import Settings

log = logging.getLogger(__name__)

ACTIONABLE = (
    "phantom_stock",
    "fat_finger",
    "adjustment_spike",
    "duplicate_receipt",
    "negative_stock",
    "book_mismatch",
    "unusual_movement",
)
KEYS = ["sku", "location_id"]
POOL_COLUMNS = ["max_abs_adjustment", "n_adjustments", "adjustments", "shrink", "receipts"]


@dataclass(frozen=True)
class AnomalyResult:
    ds: str
    model: str
    alerts: int
    by_type: dict
    open_phantom: int
    value_at_risk: float
    cycle_count_tasks: int
    uri: str
    seconds: float


def open_phantoms(alerts: pd.DataFrame, daily: pd.DataFrame) -> np.ndarray:
    """Phantom-stock alerts with no sale and no count on their series since they fired."""
    ph = alerts["type"].to_numpy() == "phantom_stock"
    if not ph.any():
        return ph
    later = daily[(daily["sold"] > 0) | (daily["n_counts"] > 0)].groupby(KEYS)["date"].max().rename("last_activity")
    a = alerts[KEYS + ["date"]].merge(later.reset_index(), on=KEYS, how="left")
    return ph & (a["last_activity"].isna() | (a["last_activity"] <= a["date"])).to_numpy()


def champion(settings: Settings):
    """`stockwise-anomaly@champion` as a pyfunc (or the champion before it, when it is broken)
    and its version; (None, None) without one that loads: the rules then work alone."""
    import mlflow

    from stockwise.tracking import use_mlflow

    use_mlflow(settings, ANOMALY.experiment)
    model, mv, failures = registry.serve(mlflow.MlflowClient(), ANOMALY, lambda m, _mv: m)
    if failures:
        log.error("FALLBACK: %s", "; ".join(failures))
    return (model, mv.version) if mv is not None else (None, None)


def score(
    daily: pd.DataFrame,
    promos: pd.DataFrame | None,
    items: pd.DataFrame,
    ds: date,
    lookback_days: int,
    params: RuleParams | None = None,
    model=None,
    pool: Pooled = FROM_DATA,
) -> pd.DataFrame:
    """The alerts of the last `lookback_days` up to `ds`, with value at risk and openness.
    `promos`: sales rows with `on_promo` (a day not listed is no promotion); `model`: a
    registered anomaly pyfunc (rules + forest), without it the rules alone; `pool`: the
    assortment's pooled figures when `daily` is one batch of it."""
    daily = daily.copy()
    daily["date"] = pd.to_datetime(daily["date"]).astype("datetime64[ns]")  # Parquet may give us
    daily = daily[daily["date"] <= pd.Timestamp(ds)]
    if promos is not None and "on_promo" in promos:
        pr = promos[["date", *KEYS, "on_promo"]].assign(date=lambda x: pd.to_datetime(x["date"]))
        daily = daily.merge(pr.drop_duplicates(["date", *KEYS]), on=["date", *KEYS], how="left")
        daily["on_promo"] = daily["on_promo"].eq(True)  # a missing flag is no promotion
    if model is not None:
        alerts = model.predict(daily, params=pool.params())
    else:
        alerts = detect(daily, None, params or RuleParams(), pool)
    alerts["open"] = open_phantoms(alerts, daily)
    alerts = alerts[alerts["date"] > pd.Timestamp(ds - timedelta(days=lookback_days))].reset_index(drop=True)
    cost = items.set_index("sku")["unit_cost"]
    alerts["unit_cost"] = alerts["sku"].map(cost).fillna(0.0).astype(float)
    alerts["magnitude"] = pd.to_numeric(alerts["magnitude"]).astype(float)  # typed even when there are none
    alerts["value_at_risk"] = (alerts["magnitude"] * alerts["unit_cost"]).round(2)
    alerts["alert_id"] = (
        "AN-"
        + alerts["type"]
        + "-"
        + alerts["sku"]
        + "-"
        + alerts["location_id"]
        + "-"
        + alerts["date"].dt.strftime("%Y%m%d")
    )
    return ranked(alerts)


def ranked(alerts: pd.DataFrame) -> pd.DataFrame:
    """Dearest first, then the latest, then by id: one order however the series were batched."""
    return alerts.sort_values(
        ["value_at_risk", "date", "alert_id"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)


def promotions(store, ds: str) -> pd.DataFrame | None:
    """The validated sales' promotion days (date, sku, location, on_promo), None without the column."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    f = pq.ParquetFile(io.BytesIO(catalog.validated("sales").read_bytes(store, ds)))
    if "on_promo" not in f.schema_arrow.names:
        return None
    # a batch at a time, keeping only the promotion days: the sales never sit whole in memory
    kept = [
        b.filter(pc.fill_null(pc.equal(b.column("on_promo"), True), False))
        for b in f.iter_batches(batch_size=1_000_000, columns=["date", *KEYS, "on_promo"])
    ]
    if not kept:
        return pd.DataFrame(columns=["date", *KEYS, "on_promo"])
    return pa.Table.from_batches(kept).to_pandas()


def score_in_batches(
    store, ds: date, promos: pd.DataFrame | None, items: pd.DataFrame, lookback_days: int, rows: int, model=None
) -> pd.DataFrame:
    """`score` over the movement table a batch of whole series at a time (see `lake.iter_series`)."""
    d = ds.isoformat()
    path = catalog.MOVEMENT_DAILY.path
    pool = Pooled.of(lake.iter_series(store, path, d, KEYS, rows, columns=POOL_COLUMNS))
    found, n_rows, n_series, t0 = [], 0, 0, time.monotonic()
    for i, chunk in enumerate(lake.iter_series(store, path, d, KEYS, rows), start=1):
        found.append(score(chunk, promos, items, ds, lookback_days, model=model, pool=pool))
        n_rows += len(chunk)
        n_series += int(chunk[KEYS].drop_duplicates().shape[0])
        log.info(
            "anomalies: batch %d, %s series and %s rows scored so far, %.0f s",
            i,
            f"{n_series:,}",
            f"{n_rows:,}",
            time.monotonic() - t0,
        )
    if not found:  # an empty movement table: score it as it is, for the alert columns
        return score(catalog.MOVEMENT_DAILY.read(store, d), promos, items, ds, lookback_days, model=model)
    some = [a for a in found if len(a)] or found[:1]
    return ranked(pd.concat(some, ignore_index=True))


def with_shelf_evidence(alerts: pd.DataFrame, store, ds: date, items: pd.DataFrame) -> pd.DataFrame:
    """Shelves photographed empty while the book shows stock (the shelf_vision DAG's findings of
    the day) join the alerts as open phantom stock, unless the movements already raised it."""
    f = catalog.SHELF_FINDINGS.read_if_there(store, ds)
    if f is None:
        return alerts
    f = f[f["finding"] == "suspected_phantom"]
    known = set(
        zip(
            alerts.loc[alerts["type"] == "phantom_stock", "sku"],
            alerts.loc[alerts["type"] == "phantom_stock", "location_id"],
            strict=True,
        )
    )
    f = f[[(a, b) not in known for a, b in zip(f["sku"], f["location_id"], strict=True)]]
    if not len(f):
        return alerts
    cost = items.set_index("sku")["unit_cost"]
    day = pd.Timestamp(ds)
    new = pd.DataFrame(
        {
            "type": "phantom_stock",
            "sku": f["sku"].to_numpy(),
            "location_id": f["location_id"].to_numpy(),
            "date": day,
            "window_start": day,
            "window_end": day,
            "magnitude": f["on_hand"].to_numpy(dtype=float),
            "score": 1.0,
            "reason": "shelf photo: " + f["reason"],
            "source": "shelf_photo",
            "open": True,
        }
    )
    new["unit_cost"] = new["sku"].map(cost).fillna(0.0).astype(float)
    new["value_at_risk"] = (new["magnitude"] * new["unit_cost"]).round(2)
    new["alert_id"] = "AN-phantom_stock-" + new["sku"] + "-" + new["location_id"] + "-" + day.strftime("%Y%m%d")
    # (concatenating an empty frame is deprecated in pandas: keep its columns instead)
    out = (
        pd.concat([alerts, new], ignore_index=True)
        if len(alerts)
        else new.reindex(columns=list(dict.fromkeys([*alerts.columns, *new.columns])))
    )
    return ranked(out)


def tasks(alerts: pd.DataFrame, ds: date, due_days: int) -> pd.DataFrame:
    a = alerts[alerts["type"].isin(ACTIONABLE) & (alerts["type"].ne("phantom_stock") | alerts["open"])]
    # the dearest are counted first: due tomorrow, the rest spread over the next days
    rank = np.arange(len(a))
    due = [ds + timedelta(days=1 + min(due_days - 1, int(r) * due_days // max(len(a), 1))) for r in rank]
    return pd.DataFrame(
        {
            "task_id": a["alert_id"].to_numpy(),
            "sku": a["sku"].to_numpy(),
            "location_id": a["location_id"].to_numpy(),
            "due": due,
            "priority": a["value_at_risk"].to_numpy(),
            "reason": [f"{t.replace('_', ' ')}: {r}" for t, r in zip(a["type"], a["reason"], strict=True)],
            "source": ANOMALY.name,
        }
    )


def run(ds: date, settings: Settings | None = None) -> AnomalyResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    items = catalog.validated("items").read(store, d)
    model, version = champion(settings)
    if model is None:
        log.info("no %s@champion registered: the rule detectors alone", ANOMALY.name)
    alerts = score_in_batches(
        store,
        ds,
        promotions(store, d),
        items,
        settings.anomaly_lookback_days,
        settings.anomaly_batch_rows,
        model=model,
    )
    alerts = with_shelf_evidence(alerts, store, ds, items)
    recent = alerts["date"] > pd.Timestamp(ds - timedelta(days=settings.anomaly_task_days))
    t = tasks(alerts[recent | alerts["open"]], ds, settings.count_due_days)
    part = catalog.ANOMALIES.write(
        store,
        d,
        {
            "alerts.parquet": lake.parquet_bytes(alerts),
            # full magnitudes, money to the cent (a "%.4g" format turned 12,345 into 1.234e+04)
            "alerts.csv": exports.csv_bytes(alerts.drop(columns=["open"]).round({"value_at_risk": 2, "unit_cost": 2})),
        },
        meta={
            "alerts": len(alerts),
            "by_type": alerts["type"].value_counts().to_dict(),
            "open_phantom": int(alerts["open"].sum()),
            "lookback_days": settings.anomaly_lookback_days,
            "model": f"{ANOMALY.name} v{version}" if version else "rules",
        },
    )
    if settings.scenario:
        n, where = 0, "nowhere (scenario: the ERP is not written)"
    else:
        conn = connect(settings)
        n, where = (conn.write_cycle_count_tasks(t, ds) if len(t) else 0), conn.describe()
    by_type = {k: int(v) for k, v in alerts["type"].value_counts().items()}
    log.info(
        "anomalies: %d alerts in the last %d days %s, %d open phantom stock, %.2f at risk; %d cycle-count tasks to %s",
        len(alerts),
        settings.anomaly_lookback_days,
        by_type,
        int(alerts["open"].sum()),
        alerts["value_at_risk"].sum(),
        n,
        where,
    )
    return AnomalyResult(
        d,
        f"{ANOMALY.name} v{version}" if version else "rules",
        len(alerts),
        by_type,
        int(alerts["open"].sum()),
        round(float(alerts["value_at_risk"].sum()), 2),
        n,
        store.uri(part.key("alerts.parquet")),
        round(time.monotonic() - t0, 1),
    )
