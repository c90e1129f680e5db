"""Serving with a real MLflow registry: the horizon param reaches the champion, and a broken
champion falls back to the champion before it, then to the baseline, flagged loudly."""

import logging
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from stockwise import lake
from stockwise.orchestration import call
from stockwise.settings import Settings
from support.demo import TINY_DS

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.spark]
D = TINY_DS.isoformat()
CHEAP = ("moving_average", "seasonal_naive")


def _artifact(client, version: str) -> Path:
    """The registered model's saved state (plain files: models-from-code, no pickle)."""
    mv = client.get_model_version("stockwise-demand", version)  # source: models:/m-<logged model id>
    loc = Path(mlflow.get_logged_model(mv.source.removeprefix("models:/")).artifact_location.removeprefix("file://"))
    assert (loc / "demand_model.py").exists() and not list(loc.rglob("*.pkl")), sorted(loc.rglob("*"))
    return loc / "artifacts" / "state"


def test_horizon_param_and_fallback_through_earlier_champions(demo_home, monkeypatch, caplog):
    monkeypatch.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
    for job in ("extract", "validate", "build_features"):
        call(job, TINY_DS)
    call("train_forecast", TINY_DS, candidates=CHEAP)
    assert call("promote_forecast", TINY_DS)["champion_changed"]
    call("train_forecast", TINY_DS, candidates=CHEAP)
    # the same models score the same: a negative margin forces v2 in, with v1 recorded as the one it replaced
    assert str(call("promote_forecast", TINY_DS, margin=-1.0)["version"]) == "2"
    mlflow.set_tracking_uri(Settings().mlflow_uri)
    client = mlflow.MlflowClient()
    assert client.get_model_version("stockwise-demand", "2").tags["promotion.champion_version"] == "1"

    # 1. the horizon asked is the horizon served (MLflow used to drop the undeclared param)
    with caplog.at_level(logging.WARNING):
        out = call("forecast", TINY_DS, horizon_days=14)
    assert out["method"] == "stockwise-demand v2" and not out["fallback"]
    assert "Ignoring provided params" not in caplog.text
    store = lake.open_lake(Settings())
    fc = lake.read_parquet(store, "forecasts", D, "forecast.parquet")
    assert fc.groupby(["sku", "location_id"]).size().eq(14).all()
    model = mlflow.pyfunc.load_model("models:/stockwise-demand@champion")
    panel = lake.read_parquet(store, "features/demand_panel", D)
    panel["date"] = pd.to_datetime(panel["date"])
    assert model.predict(panel, params={"horizon": 7}).groupby(["sku", "location_id"]).size().eq(7).all()
    assert model.predict(panel).groupby(["sku", "location_id"]).size().eq(28).all()  # the trained default
    meta = lake.read_manifest(store, "forecasts", D).meta
    assert meta["model_provenance"]["how"] == "promoted by Stockwise"
    assert meta["model_provenance"]["why"].startswith("challenger WRMSSE")

    # a reviewer moves the alias by hand in the MLflow UI: the plan's lineage says so (and who, if tagged)
    client.set_registered_model_alias("stockwise-demand", "champion", "1")
    client.set_model_version_tag("stockwise-demand", "1", "champion.set_by", "r.viewer")
    assert call("forecast", TINY_DS, horizon_days=14)["method"] == "stockwise-demand v1"
    prov = lake.read_manifest(store, "forecasts", D).meta["model_provenance"]
    assert prov["how"].startswith("moved by hand") and prov["by"] == "r.viewer"
    client.set_registered_model_alias("stockwise-demand", "champion", "2")

    # 2. the champion's artifact is truncated: the champion before it serves, loudly
    state = _artifact(client, "2") / "state.json"
    state.write_bytes(state.read_bytes()[:100])
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        out = call("forecast", TINY_DS, horizon_days=14)
    assert out["method"] == "stockwise-demand v1"
    assert out["fallback"].startswith("the champion could not be used (v2 failed:")
    assert "FALLBACK" in caplog.text
    call("detect_anomalies", TINY_DS)
    call("plan", TINY_DS)
    call("report", TINY_DS)
    page = lake.read_file(store, "reports", D, "index.html").decode()
    assert "Forecast model fallback." in page and "v2 failed" in page
    assert "an earlier champion, served as a fallback" in page

    # 3. every earlier champion broken too (deleted): the baseline, never an unknown model
    shutil.rmtree(_artifact(client, "1"))
    out = call("forecast", TINY_DS, horizon_days=14)
    assert out["is_baseline"] and "no registered champion could forecast" in out["fallback"]
    assert "v1 failed" in out["fallback"] and "v2 failed" in out["fallback"]
    meta = lake.read_manifest(store, "forecasts", D).meta
    assert meta["baseline"] is True and meta["fallback"] == out["fallback"]
