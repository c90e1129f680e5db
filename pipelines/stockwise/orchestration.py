"""How orchestrators call jobs: by dotted path, with the run date, returning a small JSON dict.

The only module of the core that knows about Airflow: a domain error that a retry cannot fix
(bad data, bad settings, a run already in progress) is turned into Airflow's "fail without
retrying", and the failure callback of every task lives here.

A run is either **official** (the schedule, or a trigger without what-if params) or a
**scenario** (any what-if param, or an explicit `scenario` name): a scenario works in its own
corner of the lake (`scenarios/<name>/`), never writes to the ERP and never touches the
official plan or report. Every job of a run holds the run's lock (`stockwise.runlock`), so two
official runs for the same date cannot interleave.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from stockwise.errors import ConfigError, ExtractError, RunLocked, StockwiseError, ValidationFailed
from stockwise.jobs import PLANNING

log = logging.getLogger(__name__)

# jobs that write what a plan is made from or the plan itself: they hold the date's lock
LOCKED_JOBS = frozenset(PLANNING)
NOT_RETRYABLE = (ValidationFailed, ConfigError, ExtractError, RunLocked)

# what a scenario reuses from the official run of its date instead of pulling the ERP again:
# job -> the official datasets that must all exist
REUSED_BY_SCENARIOS = {  # (catalog datasets, by path: this module stays light for DAG parsing)
    "extract": ("raw/erp/sales", "raw/erp/items"),
    "validate": ("validated/sales", "validated/items", "data_docs"),
    "build_features": ("features/demand_panel", "features/movement_daily"),
}
# params that change the plan: any of them makes the run a scenario
WHAT_IFS = ("service_level", "horizon_days", "budget")
SCENARIO_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def to_jsonable(result: Any) -> dict[str, Any]:
    is_instance = dataclasses.is_dataclass(result) and not isinstance(result, type)
    data = dataclasses.asdict(result) if is_instance else dict(result)
    return json.loads(json.dumps(data, default=str))


def parse_run_date(value: str | date) -> date:
    """A run date, strictly `YYYY-MM-DD` (a datetime's date part is accepted from Airflow)."""
    if isinstance(value, date):
        return value if type(value) is date else value.date()  # type: ignore[attr-defined]
    text = str(value).strip()
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.+\-Z]*)?", text)
    if not m:
        raise ConfigError(f"run date {value!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(m.group(1))
    except ValueError as e:
        raise ConfigError(f"run date {value!r} is not a valid date: {e}") from e


def scenario_name(params: dict[str, Any]) -> str | None:
    """The scenario a run's params ask for: its `scenario` param, or a name derived from the
    what-ifs (so rerunning the same what-if lands in the same folder); None for an official run."""
    name = params.get("scenario")
    if name:
        name = str(name).strip().lower()
        if not SCENARIO_NAME.match(name):
            raise ConfigError(
                f"scenario name {params.get('scenario')!r}: use lower-case letters, digits, - and _ "
                "(at most 63 characters)"
            )
        return name
    whatifs = {k: params[k] for k in WHAT_IFS if params.get(k) is not None}
    if not whatifs:
        return None
    digest = hashlib.sha1(json.dumps(whatifs, sort_keys=True).encode()).hexdigest()[:8]
    return f"whatif-{digest}"


def _settings(scenario: str | None):
    from stockwise.settings import Settings

    return Settings(scenario=scenario) if scenario else Settings()


def call(
    job: str,
    ds: str | date,
    *,
    in_airflow: bool = False,
    owner: str | None = None,
    scenario: str | None = None,
    lock: str | None = "job",
    **kwargs: Any,
) -> dict[str, Any]:
    """Run job `job` (a `stockwise.jobs` entry point: `fn(ds, settings, ...)`) for date `ds`.

    `in_airflow`: raise Airflow's no-retry failure for errors that a retry cannot fix.
    `lock`: "job" holds the date's lock for this job only; "run" holds it as one step of a
    multi-job run owned by `owner` (renewed, kept for the next job); "last" is the run's last
    step (released after); None takes no lock. Jobs outside LOCKED_JOBS never lock.
    """
    from stockwise import logs

    logging.getLogger("stockwise").setLevel(logging.INFO)
    for name in ("stockwise_features", "stockwise_serving", "stockwise_training"):
        logging.getLogger(name).setLevel(logging.INFO)
    logs.quiet_libraries()
    day = parse_run_date(ds)
    started = time.monotonic()
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        settings = _settings(scenario)
        from stockwise import masking

        masking.install(settings)  # every log line of the job scrubbed of known secrets
        reused = _official_inputs(job, day, settings) if scenario else None
        if reused:
            log.info("%s: the scenario reuses the official %s of %s", job, ", ".join(reused), day)
            return {"ds": day.isoformat(), "scenario": scenario, "reused_official": list(reused)}
        from stockwise import jobs

        fn = jobs.load(job)
        if lock and job in LOCKED_JOBS:
            result = _locked(fn, job, day, settings, owner, lock, kwargs)
        else:
            result = fn(day, settings=settings, **kwargs)
    except NOT_RETRYABLE as e:
        if not in_airflow:
            raise
        try:
            from airflow.sdk.exceptions import AirflowFailException
        except ImportError:
            raise e from None
        from stockwise import masking

        raise AirflowFailException(masking.scrub(str(e), masking.secret_values())) from e
    out = to_jsonable(result)  # the XCom: scrubbed, like the logs
    from stockwise import masking

    out = json.loads(masking.scrub(json.dumps(out), masking.secret_values(settings)))
    if scenario:
        out.setdefault("scenario", scenario)
    log.info("%s %s -> %s", job, day, json.dumps(out)[:2000])
    log.info("%s", logs.done_line(job, day.isoformat(), out, time.monotonic() - started))  # the task log's last line
    return out


def _official_inputs(job: str, day: date, settings) -> tuple[str, ...] | None:
    from stockwise import lake

    needed = REUSED_BY_SCENARIOS.get(job)
    if not needed:
        return None
    official = lake.open_official(settings)
    return needed if all(lake.has_partition(official, n, day.isoformat()) for n in needed) else None


def _locked(fn, job: str, day: date, settings, owner: str | None, mode: str, kwargs: dict) -> Any:
    from stockwise import faults, lake, runlock

    store = lake.open_lake(settings)
    resource = f"plan/{day.isoformat()}"
    lease = settings.lock_lease_minutes * 60
    wait = settings.lock_wait_minutes * 60
    with runlock.held(
        store, resource, owner or runlock.cli_owner(), lease, wait, release_after=mode in ("job", "last")
    ):
        faults.point(settings, f"{job}.start")
        return fn(day, settings=settings, **kwargs)


# --- Airflow ---------------------------------------------------------------------------------
def run_date_from_context(ctx: Mapping[str, Any]) -> str:
    """The date a DAG run works for: the `run_date` param; for a run started by a new model,
    the date that model was trained for; else the logical date, else run_after (manual and
    asset-triggered runs in Airflow 3 may have no logical date)."""
    override = ctx["params"].get("run_date")
    if override:
        return parse_run_date(override).isoformat()
    for events in (ctx.get("triggering_asset_events") or {}).values():
        for ev in events or ():
            ds = (getattr(ev, "extra", None) or {}).get("ds")
            if ds:
                return parse_run_date(ds).isoformat()
    if ctx.get("logical_date") is not None:
        return ctx["logical_date"].strftime("%Y-%m-%d")
    return ctx["dag_run"].run_after.strftime("%Y-%m-%d")


def run_owner(ctx: Mapping[str, Any]) -> str:
    return f"airflow:{ctx['dag_run'].dag_id}:{ctx['dag_run'].run_id}"


def call_from_airflow(job: str, *, lock: str | None = "job", scenarios: bool = False, **kwargs: Any) -> dict[str, Any]:
    """`call` for a TaskFlow task: date, owner (the DAG run) and scenario come from the context.

    `scenarios`: the DAG's params may make the run a scenario (the planning DAG).
    """
    from airflow.sdk import get_current_context

    from stockwise import tracking

    ctx = get_current_context()
    apply_connections()
    tracking.AIRFLOW_RUN.set(
        {"dag_id": ctx["dag_run"].dag_id, "run_id": ctx["dag_run"].run_id, "task_id": ctx["ti"].task_id}
    )
    scenario = scenario_name(ctx["params"]) if scenarios else None
    if scenario:
        log.info("scenario run '%s': results go to scenarios/%s/, nothing is published to the ERP", scenario, scenario)
    return call(
        job, run_date_from_context(ctx), in_airflow=True, owner=run_owner(ctx), scenario=scenario, lock=lock, **kwargs
    )


def apply_connections() -> dict[str, str]:
    """Set the `STOCKWISE_*` variables from the Airflow Connections `stockwise_erp`,
    `stockwise_lake` and `stockwise_mlflow` where they are defined (`stockwise.connections`);
    a variable already set wins. Returns what was set (names only are logged)."""
    import os

    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from stockwise import connections

    found: dict[str, Any] = {}
    for name in connections.NAMES:
        try:
            found[name] = Connection.get(name)
        except AirflowNotFoundException:
            found[name] = None
    try:
        env = connections.environment(found, os.environ)
    except connections.ConnectionError_ as e:
        raise ConfigError(str(e)) from e
    os.environ.update(env)
    used = sorted(n for n, c in found.items() if c is not None)
    if used:
        log.info(
            "settings from Airflow connections %s: %s", ", ".join(used), ", ".join(sorted(env)) or "none (overridden)"
        )
    return env


def retry_delay(minutes: float):
    """A task's wait before its retry: `minutes`, unless `STOCKWISE_RETRY_DELAY_SECONDS` says
    otherwise (read when the DAG is parsed; the stack's tests wait seconds, not minutes)."""
    import os
    from datetime import timedelta

    seconds = os.environ.get("STOCKWISE_RETRY_DELAY_SECONDS")
    return timedelta(seconds=float(seconds)) if seconds else timedelta(minutes=minutes)


def input_tasks(call: Callable[..., dict[str, Any]]):
    """The tasks every DAG that plans or trains starts with, `extract -> validate -> build_features`
    (task ids as the jobs), each through `call(job)`; returns the output of `build_features`."""
    from datetime import timedelta

    from airflow.sdk import task

    @task(execution_timeout=timedelta(minutes=30))
    def extract() -> dict:
        return call("extract")

    @task(execution_timeout=timedelta(minutes=30))
    def validate(extracted: Any) -> dict:  # Any: an XComArg while the DAG is built
        return call("validate")

    @task(execution_timeout=timedelta(hours=1))
    def build_features(validated: Any) -> dict:
        return call("build_features")

    return build_features(validate(extract()))


def owner_links() -> dict[str, str]:
    """The DAGs' owner and how to reach them (`STOCKWISE_OWNER_CONTACT`, shown as a link in the
    Airflow UI); a contact Airflow would refuse is left out with a warning, never a broken DAG."""
    from urllib.parse import urlsplit

    from stockwise.settings import Settings

    contact = Settings().owner_contact
    u = urlsplit(contact)
    if (u.scheme == "mailto" and u.path) or (u.scheme in ("http", "https") and u.netloc):
        return {OWNER: contact}
    log.warning("STOCKWISE_OWNER_CONTACT %r is not a mailto: or http(s): link: no owner link", contact)
    return {}


def failure_callback(plans: bool = False):
    """Airflow's `on_failure_callback` for every Stockwise task (called after the last retry).

    It writes a failure record to the lake (`runs/failures/ds=.../`), posts it to the alert
    webhook when one is set, gives back the run's lock so that the next run does not wait for
    the lease, and (`plans`: the planning DAG) marks the last official report as superseded by
    a failed run. It never raises: a callback that raises hides the real failure.
    """

    def on_failure(context: dict) -> None:
        try:
            from stockwise import alerts

            ti = context.get("ti") or context.get("task_instance")
            if ti is None:
                raise LookupError("the failure context names no task instance")
            scenario = scenario_name(context.get("params") or {}) if plans else None
            alerts.task_failed(
                ds=parse_run_date(run_date_from_context(context)),
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                try_number=getattr(ti, "try_number", None),
                error=context.get("exception"),
                owner=run_owner(context),
                scenario=scenario,
                official_plan=plans and scenario is None,
            )
        except Exception:  # noqa: BLE001 - see above
            log.exception("the failure callback itself failed")

    return on_failure


def describe_error(error: BaseException | str | None) -> str:
    if error is None:
        return "unknown error"
    if isinstance(error, BaseException) and isinstance(error.__cause__, StockwiseError):
        error = error.__cause__  # Airflow's no-retry wrapper around our own error
    if isinstance(error, StockwiseError):
        return str(error)
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


OWNER = "stockwise"  # the DAGs' owner
CONSOLE = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z) \[(\w+)\s*\] (.*)$")
SOURCE = re.compile(r"^(.*?)\s+\[([\w.]+)\]\s*(.*)$")  # message [logger] key=value ... loc=file:line


