"""The inventory_planning DAG end to end with dag.test() on the tiny demo."""

import json
import re
import sqlite3

import pandas as pd
import pytest

from stockwise import lake
from stockwise.settings import Settings
from support.demo import TINY_DS

pytestmark = [pytest.mark.dags, pytest.mark.slow, pytest.mark.spark]


def _run(conf=None):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Settings().great_expectations_dir.parent / "dags")).dags["inventory_planning"]
    dr = dag.test(logical_date=pd.Timestamp(TINY_DS, tz="UTC").to_pydatetime(), run_conf=conf or {})
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}, dr


def _requisitions(home, table="purchase_requisitions"):
    with sqlite3.connect(home / "erp.db") as c:
        return pd.read_sql(f"SELECT * FROM {table}", c)


def test_plans_publishes_reports_and_reruns_idempotently(airflow_db, demo_home, monkeypatch):
    monkeypatch.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
    # the official target is configuration (a DAG param would make the run a what-if scenario)
    monkeypatch.setenv("STOCKWISE_SERVICE_LEVEL", "0.97")
    states, dr = _run()
    assert set(states.values()) == {"success"}, states
    assert str(dr.state) == "success"

    store = lake.open_lake(Settings())
    d = TINY_DS.isoformat()
    plan = lake.read_parquet(store, "plans", d, "reorder_plan.parquet")
    assert len(plan) > 0
    assert (plan["order_qty"] > 0).all() and (plan["order_qty"] % plan["pack_size"] == 0).all()
    assert (plan["order_qty"] >= plan["moq"]).all()
    # the DAG param reached the policy: the planned fills average the target, weighted by demand
    assert lake.read_manifest(store, "plans", d).meta["service_level"] == 0.97
    allpos = lake.read_parquet(store, "plans", d, "all_positions.parquet")
    assert (allpos["target"] * allpos["mu_d"]).sum() / allpos["mu_d"].sum() >= 0.97 - 1e-6
    assert plan["reason"].str.contains(r"on hand .* lead time .* order \d+").all()
    sim = json.loads(store.get(lake.read_manifest(store, "plans", d).key("simulation.json")))
    assert sim["passed"] and sim["minmax"]["series"] == len(allpos) and len(sim["curve"]) == 6
    csv = pd.read_csv(store.uri(lake.read_manifest(store, "plans", d).key("reorder_plan.csv")))
    assert len(csv) == len(plan)

    req = _requisitions(demo_home)
    assert len(req) == len(plan) and set(req["plan_id"]) == {f"SW-{d}"}
    assert sorted(zip(req["sku"], req["location_id"], strict=True)) == sorted(
        zip(plan["sku"], plan["location_id"], strict=True)
    )

    html = store.get(lake.read_manifest(store, "reports", d).key("index.html")).decode()
    assert f"Reorder plan {d}" in html and "data:image/png;base64," in html
    worklist = re.search(r"<table id='worklist'.*?</table>", html, re.S).group(0)
    assert worklist.count("<tr") == len(plan) + 1  # a line per order, and the header
    assert "Data quality (validation results)" in html and "baseline" in html
    assert "simulated fill rate" in html and "Cost of service" in html and "held back" not in html
    docs_key = lake.read_manifest(store, "data_docs", d).key("index.html")
    assert f"../../../{docs_key}" in html

    # anomalies: alerts in the lake, cycle counts in the ERP for the actionable ones, in the report
    alerts = lake.read_parquet(store, "anomalies", d, "alerts.parquet")
    counts = _requisitions(demo_home, "cycle_count_tasks")
    assert set(counts["task_id"]) <= set(alerts["alert_id"]) and counts["task_id"].is_unique
    assert "Inventory anomalies" in html

    plans_before = {k: store.get(k) for k in store.list("plans/")}
    # forecast data too; its manifest names the new MLflow run (each attempt is logged)
    forecasts_before = {k: store.get(k) for k in store.list("forecasts/") if k.endswith(".parquet")}
    states, _ = _run()
    assert set(states.values()) == {"success"}, states
    assert {k: store.get(k) for k in store.list("plans/")} == plans_before
    assert {k: store.get(k) for k in store.list("forecasts/") if k.endswith(".parquet")} == forecasts_before
    again = _requisitions(demo_home)
    assert len(again) == len(req)
    assert len(_requisitions(demo_home, "cycle_count_tasks")) == len(counts)
    assert not again.duplicated(["plan_id", "sku", "location_id"]).any()


