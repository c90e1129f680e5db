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

**Official run or scenario.** A scheduled run, or a trigger with no what-if param, is the
*official* plan: it is published to the lake and the ERP. Any what-if param (or a `scenario`
name) makes the run a *scenario*: it works in `scenarios/<name>/` in the lake, reuses the
official run's extracts and features of that day, never writes to the ERP, never touches the
official plan or report, and its report compares itself with the official plan.

**Params** (*Trigger DAG w/ config*; empty = the configured value):
- `service_level` (what-if): the plan's aggregate fill-rate target (0.5–0.999);
- `horizon_days` (what-if): forecast horizon in days;
- `budget` (what-if): cap on the value of today's orders; money goes where it avoids most shortage;
- `scenario`: run as this named scenario (letters, digits, `-`, `_`) even without a what-if;
- `gate_margin`: how far below the target the simulated fill rate may fall before the plan is held;
- `publish_if_gate_fails`: publish even if the gate holds the plan (or cannot check it);
- `run_date`: plan for this date instead of the run's logical date.

**Running unattended.** Validation fails the run when the data is stale (the newest sales, stock
or movement date more than `STOCKWISE_FRESHNESS_LAG_DAYS` before the run date) or malformed;
the gate holds a plan it cannot check (too little recent demand). Only one official run per date
at a time (a lock in the lake; a second run waits, then fails clearly). Publishing commits in the
ERP first (with the plan version), then flips the lake, so the two always name the same plan.
A failure writes a record to `runs/failures/`, posts to `STOCKWISE_ALERT_WEBHOOK_URL` when set,
and marks the last official report as superseded.

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

from stockwise.orchestration import OWNER, call_from_airflow, failure_callback, input_tasks, owner_links, retry_delay

PLAN_ASSET = Asset("stockwise://plans")
# produced by model_training when the champion changes: a new champion re-plans its date
DEMAND_MODEL = Asset("stockwise://models/stockwise-demand")


def _call(job: str, *, last: bool = False, **kwargs) -> dict:
    return call_from_airflow(job, lock="last" if last else "run", scenarios=True, **kwargs)


def _whatif(name: str):
    return get_current_context()["params"].get(name)


@dag(
    dag_id="inventory_planning",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 5 * * *", timezone="UTC"), assets=DEMAND_MODEL),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    owner_links=owner_links(),
    tags=["stockwise", "planning"],
    default_args={
        "owner": OWNER,
        "retries": 2,
        "retry_delay": retry_delay(minutes=2),
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": failure_callback(plans=True),
    },
    params={
        "service_level": Param(
            None,
            type=["null", "number"],
            minimum=0.5,
            maximum=0.999,
            description="What-if: aggregate fill-rate target (empty: STOCKWISE_SERVICE_LEVEL)",
        ),
        "horizon_days": Param(
            None,
            type=["null", "integer"],
            minimum=7,
            maximum=365,
            description="What-if: forecast horizon in days (empty: STOCKWISE_HORIZON_DAYS)",
        ),
        "budget": Param(
            None,
            type=["null", "number"],
            minimum=0,
            description="What-if: cap on the value of today's orders (empty: STOCKWISE_BUDGET)",
        ),
        "scenario": Param(
            None,
            type=["null", "string"],
            pattern="^[a-z0-9][a-z0-9_-]{0,62}$",
            description="Run as this named scenario: never published (empty: official unless a what-if is set)",
        ),
        "gate_margin": Param(
            None,
            type=["null", "number"],
            minimum=0,
            maximum=0.5,
            description="Hold the plan if its simulated fill rate misses the target by more "
            "(empty: STOCKWISE_GATE_MARGIN)",
        ),
        "publish_if_gate_fails": Param(
            False, type="boolean", description="Publish even if the simulation gate holds the plan"
        ),
        "run_date": Param(
            None, type=["null", "string"], format="date", description="Plan for this date instead of the logical date"
        ),
    },
)
def inventory_planning():
    @task(execution_timeout=timedelta(hours=1))
    def forecast(features: dict) -> dict:
        return _call("forecast", horizon_days=_whatif("horizon_days"))

    @task(execution_timeout=timedelta(minutes=30))
    def detect_anomalies(forecasted: dict) -> dict:
        return _call("detect_anomalies")

    @task(execution_timeout=timedelta(minutes=30))
    def plan(anomalies: dict) -> dict:
        return _call(
            "plan",
            service_level=_whatif("service_level"),
            horizon_days=_whatif("horizon_days"),
            budget=_whatif("budget"),
            gate_margin=_whatif("gate_margin"),
            publish_if_gate_fails=bool(_whatif("publish_if_gate_fails")),
        )

    @task(outlets=[PLAN_ASSET], execution_timeout=timedelta(minutes=15))
    def publish(planned: dict) -> dict:
        out = _call("publish")
        if out.get("held"):
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"plan held back by the simulation gate: {out.get('why')}")
        return out

    # the report runs whether the plan was published or held back (then it says why); it ends
    # the run, so it gives the date's lock back
    @task(trigger_rule="none_failed", execution_timeout=timedelta(minutes=15))
    def report() -> dict:
        return _call("report", last=True)

    published = publish(plan(detect_anomalies(forecast(input_tasks(_call)))))
    published >> report()


inventory_planning()
