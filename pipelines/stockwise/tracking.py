"""MLflow set-up at run time (never at import): tracking URI and experiments with our artifact root."""

from __future__ import annotations

import contextlib
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
