"""The production stack on real server processes (`make stack-up`): the DAGs scheduled by the real
scheduler and executed by a Celery worker, the ERP in PostgreSQL, the lake and MLflow's artifacts
on an S3 server over HTTP, the MLflow server behind its basic-auth app, the feature job and the
partitioned LightGBM on a Spark standalone master with two workers whose executors see none of the
driver's folders. Started once for the module with the same command a user runs, stopped with
`down --purge` (which must stop exactly what `up` started)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from stockwise import stack

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.integration]
DS = date(2025, 12, 31)
REPO = Path(__file__).resolve().parents[2]


def _cli(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKWISE_")}
    return subprocess.run(
        [sys.executable, "-m", "stockwise.stack", "--home", str(home), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack")
    prefix = f"swtest_{os.getpid()}"
    up = _cli(
        home,
        "up",
        "--prefix",
        prefix,
        "--skus",
        "6",
        "--stores",
        "2",
        "--days",
        "150",
        "--end",
        DS.isoformat(),
        "--worker-memory",
        "1g",
        # the tests wait seconds, not minutes, for a retry and for a dead worker to be noticed
        "--airflow-env",
        "STOCKWISE_RETRY_DELAY_SECONDS=3",
        "--airflow-env",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=30",
        "--airflow-env",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL=5",
        "--airflow-env",
        "STOCKWISE_HORIZON_DAYS=14",  # smaller fits: the stack is proven, not the forecaster
    )
    assert up.returncode == 0, up.stderr[-4000:]
    assert "Airflow UI" in up.stdout and "Spark master" in up.stdout
    again = _cli(home, "up")  # a second stack-up while it runs is refused, and changes nothing
    assert again.returncode == 1 and "is running" in again.stderr
    s = stack.Stack.load(home)
    yield s
    started = dict(stack.Stack.load(home).services)
    down = _cli(home, "down", "--purge", timeout=300)
    assert down.returncode == 0, down.stderr[-3000:]
    time.sleep(2)  # a killed process is gone once its parent (here, or init) has reaped it
    left = [name for name, svc in started.items() if stack.alive(svc)]
    assert not left, f"still running after stack-down: {left}"
    assert not (home / "stack").exists()
    if not s.pg_private:  # the shared server keeps running; only the stack's databases are gone
        eng = sa.create_engine(s.pg_admin)
        with eng.connect() as c:
            dbs = c.execute(
                sa.text("select datname from pg_database where datname like :p"), {"p": f"{prefix}_%"}
            ).all()
        eng.dispose()
        assert dbs == []


def _requisitions(st: stack.Stack) -> list[tuple]:
    eng = sa.create_engine(st.db_url("erp"))
    with eng.connect() as c:
        rows = c.execute(
            sa.text("SELECT sku, location_id, qty FROM purchase_requisitions ORDER BY sku, location_id")
        ).all()
    eng.dispose()
    return [tuple(r) for r in rows]


def _s3(st: stack.Stack):
    import boto3

    sec = st.secrets()
    return boto3.client(
        "s3",
        endpoint_url=st.s3,
        aws_access_key_id=sec["MINIO_ROOT_USER"],
        aws_secret_access_key=sec["MINIO_ROOT_PASSWORD"],
        region_name="us-east-1",
    )


def _objects(st: stack.Stack, bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = _s3(st)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _spark(st: stack.Stack) -> dict:
    return stack.http_json(f"{st.spark_ui}/json/")


def _worker_log(st: stack.Stack) -> str:
    return Path(st.services["airflow-celery-worker"]["log"]).read_text(errors="replace")


def _celery_ran(st: stack.Stack, dag_id: str, run_id: str) -> set[str]:
    """Task ids of `run_id` that the Celery worker says it executed."""
    out = set()
    for line in _worker_log(st).splitlines():
        if "Executing workload in Celery" in line and f"run_id={run_id}/" in line:
            out.add(line.split("task_id=", 1)[1].split("/", 1)[0])
    return out


def test_the_planning_dag_runs_on_celery_with_postgres_s3_and_the_spark_cluster(st):
    run_id = stack.trigger(st, "inventory_planning", DS)
    assert stack.wait_run(st, "inventory_planning", run_id, 1200)["state"] == "success"
    tasks = {"extract", "validate", "build_features", "forecast", "detect_anomalies", "plan", "publish", "report"}
    assert _celery_ran(st, "inventory_planning", run_id) == tasks
    # the settings came from the Airflow connections (no STOCKWISE_ERP_URL reached the worker)
    api = stack.Api(st)
    path = f"/api/v2/dags/inventory_planning/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    log = json.dumps(api.call(f"{path}/taskInstances/extract/logs/1")["content"])
    assert "settings from Airflow connections stockwise_erp, stockwise_events, stockwise_lake, stockwise_mlflow" in log
    # the features ran on the standalone cluster, spread over both workers
    apps = [a for a in _spark(st)["completedapps"] if a["name"] == "stockwise-features"]
    assert apps and apps[0]["cores"] == 2
    for port in (st.ports["spark_worker1_ui"], st.ports["spark_worker2_ui"]):
        worker = stack.http_json(f"http://127.0.0.1:{port}/json/")
        assert any(e["appid"] == apps[0]["id"] for e in worker["finishedexecutors"])
    if st.isolated_workers:
        assert not (st.home / "scratch").exists() or not any((st.home / "scratch").iterdir())
    # the plan and report on S3, the requisitions in PostgreSQL
    plans = _objects(st, stack.LAKE_BUCKET, f"lake/plans/ds={DS}/")
    assert any(k.endswith("reorder_plan.parquet") for k in plans)
    assert _objects(st, stack.LAKE_BUCKET, f"lake/reports/ds={DS}/")
    first = _requisitions(st)
    assert first and all(q > 0 for _, _, q in first)


def test_a_rerun_with_the_celery_worker_killed_mid_task_gives_the_clean_result(st):
    """The operator clears the whole run in the UI; during it the worker dies (a lost machine).
    The rerun must equal the clean first run: the same plan files, no requisition twice."""
    before = _requisitions(st)
    plans = _objects(st, stack.LAKE_BUCKET, f"lake/plans/ds={DS}/")
    run_id = stack.runs_of(st, "inventory_planning")[0]["dag_run_id"]
    stack.clear(st, "inventory_planning", run_id)
    api = stack.Api(st)
    path = f"/api/v2/dags/inventory_planning/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
    deadline = time.monotonic() + 600
    victim = None
    while time.monotonic() < deadline and victim is None:
        running = [t for t in api.call(path)["task_instances"] if t["state"] == "running"]
        victim = next((t for t in running if t["task_id"] == "build_features"), None)
        time.sleep(1)
    assert victim is not None, "build_features never ran"
    time.sleep(5)  # inside the Spark job
    worker = st.services["airflow-celery-worker"]
    os.killpg(worker["pid"], signal.SIGKILL)  # the worker, its pool and the task's process: a lost machine
    t0 = time.monotonic()
    while stack.alive(worker) and time.monotonic() - t0 < 30:
        time.sleep(0.5)
    assert not stack.alive(worker)
    restarted = stack.restart_worker(st)  # what the supervisor (systemd, Kubernetes) does
    assert stack.wait_run(st, "inventory_planning", run_id, 1200)["state"] == "success"
    ti = api.call(f"{path}/build_features")
    assert ti["try_number"] >= victim["try_number"] + 1  # the killed try failed by heartbeat, a retry ran
    assert stack.alive(restarted)
    assert _requisitions(st) == before
    assert _objects(st, stack.LAKE_BUCKET, f"lake/plans/ds={DS}/") == plans


def _mlflow(st: stack.Stack, path: str, user: tuple[str, str] | None, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{st.mlflow}{path}",
        method="POST" if body is not None else "GET",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    if user:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {}


def test_training_registers_in_the_mlflow_server_with_s3_artifacts_and_the_new_champion_replans(st):
    run_id = stack.trigger(st, "model_training", DS, conf={"candidates": "lightgbm,seasonal_naive"})
    assert stack.wait_run(st, "model_training", run_id, 2400)["state"] == "success"
    assert {"train", "promote"} <= _celery_ran(st, "model_training", run_id)
    # the partitioned LightGBM was fitted by Spark tasks on the standalone workers
    assert any(a["name"] == "stockwise-lightgbm" for a in _spark(st)["completedapps"])
    sec = st.secrets()
    admin = (sec["MLFLOW_ADMIN_USER"], sec["MLFLOW_ADMIN_PASSWORD"])
    reviewer = (sec["MLFLOW_REVIEWER_USER"], sec["MLFLOW_REVIEWER_PASSWORD"])
    code, model = _mlflow(st, "/api/2.0/mlflow/registered-models/get?name=stockwise-demand", admin)
    assert code == 200
    aliases = {a["alias"]: a["version"] for a in model["registered_model"].get("aliases", [])}
    assert "champion" in aliases
    assert _mlflow(st, "/api/2.0/mlflow/registered-models/get?name=stockwise-demand", None)[0] == 401
    assert _mlflow(st, "/api/2.0/mlflow/registered-models/get?name=stockwise-demand", reviewer)[0] == 200
    alias = {"name": "stockwise-demand", "alias": "champion", "version": aliases["champion"]}
    assert _mlflow(st, "/api/2.0/mlflow/registered-models/alias", reviewer, alias)[0] == 403
    # the model's files are in S3 (MLflow's artifact store), not on this machine
    assert any(k.endswith("MLmodel") for k in _objects(st, stack.MLFLOW_BUCKET, "artifacts/"))
    # the new champion is announced; planning serves it (the local stack runs what is triggered:
    # with the scheduler's job schedule off, the asset event does not start the run by itself)
    api = stack.Api(st)
    path = f"/api/v2/dags/model_training/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
    assert api.call(f"{path}/announce_champion")["state"] == "success"
    rid = stack.trigger(st, "inventory_planning", DS, api=api)
    assert stack.wait_run(st, "inventory_planning", rid, 1200)["state"] == "success"
    path = f"/api/v2/dags/inventory_planning/dagRuns/{urllib.parse.quote(rid, safe='')}/taskInstances/forecast"
    served = api.call(f"{path}/xcomEntries/return_value")["value"]
    served = served if isinstance(served, dict) else json.loads(served)
    assert served["is_baseline"] is False and not served["fallback"]


def _events_in_lake(st: stack.Stack, day: date) -> list[str]:
    from stockwise import lake
    from stockwise.catalog import EVENTS
    from stockwise.settings import Settings

    env = st.stockwise_env()
    s = Settings(
        lake_url=env["STOCKWISE_LAKE_URL"],
        s3_endpoint_url=env["STOCKWISE_S3_ENDPOINT_URL"],
        aws_access_key_id=env["STOCKWISE_AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["STOCKWISE_AWS_SECRET_ACCESS_KEY"],
    )
    store = lake.open_official(s)
    return sorted(EVENTS.read(store, day)["id"]) if EVENTS.exists(store, day) else []


def _intraday(st: stack.Stack) -> list[tuple]:
    eng = sa.create_engine(st.db_url("erp"))
    with eng.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT plan_id, sku, location_id, qty FROM purchase_requisitions"
                " WHERE plan_id LIKE :p ORDER BY 1, 2, 3"
            ),
            {"p": "SW-%-r%"},
        ).all()
    eng.dispose()
    return [tuple(r) for r in rows]


def _asset_runs(st: stack.Stack, api: stack.Api) -> list[dict]:
    return [r for r in stack.runs_of(st, "stock_events", api) if r.get("run_type") == "asset_triggered"]


def _wait_asset_run(st: stack.Stack, api: stack.Api, seen: int, timeout: float = 240) -> dict:
    """The first asset-triggered run after the `seen` ones, once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = _asset_runs(st, api)
        if len(runs) > seen:
            first_new = sorted(runs, key=lambda r: r["run_after"])[seen]
            return stack.wait_run(st, "stock_events", first_new["dag_run_id"], timeout, api)
        time.sleep(2)
    raise AssertionError(f"no stock_events run was triggered by the queue within {timeout:.0f}s")


