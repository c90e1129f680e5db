"""Left running against an ERP: stale data is never planned, what-ifs never touch the official
plan, a failed run says so on the last official report, an operator is alerted. With dag.test()."""

import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pandas as pd
import pytest

from stockwise import lake, runlock
from stockwise.settings import Settings
from stockwise.version import code_version
from support.demo import TINY_DS

pytestmark = [pytest.mark.dags, pytest.mark.slow, pytest.mark.spark]
D = TINY_DS.isoformat()


def _run(logical=TINY_DS, conf=None):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Settings().great_expectations_dir.parent / "dags")).dags["inventory_planning"]
    dr = dag.test(logical_date=pd.Timestamp(logical, tz="UTC").to_pydatetime(), run_conf=conf or {})
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}, dr


def _erp(home, table):
    with sqlite3.connect(home / "erp.db") as c:
        return pd.read_sql(f"SELECT * FROM {table} ORDER BY 1, 2, 3", c)


def _official_files(store):
    return {k: store.get(k) for k in store.list("") if not k.startswith(("scenarios/", "locks/", "runs/"))}


@pytest.fixture
def webhook():
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/hook", got
    srv.shutdown()


def test_what_ifs_run_apart_and_stale_data_is_never_planned(airflow_db, demo_home, monkeypatch, webhook):
    monkeypatch.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
    url, posted = webhook
    monkeypatch.setenv("STOCKWISE_ALERT_WEBHOOK_URL", url)
    states, dr = _run()
    assert set(states.values()) == {"success"}, states
    store = lake.open_lake(Settings())
    official = _official_files(store)
    req = _erp(demo_home, "purchase_requisitions")
    report = store.get(lake.read_manifest(store, "reports", D).key("index.html")).decode()
    version = lake.read_manifest(store, "plans", D).version
    assert f"version <code>{version}</code>" in report and "data as of sales 2025-12-31" in report
    assert f"code <code>{code_version()}</code>" in report  # the commit that made the plan
    with sqlite3.connect(demo_home / "erp.db") as c:
        assert c.execute("SELECT version FROM stockwise_publications WHERE plan_id = ?", (f"SW-{D}",)).fetchone() == (
            version,
        )
    assert runlock.holder(store, f"plan/{D}") is None  # the run gave its lock back

    # 2. a what-if from the Airflow UI: its own corner of the lake, nothing official touched
    states, _ = _run(conf={"run_date": D, "service_level": 0.99, "budget": 500.0})
    assert set(states.values()) == {"success"}, states
    assert _official_files(store) == official
    pd.testing.assert_frame_equal(_erp(demo_home, "purchase_requisitions"), req)
    scen = [k for k in store.list("scenarios/") if k.endswith("reports/ds=2025-12-31/manifest.json")]
    assert len(scen) == 1, store.list("scenarios/")
    name = scen[0].split("/")[1]
    sc = lake.ScenarioStore(store, name)
    page = sc.get(lake.read_manifest(sc, "reports", D).key("index.html")).decode()
    assert f"Scenario '{name}', not published." in page and "service_level = 0.99" in page
    assert "Against the official plan" in page and f"official (version {version})" in page
    assert lake.read_manifest(sc, "staging/plan", D).meta["service_level"] == 0.99
    # it reused the official extracts and features instead of pulling the ERP again
    assert not any(k.startswith(f"scenarios/{name}/raw/") for k in store.list("scenarios/"))

    # 3. unpausing the DAG (or the UI's default logical date) a year after the data ends
    states, dr = _run(logical=pd.Timestamp("2026-11-30"))
    assert str(dr.state) == "failed" and states["validate"] == "failed", states
    assert states["publish"] in ("upstream_failed", "None") and states["report"] in ("upstream_failed", "None")
    assert {
        k: v for k, v in _official_files(store).items() if "2026-11-30" not in k and not k.startswith("reports/")
    } == {k: v for k, v in official.items() if not k.startswith("reports/")}
    pd.testing.assert_frame_equal(_erp(demo_home, "purchase_requisitions"), req)
    assert not lake.has_partition(store, "plans", "2026-11-30")
    # the failure is on record, the operator was told why, the lock is free
    rec = [json.loads(store.get(k)) for k in store.list("runs/failures/ds=2026-11-30/")]
    assert len(rec) == 1 and rec[0]["task_id"] == "validate"
    assert "sales end 2025-12-31, 334 days before the run date 2026-11-30" in rec[0]["error"]
    assert posted and posted[-1]["task_id"] == "validate" and "334 days before" in posted[-1]["text"]
    assert runlock.holder(store, "plan/2026-11-30") is None
    # planners opening the last official report learn that a newer run failed
    page = store.get(lake.read_manifest(store, "reports", D).key("index.html")).decode()
    assert "Superseded run failed at validate" in page and "for 2026-11-30" in page and "334 days before" in page
