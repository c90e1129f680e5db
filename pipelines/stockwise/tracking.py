"""MLflow set-up at run time (never at import): tracking URI and experiments with our artifact root."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockwise.settings import Settings


def use_mlflow(settings: Settings, experiment: str) -> str:
    """Point MLflow at the settings' store and return the experiment id (created if missing)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_uri)
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        # a local store gets its artifacts under .stockwise/, not in whatever the cwd is
        local = settings.mlflow_uri.startswith("sqlite") or "://" not in settings.mlflow_uri
        exp_id = client.create_experiment(experiment, artifact_location=settings.mlflow_artifacts if local else None)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id
