"""
### Inventory planning (daily)

Pulls the ERP extracts, gates them with Great Expectations, builds the demand panel in Spark,
forecasts every sku x location, computes the reorder plan, publishes it to the lake and the
ERP's `purchase_requisitions`, and writes the planner report.

**Schedule** daily at 05:00 UTC, and whenever `model_training` publishes a new demand model.

**Forecasts** come from the registered `stockwise-demand@champion`; with no champion the run
says so and uses the baseline, flagged in the report.

**Stages** `extract` → `validate` → `build_features` → `forecast` → `detect_anomalies` → `plan` →
`publish` → `report`

**Anomalies** `detect_anomalies` finds book/movement discrepancies, phantom stock, shrinkage,
fat-finger and mis-keyed adjustments and duplicate receipts, ranks them by value at risk, writes
them to `anomalies/ds=.../` and the ERP's `cycle_count_tasks`; open phantom stock is planned as
an empty shelf.

**Plan** the policy engine: ABC/XYZ service targets around `service_level` (a fill rate by
default), reorder points from sample paths of the forecast with lead times learned from receipts,
EOQ-aware (R, s, S) quantities in whole packs and at least the MOQ, supplier order days and
minimum order values, planner overrides, an optional budget, and a plain-language reason per line.

**Gate** before publishing, `plan` replays its policy on the last weeks of demand; if the
simulated fill rate misses the target by more than `gate_margin`, `publish` is *skipped* (the plan
is held back, nothing reaches the ERP) and the report says why. `publish_if_gate_fails` overrides.

**Params** (what-ifs from *Trigger DAG w/ config*):
- `service_level`: the plan's service target, a fill rate (0.5–0.999);
- `horizon_days`: forecast horizon in days;
- `budget`: cap on the value of today's orders (empty: none); money goes where it avoids most shortage;
- `gate_margin`: how far below the target the simulated fill rate may fall before the plan is held;
- `publish_if_gate_fails`: publish even if the gate holds the plan;
- `run_date`: plan for this date instead of the run's logical date.

A failed validation fails the run at `validate` (no retry): the failed expectations and example
rows are in the task log, the batch is in `quarantine/<extract>/ds=.../`, and nothing downstream
publishes. Every task overwrites its own partition of the lake, so clearing and rerunning a task
or a whole run is safe.
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

PLAN_ASSET = Asset("stockwise://plans")
# produced by model_training when it finishes: a new champion re-plans the same day
DEMAND_MODEL = Asset("stockwise://models/stockwise-demand")


def _call(job: str, **kwargs) -> dict:
    from stockwise.orchestration import call_from_airflow

    return call_from_airflow(job, **kwargs)


@dag(
    dag_id="inventory_planning",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 5 * * *", timezone="UTC"), assets=DEMAND_MODEL
    ),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["stockwise", "planning"],
    default_args={"owner": "stockwise", "retries": 2, "retry_delay": timedelta(minutes=2)},
    params={
        "service_level": Param(0.95, type="number", minimum=0.5, maximum=0.999,
                               description="Target cycle service level"),
        "horizon_days": Param(28, type="integer", minimum=7, maximum=365,
                              description="Forecast horizon (days)"),
        "budget": Param(None, type=["null", "number"], minimum=0,
                        description="Cap on the value of today's orders (empty: no cap)"),
        "gate_margin": Param(0.02, type="number", minimum=0, maximum=0.5,
                             description="Hold the plan if its simulated fill rate misses the target by more"),
        "publish_if_gate_fails": Param(False, type="boolean",
                                       description="Publish even if the simulation gate holds the plan"),
        "run_date": Param(None, type=["null", "string"], format="date",
                          description="Plan for this date instead of the logical date"),
    },
)
def inventory_planning():
    @task
    def extract() -> dict:
        return _call("extract")

    @task
    def validate(extracted: dict) -> dict:
        return _call("validate")

    @task
    def build_features(validated: dict) -> dict:
        return _call("build_features")

    @task
    def forecast(features: dict) -> dict:
        return _call("forecast", horizon_days=get_current_context()["params"]["horizon_days"])

    @task
    def detect_anomalies(forecasted: dict) -> dict:
        return _call("detect_anomalies")

    @task
    def plan(anomalies: dict) -> dict:
        p = get_current_context()["params"]
        return _call("plan", service_level=p["service_level"], horizon_days=p["horizon_days"],
                     budget=p.get("budget"), gate_margin=p.get("gate_margin"),
                     publish_if_gate_fails=p.get("publish_if_gate_fails") or False)

    @task(outlets=[PLAN_ASSET])
    def publish(planned: dict) -> dict:
        out = _call("publish")
        if out.get("held"):
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"plan held back by the simulation gate: {out.get('why')}")
        return out

    # the report runs whether the plan was published or held back (then it says why)
    @task(trigger_rule="none_failed")
    def report() -> dict:
        return _call("report")

    published = publish(plan(detect_anomalies(forecast(build_features(validate(extract()))))))
    published >> report()


inventory_planning()
