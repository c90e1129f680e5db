"""
### Demand model training (weekly)

Refreshes the extracts and the Spark feature panel, then backtests every forecasting candidate
(seasonal naive, moving averages, TSB, Croston-SBA, a global LightGBM with quantiles) with
rolling origins, picks a champion per demand segment (smooth, erratic, intermittent, lumpy,
new), trains them on all the data and registers the result in MLflow as `stockwise-demand`
with the alias **challenger**.

`promote` compares the challenger with the current **champion** on the same backtest cutoffs
and moves the alias only when the challenger's WRMSSE is lower by at least `promotion_margin`.
The decision and both figures are tags of the model version (MLflow UI, *Models*). A reviewer
can move `champion` by hand there; the planning DAG always serves `stockwise-demand@champion`.

`announce_champion` emits the asset `stockwise://models/stockwise-demand` (with the training date)
only when the champion changed, so a rejected challenger never re-plans; the planning run it
starts plans for that date.

**Anomaly model** in parallel, `train_anomaly` fits an IsolationForest over the movement
features, measures the whole detector (rules + forest) on the same history with labelled
anomalies injected (precision, recall, F1 per type, logged with a chart) and registers
`stockwise-anomaly` as challenger; `promote_anomaly` moves its champion when the F1 is better
by the same margin. The planning DAG's `detect_anomalies` serves `stockwise-anomaly@champion`
(the rules alone until there is one).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

from stockwise.orchestration import OWNER, call_from_airflow, failure_callback, input_tasks, owner_links, retry_delay

DEMAND_MODEL = Asset("stockwise://models/stockwise-demand")


def _call(job: str, **kwargs) -> dict:
    # extract, validate and build_features write the date's shared inputs: they hold the date's
    # lock while they run (and wait for a planning run of the same date to finish)
    return call_from_airflow(job, lock="job", **kwargs)


@dag(
    dag_id="model_training",
    schedule="@weekly",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    owner_links=owner_links(),
    tags=["stockwise", "training", "mlflow"],
    default_args={
        "owner": OWNER,
        "retries": 1,
        "retry_delay": retry_delay(minutes=5),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": failure_callback(),
    },
    params={
        "promotion_margin": Param(
            0.02, type="number", minimum=0, maximum=0.5, description="Relative WRMSSE improvement needed to promote"
        ),
        "candidates": Param(
            None, type=["null", "string"], description="Comma-separated candidate models (default: all)"
        ),
        "run_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Train as of this date instead of the logical date",
        ),
    },
)
def model_training():
    @task
    def train(features: dict) -> dict:
        cands = get_current_context()["params"].get("candidates")
        return _call("train_forecast", candidates=tuple(cands.split(",")) if cands else None)

    @task(execution_timeout=timedelta(hours=1))
    def promote(trained: dict) -> dict:
        return _call("promote_forecast", margin=get_current_context()["params"]["promotion_margin"])

    @task(outlets=[DEMAND_MODEL], retries=0)
    def announce_champion(promoted: dict, *, outlet_events=None) -> dict:
        """Re-plan only when the champion changed: a skipped task emits no asset event."""
        if not promoted.get("champion_changed"):
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"champion unchanged ({promoted.get('reason')}): no re-plan")
        outlet_events[DEMAND_MODEL].extra = {"ds": promoted["ds"], "version": promoted["version"]}
        return {"ds": promoted["ds"], "version": promoted["version"]}

    @task
    def train_anomaly(features: dict) -> dict:
        return _call("train_anomaly")

    @task
    def promote_anomaly(trained: dict) -> dict:
        return _call("promote_anomaly", margin=get_current_context()["params"]["promotion_margin"])

    features = input_tasks(_call)
    announce_champion(promote(train(features)))
    promote_anomaly(train_anomaly(features))


model_training()
