"""MLflow set-up at run time (never at import): tracking URI and experiments with our artifact root."""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockwise.settings import Settings


@contextlib.contextmanager
def _first_use_guard(uri: str):
    """Serialise processes opening a SQLite tracking store: MLflow creates and migrates its schema
    on first use, and two processes doing it at once fail ("Online migration expected to match
    one row"). A server store (http://, postgresql://) handles its own concurrency."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    guard = Path(uri.removeprefix("sqlite:///") + ".init-lock")
    guard.parent.mkdir(parents=True, exist_ok=True)
    with open(guard, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def use_mlflow(settings: Settings, experiment: str) -> str:
    """Point MLflow at the settings' store and return the experiment id (created if missing)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow.exceptions import MlflowException

    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_uri)
    with _first_use_guard(settings.mlflow_uri):
        client = mlflow.MlflowClient()
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            # a local store gets its artifacts under .stockwise/, not in whatever the cwd is
            local = settings.mlflow_uri.startswith("sqlite") or "://" not in settings.mlflow_uri
            try:
                exp_id = client.create_experiment(
                    experiment, artifact_location=settings.mlflow_artifacts if local else None
                )
            except MlflowException:  # another process created it in between (a server store)
                exp_id = client.get_experiment_by_name(experiment).experiment_id
        else:
            exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


# the Airflow task a job runs in (set by `orchestration.call_from_airflow`), for lineage tags
AIRFLOW_RUN: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("airflow_run", default=None)


def lineage_tags(settings: Settings, ds, extracts: dict[str, str] | None = None) -> dict[str, str]:
    """Where a training run comes from: the data date, the code, the Airflow DAG run and task
    (when Airflow runs it), and the lake versions of the extracts it read."""
    from stockwise.version import code_version

    tags = {"stockwise.ds": str(ds), "stockwise.code_version": code_version(settings)}
    tags.update({f"airflow.{k}": v for k, v in (AIRFLOW_RUN.get() or {}).items()})
    tags.update({f"lake.{k}": v for k, v in (extracts or {}).items()})
    return tags


def start_run(experiment_id: str, run_name: str, started: float, tags: dict[str, str], card: str = ""):
    """An MLflow run whose start is when the training started (`started`, a `time.time()`), not
    when logging began, so the UI's duration covers the training; `card` becomes its
    description (the run's note)."""
    import mlflow

    client = mlflow.MlflowClient()
    run = client.create_run(experiment_id, start_time=int(started * 1000), tags=tags, run_name=run_name)
    if card:
        client.set_tag(run.info.run_id, "mlflow.note.content", card)
    return mlflow.start_run(run_id=run.info.run_id)


def describe(experiment_id: str, model_name: str, card: str) -> None:
    """The model card as the description of the experiment and of the registered model: what a
    reviewer reads first in the MLflow UI."""
    import mlflow

    client = mlflow.MlflowClient()
    client.set_experiment_tag(experiment_id, "mlflow.note.content", card)
    client.update_registered_model(model_name, description=card)


def name_version_run(run_id: str, model_name: str, version: str, ds) -> str:
    """Rename a training run once its version is known: 'stockwise-demand v7 · data to 2025-12-31'."""
    import mlflow

    name = f"{model_name} v{version} · data to {ds}"
    mlflow.MlflowClient().set_tag(run_id, "mlflow.runName", name)
    return name