def test_stock_events_on_the_queue_replan_only_the_positions_they_touch(st):
    """An event published to Redis wakes the stock_events DAG through the real triggerer
    (AssetWatcher + MessageQueueTrigger) and scheduler; the run, on the Celery worker, replans
    exactly the touched positions; the same events again change nothing; a burst is kept once."""
    import redis

    from stockwise.eventqueue import CHANNEL, EventQueue

    api = stack.Api(st)
    if not _requisitions(st):  # the plan in force of DS (the planning test made it; alone, make it)
        rid = stack.trigger(st, "inventory_planning", DS, api=api)
        assert stack.wait_run(st, "inventory_planning", rid, 1200)["state"] == "success"
    # the stack starts only what is triggered by hand; event-driven runs need the scheduler's
    # schedule on (the operator's `python -m stockwise.stack schedule on`), with the DAGs that
    # must not run by themselves (their history ends on DS) paused
    for dag_id in ("inventory_planning", "model_training", "shelf_vision"):
        api.call(f"/api/v2/dags/{dag_id}", "PATCH", {"is_paused": True})
    stack.set_schedule(st, True)
    api.call("/api/v2/dags/stock_events", "PATCH", {"is_paused": False})
    r = redis.Redis.from_url(st.redis_url)
    deadline = time.monotonic() + 180
    while dict(r.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) < 1:  # the triggerer listens
        assert time.monotonic() < deadline, "the triggerer never subscribed to the wake channel"
        time.sleep(2)
    queue = EventQueue(st.redis_url)
    day = date(2026, 1, 1)
    (sku, loc), (sku2, loc2) = sorted({(s, lc) for s, lc, _ in _requisitions(st)})[:2]
    tag = os.urandom(3).hex()  # event ids of this test only (a stack reused by hand holds others)

    def event(i: int, s: str, lc: str, qty: float, minute: int = 0) -> str:
        at = f"{day}T{9 + minute // 60:02d}:{minute % 60:02d}:00+00:00"
        eid = f"{tag}-{i}"
        return json.dumps({"v": 1, "id": eid, "kind": "movement", "sku": s, "location_id": lc, "qty": qty, "at": at})

    earlier, ordered_before = set(_events_in_lake(st, day)), set(_intraday(st))

    def kept() -> set[str]:
        return {e.split("-", 1)[1] for e in set(_events_in_lake(st, day)) - earlier}

    def revisions() -> list[tuple]:
        return sorted(set(_intraday(st)) - ordered_before)

    # a large sale empties the first position; a small one touches the second
    batch = [event(1, sku, loc, -10_000.0), event(2, sku2, loc2, -1.0)]
    seen = len(_asset_runs(st, api))
    queue.publish(batch)
    assert _wait_asset_run(st, api, seen)["state"] == "success"
    assert kept() == {"1", "2"}
    first = revisions()
    assert first and {(s, lc) for _, s, lc, _ in first} <= {(sku, loc), (sku2, loc2)}, first
    assert (sku, loc) in {(s, lc) for _, s, lc, _ in first}  # the emptied position is ordered again
    assert len({p for p, *_ in first}) == 1 and first[0][0].startswith(f"SW-{DS}-r")  # one revision
    # the same events again (a replay at the source): a run, and nothing changes
    seen = len(_asset_runs(st, api))
    queue.publish(batch)
    assert _wait_asset_run(st, api, seen)["state"] == "success"
    assert kept() == {"1", "2"} and revisions() == first
    # a burst of 300 events: each kept once, in far fewer runs than events
    seen = len(_asset_runs(st, api))
    burst = [event(100 + i, sku2, loc2, 0.0, minute=i % 600) for i in range(300)]
    for i in range(0, 300, 20):
        queue.publish(burst[i : i + 20])
    deadline = time.monotonic() + 300
    while len(kept()) < 302:
        assert time.monotonic() < deadline, f"the burst was not all kept: {len(kept())} of 302"
        time.sleep(3)
    ids = _events_in_lake(st, day)
    assert len(ids) == len(set(ids)) and len(kept()) == 302 and revisions() == first  # each once
    assert len(_asset_runs(st, api)) - seen < 15 + 1  # 15 wake-ups, folded into fewer runs
    assert queue.backlog() == 0
