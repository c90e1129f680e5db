"""Registered models are saved as plain files and rebuilt without pickle: same forecasts, same
alerts, and anything that cannot be saved as data stops training with the attribute named."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from test_anomaly_model import history
from test_forecast_models import panel

from stockwise_training import persist
from stockwise_training.anomaly.model import AnomalyModel, ForestParams
from stockwise_training.forecast.backtest import BacktestConfig, run_backtest
from stockwise_training.forecast.champion import forecast_champions
from stockwise_training.forecast.models.lgbm_spark import PartitionedLGBM
from stockwise_training.forecast.panel import to_matrix
from stockwise_training.forecast.pyfunc import DemandModel

TINY_LGBM = {"rounds": 15, "quantile_rounds": 8, "num_leaves": 7, "min_data_in_leaf": 5, "threads": 1}


def _no_pickle_in(folder):
    for f in folder.rglob("*"):
        if f.is_file():
            head = f.read_bytes()[:2]
            assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), f
            with pytest.raises(Exception):  # noqa: B017,PT011 - any unpickling error will do
                pickle.loads(f.read_bytes())


def test_demand_model_round_trip_forecasts_the_same(tmp_path):
    p = panel(n_days=160, kinds=("smooth", "intermittent", "smooth", "constant"))
    p["location_id"] = np.where(p["sku"].isin(["S0", "S1"]), "L1", "L2")
    m = to_matrix(p, "D")
    statics = pd.DataFrame({"sku": [f"S{i}" for i in range(4)], "category": ["a", "a", "b", "b"]})
    cfg = BacktestConfig(
        horizon=7,
        cutoffs=2,
        season=7,
        weight_window=28,
        candidates=("moving_average", "seasonal_naive", "lightgbm"),
        model_params={"lightgbm": TINY_LGBM},
    )
    bt = run_backtest(m, cfg, statics, None, m.cols.get("price"))
    bt.champions = {**bt.champions, "all": "lightgbm", "smooth": "lightgbm", "intermittent": "moving_average"}
    _, models = forecast_champions(m, bt, cfg, cfg.horizon, statics)
    model = DemandModel(bt.champions, cfg, bt.calibration, sorted(set(bt.segments)), "D", models["lightgbm"], statics)
    before = model.forecast(p)
    model.save(tmp_path / "state")
    _no_pickle_in(tmp_path / "state")
    assert list((tmp_path / "state").glob("*.lgb.txt")), "the boosters are LightGBM text models"
    again = DemandModel.restore(tmp_path / "state")
    after = again.forecast(p)
    pd.testing.assert_frame_equal(before, after)
    assert again.cfg == cfg and isinstance(again.cfg.candidates, tuple)
    assert set(after["model"]) >= {"lightgbm"}


def test_partitioned_lightgbm_round_trip(tmp_path):
    p = panel(n_days=120, kinds=("smooth", "smooth", "intermittent"))
    p["location_id"] = np.where(p["sku"] == "S0", "L1", "L2")
    m = to_matrix(p, "D")
    model = PartitionedLGBM(partition_by="location_id", spark=False, horizon=7, **TINY_LGBM).fit(m)
    mean, q = model.predict_on(m, 7)
    persist.dump(model.slim(), tmp_path / "s")
    back = persist.load(tmp_path / "s")
    assert isinstance(back, PartitionedLGBM) and set(back.models) == {"L1", "L2"}
    mean2, q2 = back.predict_on(m, 7)
    np.testing.assert_array_equal(mean, mean2)
    np.testing.assert_array_equal(q, q2)


def test_anomaly_model_round_trip_alerts_the_same(tmp_path):
    daily = history(n_series=8, days=120)
    model = AnomalyModel.fit(daily, p=ForestParams(n_estimators=20, alert_rate=0.01))
    model.save(tmp_path / "state")
    _no_pickle_in(tmp_path / "state")
    again = AnomalyModel.restore(tmp_path / "state")
    pd.testing.assert_frame_equal(model.detect(daily), again.detect(daily))
    assert again.rules == model.rules and again.threshold == model.threshold


def test_values_that_are_not_data_stop_the_save_naming_the_attribute(tmp_path):
    class Opaque:
        pass

    with pytest.raises(persist.StateError, match=r"model\['lgbm'\]\.p: a .*Opaque cannot be saved"):
        lg = PartitionedLGBM(partition_by="location_id", spark=False)
        lg.p = Opaque()
        persist.dump({"lgbm": lg}, tmp_path / "bad")


def test_load_builds_only_allowed_classes(tmp_path):
    persist.dump({"x": np.arange(3), "t": (1.5, float("nan"))}, tmp_path / "ok")
    back = persist.load(tmp_path / "ok")
    assert back["t"][0] == 1.5 and np.isnan(back["t"][1]) and back["x"].tolist() == [0, 1, 2]
    doc = {"format": persist.FORMAT, "state": {"$object": "subprocess.Popen", "state": {"args": "id"}}}
    (tmp_path / "ok" / "state.json").write_text(json.dumps(doc))
    with pytest.raises(persist.StateError, match="subprocess.Popen, which stockwise does not rebuild"):
        persist.load(tmp_path / "ok")