def _log_records(lines: list[str]) -> list[str]:
    """`airflow dags test` console lines as the JSON lines of an Airflow 3 task log file; a line
    without a time stamp (a traceback's) carries the one before it, so the UI keeps the order."""
    out, stamp = [], None
    for line in lines:
        m = CONSOLE.match(line.rstrip("\n"))
        if m:
            stamp = m.group(1)
            rec = {"timestamp": stamp, "level": m.group(2), "event": m.group(3)}
            if src := SOURCE.match(m.group(3)):
                extras = re.sub(r"\s*\bloc=\S+", "", src.group(3)).strip()
                rec.update(event=src.group(1) + (f"  {extras}" if extras else ""), logger=src.group(2))
        else:
            rec = {"timestamp": stamp, "level": "info", "event": line.rstrip("\n")}
        out.append(json.dumps(rec))
    return out


def record_dag_test(dag_id: str, run_id: str, attempts: dict[tuple[str, int], list[str]]) -> list[str]:
    """Make a run of `airflow dags test` look in the Airflow UI as a scheduled run does: each
    task attempt's lines filed where the UI reads task logs, and the run's start the time its first
    task started (dags test records the logical date: a run of a year-old date lasted a year).

    `attempts`: (task_id, attempt) -> the console lines of that attempt. Returns the files written."""
    from pathlib import Path

    from airflow.configuration import conf
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.log.file_task_handler import FileTaskHandler
    from airflow.utils.session import create_session
    from sqlalchemy import select

    folder = Path(conf.get("logging", "base_log_folder"))
    handler = FileTaskHandler(base_log_folder=str(folder))
    written = []
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            raise ConfigError(f"no run {run_id} of {dag_id} in the Airflow database")
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
        by_task = {ti.task_id: ti for ti in tis}
        starts = [ti.start_date for ti in by_task.values() if ti.start_date]
        if starts:
            run.start_date = min(starts)
        for (task_id, attempt), lines in attempts.items():
            ti = by_task.get(task_id)
            if ti is None:
                continue
            path = folder / handler._render_filename(ti, attempt, session=session)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(_log_records(lines)) + "\n")
            written.append(str(path))
    return written
