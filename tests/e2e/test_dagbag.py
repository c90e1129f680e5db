"""The DAG files parse, and the planning DAG has the documented shape."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.dags
DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(bag):
    assert bag.import_errors == {}
    assert "inventory_planning" in bag.dag_ids


def test_every_dag_names_its_owner_with_a_contact(bag):
    for dag in bag.dags.values():
        assert dag.owner_links == {"stockwise": "mailto:stockwise-oncall@localhost"}, dag.dag_id
        assert {t.owner for t in dag.tasks} == {"stockwise"}, dag.dag_id


def test_planning_dag_structure(bag):
    dag = bag.dags["inventory_planning"]
    order = ["extract", "validate", "build_features", "forecast", "detect_anomalies", "plan", "publish", "report"]
    assert sorted(dag.task_ids) == sorted(order)
    for up, down in zip(order, order[1:], strict=False):
        assert down in dag.get_task(up).downstream_task_ids
    assert dag.catchup is False and "stockwise" in dag.tags
    assert dag.doc_md and "quarantine" in dag.doc_md
    assert all(t.retries >= 1 for t in dag.tasks)
    # every task has a time limit and the failure callback (record, webhook, lock, superseded report)
    assert all(t.execution_timeout is not None for t in dag.tasks)
    assert all(t.on_failure_callback for t in dag.tasks)
    assert set(dag.params) == {
        "service_level",
        "horizon_days",
        "budget",
        "scenario",
        "gate_margin",
        "publish_if_gate_fails",
        "run_date",
    }
    # what-ifs default to empty: an untouched trigger is the official plan, with the configured values
    assert all(dag.params[p] is None for p in ("service_level", "horizon_days", "budget", "scenario"))
    # the report runs when publish was skipped by the gate (a held plan), not when anything failed
    assert dag.get_task("report").trigger_rule == "none_failed"
    for f in DAGS.glob("*.py"):
        assert f.stem in bag.dag_ids, f"DAG id must be the file stem: {f.name}"


def test_training_dag_structure(bag):
    dag = bag.dags["model_training"]
    order = ["extract", "validate", "build_features", "train", "promote", "announce_champion"]
    assert sorted(dag.task_ids) == sorted(order + ["train_anomaly", "promote_anomaly"])
    for up, down in zip(order, order[1:], strict=False):
        assert down in dag.get_task(up).downstream_task_ids
    # only the task that runs when the champion changed emits the model asset (a re-plan)
    assert [o.uri for o in dag.get_task("announce_champion").outlets] == ["stockwise://models/stockwise-demand"]
    assert dag.get_task("promote").outlets == []
    assert dag.get_task("train_anomaly").upstream_task_ids == {"build_features"}
    assert dag.get_task("promote_anomaly").upstream_task_ids == {"train_anomaly"}
    assert set(dag.params) == {"promotion_margin", "candidates", "run_date"}
    assert dag.doc_md and "challenger" in dag.doc_md


def test_planning_follows_the_model_asset(bag):
    dag = bag.dags["inventory_planning"]
    assert "stockwise://models/stockwise-demand" in str(dag.timetable.asset_condition)


def test_shelf_vision_dag_structure(bag):
    dag = bag.dags["shelf_vision"]
    assert sorted(dag.task_ids) == sorted(["retrain_due", "retrain", "promote", "count_facings", "reconcile"])
    assert "count_facings" in dag.get_task("promote").downstream_task_ids
    assert "reconcile" in dag.get_task("count_facings").downstream_task_ids
    # counting runs on the days the retrain is skipped
    assert dag.get_task("count_facings").trigger_rule == "none_failed"
    assert set(dag.params) == {"retrain", "promotion_margin", "run_date"}


def test_stock_events_dag_is_woken_by_the_queue_and_swept_every_quarter_hour(bag):
    dag = bag.dags["stock_events"]
    assert dag.task_ids == ["replan"] and dag.max_active_runs == 1
    asset = dag.timetable.asset_condition
    assert asset.uri == "stockwise://events/stock"
    (watcher,) = asset.watchers
    path, kwargs = watcher.trigger.serialize()  # MessageQueueTrigger resolved to the redis+pubsub provider's
    assert path == "airflow.providers.redis.triggers.redis_await_message.AwaitMessageTrigger"
    # the channel the queue announces on, through the connection the job reads too, polled fast
    assert kwargs["channels"] == ["stockwise:events:wake"] and kwargs["redis_conn_id"] == "stockwise_events"
    assert kwargs["poll_interval"] <= 1
    assert dag.timetable.timetable.expression == "*/15 * * * *"  # the sweep: a lost wake-up delays, never loses
