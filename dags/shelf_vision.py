"""
### Shelf vision (daily, and when new photos land)

Stores upload shelf photos with their planogram to the lake (`shelf/images/ds=.../`). This DAG
counts the facings on them with the registered YOLO model `stockwise-shelf@champion`
(ultralytics, trained offline from its YAML; the optional `vision` extra), assigns them to the
planogram's bays, and reconciles them with the ERP's book: an empty shelf while the ERP shows
stock is suspected phantom stock, a shelf below half its planned facings with stock on hand is
a shelf gap, more facings than the book is a book too low. Findings go to
`shelf/findings/ds=.../` and to the ERP's `cycle_count_tasks` (idempotent); the planning DAG
plans suspected phantoms as empty shelves.

Unreadable photos (corrupt, truncated, not images, decompression bombs) are listed in
`shelf/counts/ds=.../skipped.json` and skipped; they never stop the batch.

**Weekly** `retrain` trains a new model from its YAML on synthetic shelves (or your own
YOLO-format photos), logs mAP50, mAP50-95 and count MAE with sample predictions, registers it as
challenger; `promote` moves the champion when its test mAP50 is better by `promotion_margin`.
It runs on the run date's Monday only (or always with `retrain`), so the daily schedule stays cheap.

**Params** `retrain` (train now, whatever the day), `promotion_margin`, `run_date`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

from stockwise.orchestration import OWNER, call_from_airflow, failure_callback, owner_links, retry_delay

SHELF_IMAGES = Asset("stockwise://shelf/images")


def _call(job: str, **kwargs) -> dict:
    return call_from_airflow(job, lock="job", **kwargs)


@dag(
    dag_id="shelf_vision",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 4 * * *", timezone="UTC"), assets=SHELF_IMAGES),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    owner_links=owner_links(),
    tags=["stockwise", "vision", "mlflow"],
    default_args={
        "owner": OWNER,
        "retries": 1,
        "retry_delay": retry_delay(minutes=2),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": failure_callback(),
    },
    params={
        "retrain": Param(False, type="boolean", description="Train and promote a new model now"),
        "promotion_margin": Param(
            0.02,
            type="number",
            minimum=0,
            maximum=0.5,
            description="Relative mAP50 error improvement needed to promote",
        ),
        "run_date": Param(
            None, type=["null", "string"], format="date", description="Work on this date instead of the logical date"
        ),
    },
)
def shelf_vision():
    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def retrain_due() -> bool:
        from stockwise.orchestration import run_date_from_context

        ctx = get_current_context()
        return bool(ctx["params"].get("retrain")) or pendulum.parse(run_date_from_context(ctx)).weekday() == 0

    @task
    def retrain(due: bool) -> dict:
        return _call("train_shelf")

    @task
    def promote(trained: dict) -> dict:
        return _call("promote_shelf", margin=get_current_context()["params"]["promotion_margin"])

    @task(trigger_rule="none_failed")
    def count_facings() -> dict:
        return _call("count_facings")

    @task
    def reconcile(counted: dict) -> dict:
        return _call("reconcile_shelf")

    promoted = promote(retrain(retrain_due()))
    counted = count_facings()
    promoted >> counted
    reconcile(counted)


shelf_vision()
