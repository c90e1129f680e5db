"""How orchestrators call jobs: by dotted path, with the run date, returning a small JSON dict.

The only module of the core that knows about Airflow: a domain error that a retry cannot fix
(bad data, bad settings) is turned into Airflow's "fail without retrying".
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
from datetime import date
from typing import Any

from stockwise.errors import ConfigError, ExtractError, ValidationFailed

log = logging.getLogger(__name__)

# the daily planning jobs, in order
JOBS = {
    "extract": "stockwise.extract",
    "validate": "stockwise.validation.step",
    "build_features": "stockwise_features.demand_panel",
    "forecast": "stockwise_serving.forecast",
    "detect_anomalies": "stockwise_serving.anomalies",
    "plan": "stockwise.planning.step",
    "publish": "stockwise.publish",
    "report": "stockwise.report",
}
# other jobs, "module" (its `run`) or "module:function"
OTHER_JOBS = {
    "train_forecast": "stockwise_training.forecast.train",
    "promote_forecast": "stockwise_training.forecast.train:promote_job",
    "train_anomaly": "stockwise_training.anomaly.train",
    "promote_anomaly": "stockwise_training.anomaly.train:promote_job",
    "count_facings": "stockwise_serving.shelf",
    "reconcile_shelf": "stockwise_serving.shelf:reconcile_job",
    "train_shelf": "stockwise_training.shelf.train",
    "promote_shelf": "stockwise_training.shelf.train:promote_job",
    "demo_shelf_photos": "stockwise_training.shelf.demo_photos",
}
NOT_RETRYABLE = (ValidationFailed, ConfigError, ExtractError)


def to_jsonable(result: Any) -> dict[str, Any]:
    data = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result)
    return json.loads(json.dumps(data, default=str))


def call(job: str, ds: str | date, *, in_airflow: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Run job `job` (a key of JOBS or a module path with a `run(ds, settings, ...)`).

    `in_airflow`: raise Airflow's no-retry failure for errors that a retry cannot fix.
    """
    logging.getLogger("stockwise").setLevel(logging.INFO)
    for name in ("stockwise_features", "stockwise_serving", "stockwise_training"):
        logging.getLogger(name).setLevel(logging.INFO)
    target = JOBS.get(job) or OTHER_JOBS.get(job) or job
    module_name, _, func = target.partition(":")
    fn = getattr(importlib.import_module(module_name), func or "run")
    day = ds if isinstance(ds, date) else date.fromisoformat(str(ds)[:10])
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        result = fn(day, **kwargs)
    except NOT_RETRYABLE as e:
        if not in_airflow:
            raise
        try:
            from airflow.sdk.exceptions import AirflowFailException
        except ImportError:
            raise e from None
        raise AirflowFailException(str(e)) from e
    out = to_jsonable(result)
    log.info("%s %s -> %s", job, day, json.dumps(out)[:2000])
    return out


def run_date_from_context(ctx: dict) -> str:
    """The date a DAG run works for: the `run_date` param, else the logical date, else run_after
    (manual and asset-triggered runs in Airflow 3 may have no logical date)."""
    override = ctx["params"].get("run_date")
    if override:
        return str(override)
    if ctx.get("logical_date") is not None:
        return ctx["logical_date"].strftime("%Y-%m-%d")
    return ctx["dag_run"].run_after.strftime("%Y-%m-%d")


def call_from_airflow(job: str, **kwargs: Any) -> dict[str, Any]:
    """`call` for a TaskFlow task: the run date comes from the task's Airflow context."""
    from airflow.sdk import get_current_context

    return call(job, run_date_from_context(get_current_context()), in_airflow=True, **kwargs)