def test_gate_holds_a_plan_that_misses_its_target_and_a_param_overrides_it(airflow_db, demo_home, monkeypatch):
    monkeypatch.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
    # 99.9% fill on this demand is out of reach: the replay misses it and the plan is held
    monkeypatch.setenv("STOCKWISE_SERVICE_LEVEL", "0.999")
    states, dr = _run({"gate_margin": 0.0})
    assert str(dr.state) == "success"
    assert states["plan"] == "success" and states["publish"] == "skipped" and states["report"] == "success", states
    store = lake.open_lake(Settings())
    d = TINY_DS.isoformat()
    assert not lake.has_partition(store, "plans", d)
    assert len(_requisitions_or_empty(demo_home)) == 0
    gate = lake.read_manifest(store, "staging/plan", d).meta["gate"]
    assert gate["held"] and not gate["passed"] and "misses the 99.9% target" in gate["why"]
    html = store.get(lake.read_manifest(store, "reports", d).key("index.html")).decode()
    assert "Plan held back, not published." in html and "misses the 99.9% target" in html

    states, dr = _run({"gate_margin": 0.0, "publish_if_gate_fails": True})
    assert set(states.values()) == {"success"}, states
    assert lake.read_manifest(store, "plans", d).meta["gate"]["held"] is False
    assert len(_requisitions(demo_home)) > 0
    html = store.get(lake.read_manifest(store, "reports", d).key("index.html")).decode()
    assert "Gate overridden" in html


@pytest.mark.parametrize(
    ("table", "corruption", "extract", "expectation"),
    [
        (
            "sales",
            "UPDATE sales SET qty = -3 WHERE rowid IN (SELECT rowid FROM sales WHERE date >= '2025-12-01' LIMIT 2)",
            "sales",
            "expect_column_values_to_be_between",
        ),
        (
            "stock",
            "UPDATE stock SET sku = 'GHOST-SKU' "
            "WHERE rowid IN (SELECT rowid FROM stock WHERE date >= '2025-12-01' LIMIT 1)",
            "stock",
            "expect_column_values_to_be_in_set",
        ),
        ("items", "ALTER TABLE items DROP COLUMN pack_size", "items", "expect_table_columns_to_match_set"),
    ],
    ids=["negative-quantity", "unknown-sku", "missing-column"],
)
def test_corrupt_extract_stops_at_validate(airflow_db, demo_home, table, corruption, extract, expectation, caplog):
    with sqlite3.connect(demo_home / "erp.db") as c:
        c.execute(corruption)
    states, dr = _run()
    assert str(dr.state) == "failed"
    assert states["validate"] == "failed", states
    for t in ("build_features", "forecast", "detect_anomalies", "plan", "publish", "report"):
        assert states[t] in ("upstream_failed", "None"), states
    store = lake.open_lake(Settings())
    d = TINY_DS.isoformat()
    assert not lake.has_partition(store, "plans", d)
    assert len(_requisitions_or_empty(demo_home)) == 0
    q = lake.read_manifest(store, f"quarantine/{extract}", d)
    failures = json.loads(store.get(q.key("failures.json")))
    assert expectation in {f["expectation"] for f in failures}
    assert lake.read_parquet(store, f"quarantine/{extract}", d, "data.parquet").shape[0] > 0
    assert "validation_result.json" in q.files
    assert f"extract '{extract}'" in caplog.text and expectation in caplog.text
    assert not lake.has_partition(store, f"validated/{extract}", d)


def _requisitions_or_empty(home):
    try:
        return _requisitions(home)
    except Exception:  # noqa: BLE001 - the table does not exist until a plan is published
        return []
