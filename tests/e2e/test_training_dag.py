"""model_training end to end on the tiny demo with a real MLflow store, then planning follows it."""

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from stockwise import lake
from stockwise.settings import Settings
from support.demo import TINY_DS

pytestmark = [pytest.mark.dags, pytest.mark.slow, pytest.mark.spark, pytest.mark.integration]


def _dag(dag_id):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Settings().great_expectations_dir.parent / "dags")).dags[dag_id]


def _test(dag_id, conf=None):
    dr = _dag(dag_id).test(logical_date=pd.Timestamp(TINY_DS, tz="UTC").to_pydatetime(), run_conf=conf or {})
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}, dr


def _model_events():
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        q = (
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == "stockwise://models/stockwise-demand")
            .order_by(AssetEvent.id)
        )
        return list(session.scalars(q))


def test_train_register_promote_and_serve(airflow_db, demo_home, monkeypatch):
    monkeypatch.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
    monkeypatch.setenv("STOCKWISE_HORIZON_DAYS", "14")
    cands = "moving_average,tsb,shaped_average,lightgbm,ensemble"
    states, dr = _test("model_training", {"candidates": cands})
    assert str(dr.state) == "success", states
    # a new champion is announced (the planning DAG's asset), with the date it was trained for
    assert states["announce_champion"] == "success"
    assert [e.extra.get("ds") for e in _model_events()] == [TINY_DS.isoformat()]

    mlflow.set_tracking_uri(Settings().mlflow_uri)
    client = mlflow.MlflowClient()
    v1 = client.get_model_version_by_alias("stockwise-demand", "champion")
    assert client.get_model_version_by_alias("stockwise-demand", "challenger").version == v1.version
    assert v1.tags["promotion.decision"] == "promoted" and v1.tags["promotion.reason"] == "no champion yet"
    run = client.get_run(v1.run_id)
    assert "backtest_WRMSSE" in run.data.metrics and run.inputs.dataset_inputs
    # what a model reviewer reads in the MLflow UI: a model card on the registered model, the
    # experiment and the run; the promotion in plain words on the version; runs named by version
    card = client.get_registered_model("stockwise-demand").description
    assert "**Intended use.**" in card and "| segment | series | champion |" in card and "**Limits.**" in card
    exp = client.get_experiment_by_name("stockwise-demand")
    assert exp.tags["mlflow.note.content"] == card and run.data.tags["mlflow.note.content"] == card
    assert v1.description.startswith("**Promoted to champion**") and "there was no champion" in v1.description
    assert run.info.run_name == f"stockwise-demand v{v1.version} · data to {TINY_DS.isoformat()}"
    # lineage: the DAG run and task, the extracts' lake versions, the code
    assert run.data.tags["airflow.dag_id"] == "model_training" and run.data.tags["airflow.task_id"] == "train"
    assert run.data.tags["airflow.run_id"] == dr.run_id and run.data.tags["lake.sales_version"]
    assert run.data.tags["stockwise.code_version"]
    # the run's duration covers the training (the backtest), not only the logging at its end
    ti = dr.get_task_instance("train")
    assert run.info.end_time - run.info.start_time >= 0.7 * (ti.end_date - ti.start_date).total_seconds() * 1000
    arts = {a.path for a in client.list_artifacts(v1.run_id, "plots")}
    assert {"plots/error_by_segment.png", "plots/fan_charts_last_cutoff.png"} <= arts
    families = {e.name for e in client.search_experiments()}
    assert {"stockwise-forecast-tsb", "stockwise-forecast-lightgbm", "stockwise-demand"} <= families

    # the anomaly model: registered, evaluated per type on injected anomalies, promoted
    a1 = client.get_model_version_by_alias("stockwise-anomaly", "champion")
    assert a1.tags["promotion.decision"] == "promoted" and float(a1.tags["eval.f1"]) > 0.5
    assert a1.description.startswith("**Promoted to champion**")
    assert "**Evaluation**" in client.get_registered_model("stockwise-anomaly").description
    arun = client.get_run(a1.run_id)
    assert {"overall.f1", "fat_finger.recall", "duplicate_receipt.precision", "rules_only.overall.f1"} <= set(
        arun.data.metrics
    )
    assert "plots/detection_by_type.png" in {a.path for a in client.list_artifacts(a1.run_id, "plots")}
    # both models are logged from code with their state as plain files: serving unpickles nothing
    for name, mv, code in (("stockwise-demand", v1, "demand_model.py"), ("stockwise-anomaly", a1, "anomaly_model.py")):
        loc = mlflow.get_logged_model(mv.source.removeprefix("models:/")).artifact_location.removeprefix("file://")
        files = {p.relative_to(loc).as_posix() for p in Path(loc).rglob("*") if p.is_file()}
        assert code in files and "artifacts/state/state.json" in files, (name, files)
        assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))], (name, files)

    # the registered pyfunc forecasts quantiles for every series from the panel
    store = lake.open_lake(Settings())
    panel = lake.read_parquet(store, "features/demand_panel", TINY_DS.isoformat())
    out = mlflow.pyfunc.load_model("models:/stockwise-demand@champion").predict(panel, params={"horizon": 14})
    n = panel[["sku", "location_id"]].drop_duplicates().shape[0]
    assert len(out) == n * 14 and (out[["mean", "p10", "p90", "sigma"]] >= 0).all().all()

    # a second training run, LightGBM now one model per store trained through Spark inside the
    # Airflow task, registers v2 as challenger; a huge margin keeps v1 as champion
    monkeypatch.setenv("STOCKWISE_LIGHTGBM_PARTITION_BY", "location_id")
    states, dr = _test("model_training", {"candidates": "lightgbm", "promotion_margin": 0.5})
    assert str(dr.state) == "success", states
    # a rejected challenger re-plans nothing: no new asset event
    assert states["announce_champion"] == "skipped" and len(_model_events()) == 1
    v2 = client.get_model_version_by_alias("stockwise-demand", "challenger")
    assert v2.version != v1.version
    assert client.get_model_version_by_alias("stockwise-demand", "champion").version == v1.version
    v2 = client.get_model_version("stockwise-demand", v2.version)
    assert v2.tags["promotion.decision"] == "rejected" and v2.tags["promotion.champion_score"]
    # v1 was trained on the same data: re-scored on cutoffs it has seen it would look better than
    # any challenger could; its own backtest (the same cutoffs, refitted) is the fair figure
    assert float(v2.tags["promotion.champion_score"]) == pytest.approx(float(v1.tags["backtest.wrmsse"]))
    assert v2.description.startswith("**Not promoted**") and f"champion v{v1.version} scored" in v2.description
    lgbm_runs = client.search_runs(
        [client.get_experiment_by_name("stockwise-forecast-lightgbm").experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert lgbm_runs[0].data.params["partition_by"] == "location_id"
    served = mlflow.pyfunc.load_model(f"models:/stockwise-demand/{v2.version}")
    out2 = served.predict(panel, params={"horizon": 14})
    assert len(out2) == n * 14 and (out2[["mean", "p10", "p90", "sigma"]] >= 0).all().all()
    lg = served.unwrap_python_model().model.lgbm  # the per-store boosters travel in the saved state
    assert type(lg).__name__ == "PartitionedLGBM" and len(lg.models) == panel["location_id"].nunique()
    assert set(out2["model"]) == {"lightgbm"}
    monkeypatch.delenv("STOCKWISE_LIGHTGBM_PARTITION_BY")

    # the planning DAG serves the champion, not the baseline (the 14-day horizon is the
    # configured one, STOCKWISE_HORIZON_DAYS: a horizon param would make the run a what-if)
    states, dr = _test("inventory_planning")
    assert str(dr.state) == "success", states
    meta = lake.read_manifest(store, "forecasts", TINY_DS.isoformat()).meta
    assert meta["baseline"] is False and meta["model_version"] == v1.version
    html = store.get(lake.read_manifest(store, "reports", TINY_DS.isoformat()).key("index.html")).decode()
    assert "stockwise-demand v" in html and "no champion demand model" not in html
    assert (
        lake.read_manifest(store, "anomalies", TINY_DS.isoformat()).meta["model"] == f"stockwise-anomaly v{a1.version}"
    )

    # a reviewer moves the champion by hand, saying why: recorded, and nothing re-planned ...
    from stockwise.cli import main

    plans_before = {k: store.get(k) for k in store.list("plans/")}
    assert main(["-q", "set-champion", "--version", str(v2.version), "--why", "per-store model for the new DC"]) == 0
    assert client.get_model_version_by_alias("stockwise-demand", "champion").version == v2.version
    assert {k: store.get(k) for k in store.list("plans/")} == plans_before
    # ... until asked: the date is re-planned with it, and the plan's lineage says who moved it and why
    assert (
        main(["-q", "set-champion", "--version", str(v2.version), "--why", "per-store model", "--replan", str(TINY_DS)])
        == 0
    )
    meta = lake.read_manifest(store, "forecasts", TINY_DS.isoformat()).meta
    assert meta["model_version"] == v2.version and meta["model_provenance"]["how"].startswith("moved by hand")
    assert meta["model_provenance"]["why"] == "per-store model" and meta["model_provenance"]["by"] != "not recorded"
    html = store.get(lake.read_manifest(store, "reports", TINY_DS.isoformat()).key("index.html")).decode()
    assert "moved by hand in the registry" in html and "per-store model" in html
    assert main(["-q", "set-champion", "--version", "99", "--why", "x"]) == 2  # "has no version 99; it has [1, 2]"
    assert client.get_model_version_by_alias("stockwise-demand", "champion").version == v2.version
