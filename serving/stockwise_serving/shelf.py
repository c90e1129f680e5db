"""Jobs: count facings on the day's shelf photos, then reconcile them with the ERP.

`count_facings`: every photo in `shelf/images/ds=D/` is scored by `stockwise-shelf@champion`
(the MLflow pyfunc); boxes are assigned to the planogram's bays by their centres, giving facings
per store x sku; unreadable files are listed with the reason and skipped. Output:
`shelf/counts/ds=D/` (counts per bay, per photo, and the skipped files).

`reconcile`: counts against the planogram and the ERP's book that day
(`stockwise.shelf.reconcile`): suspected phantom stock, shelf gaps, book too low. Findings go
to `shelf/findings/ds=D/` and to the ERP's `cycle_count_tasks` (keyed by finding, idempotent);
planning reads the suspected phantoms and plans those shelves as empty.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from stockwise import catalog, lake, registry
from stockwise.erp.connect import connect
from stockwise.errors import ModelError
from stockwise.registry import SHELF
from stockwise.settings import Settings
from stockwise.shelf.reconcile import reconcile as reconcile_counts
from stockwise.tracking import use_mlflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CountResult:
    ds: str
    model: str
    photos: int
    skipped: int
    bays: int
    facings: int
    uri: str
    seconds: float


@dataclass(frozen=True)
class ReconcileResult:
    ds: str
    findings: dict
    cycle_count_tasks: int
    uri: str
    seconds: float


def assign_to_bays(pred: pd.DataFrame, planogram: pd.DataFrame) -> pd.DataFrame:
    """Facings per planogram bay: a box belongs to the bay whose region holds its centre."""
    rows = []
    boxes = {r.image: np.array(json.loads(r.boxes)).reshape(-1, 5) for r in pred.itertuples() if not r.error}
    for b in planogram.itertuples():
        bx = boxes.get(b.image)
        if bx is None:
            continue
        x0, y0, x1, y1 = b.region
        cx, cy = (bx[:, 0] + bx[:, 2]) / 2, (bx[:, 1] + bx[:, 3]) / 2
        n = int(((cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)).sum())
        rows.append(
            {
                "image": b.image,
                "location_id": b.location_id,
                "sku": b.sku,
                "facings": n,
                "expected_facings": b.expected_facings,
            }
        )
    df = pd.DataFrame(rows, columns=["image", "location_id", "sku", "facings", "expected_facings"])
    # a sku shown in several bays (or photos) of a store: one count for the store's shelf
    return df.groupby(["location_id", "sku"], as_index=False).agg(
        facings=("facings", "sum"),
        expected_facings=("expected_facings", "sum"),
        image=("image", lambda s: ",".join(sorted(set(s)))),
    )


def run(ds: date, settings: Settings | None = None) -> CountResult:
    import mlflow

    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    part = catalog.SHELF_IMAGES.manifest(store, d)
    planogram = pd.DataFrame(json.loads(store.get(part.key("planogram.json")))["bays"])
    use_mlflow(settings, SHELF.experiment)
    model, mv, failures = registry.serve(mlflow.MlflowClient(), SHELF, lambda m, _mv: m)
    if mv is None:
        raise ModelError(
            f"no {SHELF.name} champion can count facings"
            + (f" ({'; '.join(failures)})" if failures else ": train and promote one (make shelf)")
        )
    if failures:
        log.error("FALLBACK: %s; counting with v%s", "; ".join(failures), mv.version)
    with tempfile.TemporaryDirectory() as tmp:
        local = {}
        for name in sorted(n for n in part.files if n != "planogram.json"):
            p = Path(tmp) / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(store.get(part.key(name)))
            local[str(p)] = name
        pred = (
            model.predict(pd.DataFrame({"image": list(local)}))
            if local
            else pd.DataFrame(columns=["image", "facings", "rows", "boxes", "error"])
        )
    pred["image"] = pred["image"].map(local)
    skipped = pred[pred["error"] != ""]
    for r in skipped.itertuples():
        log.warning("shelf photo %s skipped: %s", r.image, r.error)
    counts = assign_to_bays(pred, planogram)
    counts["date"] = pd.Timestamp(ds)
    out = catalog.SHELF_COUNTS.write(
        store,
        d,
        {
            "counts.parquet": lake.parquet_bytes(counts),
            "photos.parquet": lake.parquet_bytes(pred),
            "skipped.json": json.dumps(skipped[["image", "error"]].to_dict(orient="records"), indent=1).encode(),
        },
        meta={"model": f"{SHELF.name} v{mv.version}", "photos": len(pred), "skipped": len(skipped)},
    )
    log.info(
        "shelf: %d photos (%d skipped), %d bays, %d facings counted with %s v%s",
        len(pred),
        len(skipped),
        len(counts),
        int(counts["facings"].sum()),
        SHELF.name,
        mv.version,
    )
    return CountResult(
        d,
        f"{SHELF.name} v{mv.version}",
        len(pred),
        len(skipped),
        len(counts),
        int(counts["facings"].sum()),
        store.uri(out.key("counts.parquet")),
        round(time.monotonic() - t0, 1),
    )


def reconcile_job(ds: date, settings: Settings | None = None) -> ReconcileResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    counts = catalog.SHELF_COUNTS.read(store, d)
    stock = catalog.validated("stock").read(store, d)
    stock = (
        stock[stock["date"] <= pd.Timestamp(ds)]
        .sort_values("date")
        .groupby(["sku", "location_id"])
        .last()
        .reset_index()
    )
    found = reconcile_counts(counts, stock[["sku", "location_id", "on_hand"]])
    found["task_id"] = "SH-" + found["finding"] + "-" + found["sku"] + "-" + found["location_id"] + "-" + d
    out = catalog.SHELF_FINDINGS.write(
        store,
        d,
        {"findings.parquet": lake.parquet_bytes(found)},
        meta={"by_finding": found["finding"].value_counts().to_dict()},
    )
    tasks = pd.DataFrame(
        {
            "task_id": found["task_id"],
            "sku": found["sku"],
            "location_id": found["location_id"],
            "due": ds + timedelta(days=1),
            "priority": found["on_hand"].astype(float),
            "reason": "shelf photo: " + found["reason"],
            "source": SHELF.name,
        }
    )
    n = connect(settings).write_cycle_count_tasks(tasks, ds) if len(tasks) else 0
    by = {k: int(v) for k, v in found["finding"].value_counts().items()}
    log.info("shelf reconciliation: %s; %d cycle-count tasks", by, n)
    return ReconcileResult(d, by, n, store.uri(out.key("findings.parquet")), round(time.monotonic() - t0, 1))
