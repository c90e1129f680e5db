"""shelf_vision end to end on the tiny demo: a champion trained offline (1 epoch, 64 px), the demo
ERP's shelves photographed into the lake (plus a broken upload), then dag.test(): counts per bay,
findings reconciled with the book, cycle-count tasks written once however often it runs."""

import json
import sqlite3
from datetime import date

import pandas as pd
import pytest

from stockwise import catalog, lake
from stockwise.orchestration import call
from stockwise.settings import Settings
from support.demo import TINY_DS

pytestmark = [pytest.mark.dags, pytest.mark.slow, pytest.mark.integration]
pytest.importorskip("ultralytics", reason="the optional vision extra (make vision-deps)")


def _run(conf=None):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Settings().great_expectations_dir.parent / "dags")).dags["shelf_vision"]
    dr = dag.test(logical_date=pd.Timestamp(TINY_DS, tz="UTC").to_pydatetime(), run_conf=conf or {})
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}, dr


def _tasks(home):
    with sqlite3.connect(home / "erp.db") as c:
        return pd.read_sql("SELECT * FROM cycle_count_tasks WHERE source = 'stockwise-shelf'", c)


def test_counts_reconciles_and_writes_tasks_once(airflow_db, demo_home, monkeypatch):
    from stockwise_training.shelf import train
    from stockwise_training.shelf.demo_photos import photograph

    d = TINY_DS.isoformat()
    monkeypatch.setenv("STOCKWISE_SHELF_MIN_MAP50", "0")  # a one-epoch model, promoted for the test
    call("extract", TINY_DS)
    call("validate", TINY_DS)
    train.run(date(2025, 12, 31), epochs=1, images=8, imgsz=64)
    train.promote_job(date(2025, 12, 31))
    store = lake.open_lake(Settings())
    import sqlalchemy as sa

    with sa.create_engine(Settings().truth).connect() as c:
        physical = pd.read_sql("SELECT sku, location_id, on_hand, book FROM physical_on_hand", c)
    files = photograph(physical, TINY_DS, bays=8, size=64)
    files["ST00/upload_broken.jpg"] = b"\xff\xd8\xff\xe0 truncated"
    catalog.SHELF_IMAGES.write(store, d, files)

    states, dr = _run()  # 2025-12-31 is a Wednesday: no retrain
    assert str(dr.state) == "success", states
    assert states["retrain"] == "skipped" and states["count_facings"] == "success" and states["reconcile"] == "success"
    counts = lake.read_parquet(store, "shelf/counts", d, "counts.parquet")
    planogram = json.loads(files["planogram.json"])["bays"]
    bays = {(b["location_id"], b["sku"]) for b in planogram}
    assert set(zip(counts["location_id"], counts["sku"], strict=True)) == bays and (counts["facings"] >= 0).all()
    skipped = json.loads(store.get(lake.read_manifest(store, "shelf/counts", d).key("skipped.json")))
    assert [s["image"] for s in skipped] == ["ST00/upload_broken.jpg"]
    findings = lake.read_parquet(store, "shelf/findings", d, "findings.parquet")
    tasks = _tasks(demo_home)
    assert sorted(tasks["task_id"]) == sorted(findings["task_id"])
    states, dr = _run()
    assert str(dr.state) == "success", states
    assert len(_tasks(demo_home)) == len(tasks)
