"""stockwise-shelf: one epoch offline from the model YAML, registered in MLflow, scored through
the registered pyfunc (bad files reported, not raised). Needs the vision extra (make test installs it)."""

from __future__ import annotations

import json
from datetime import date

import mlflow
import numpy as np
import pytest

from stockwise.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]
pytest.importorskip("ultralytics", reason="the optional vision extra (make vision-deps)")


def test_train_register_and_score_through_the_pyfunc(home, tmp_path, monkeypatch):
    from stockwise_training.shelf import train
    from stockwise_training.shelf.synthetic import ShelfConfig, render

    res = train.run(date(2025, 12, 31), epochs=1, images=8, imgsz=64)
    assert res.version == "1" and {"mAP50", "mAP50-95", "count_mae"} <= set(res.metrics)
    # one epoch is far below the quality bar: never promoted by default
    refused = train.promote_job(date(2025, 12, 31))
    assert not refused["promoted"] and "below the quality bar" in refused["reason"]
    monkeypatch.setenv("STOCKWISE_SHELF_MIN_MAP50", "0")  # for this test, any model will do
    assert train.promote_job(date(2025, 12, 31))["promoted"]

    mlflow.set_tracking_uri(Settings().mlflow_uri)
    client = mlflow.MlflowClient()
    v = client.get_model_version_by_alias("stockwise-shelf", "champion")
    assert {a.path for a in client.list_artifacts(v.run_id, "samples")}
    assert "**Test.**" in client.get_registered_model("stockwise-shelf").description  # the model card
    assert v.description.startswith("**Promoted to champion**")  # after a refusal, said in words too
    rng = np.random.default_rng(3)
    paths = []
    for i in range(2):
        p = tmp_path / f"shelf_{i}.jpg"
        render(rng, ShelfConfig(size=64))[0].save(p)
        paths.append(str(p))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a photo")
    import pandas as pd

    out = mlflow.pyfunc.load_model("models:/stockwise-shelf@champion").predict(
        pd.DataFrame({"image": [*paths, str(bad)]})
    )
    assert out["image"].tolist() == [*paths, str(bad)]
    assert out.loc[2, "error"] == "not an image Pillow can read" and out.loc[2, "facings"] == 0
    for r in out.iloc[:2].itertuples():
        assert r.error == "" and sum(json.loads(r.rows)) == r.facings == len(json.loads(r.boxes))


def test_trains_on_a_users_own_yolo_folder(home, tmp_path, monkeypatch):
    from stockwise_training.shelf import train
    from stockwise_training.shelf.synthetic import ShelfConfig, make_dataset

    folder = tmp_path / "my_photos"
    make_dataset(folder, {"train": 6, "val": 3, "test": 3}, seed=4, cfg=ShelfConfig(size=64))
    monkeypatch.setenv("STOCKWISE_SHELF_DATASET", str(folder))
    res = train.run(date(2025, 12, 31), epochs=1, images=8, imgsz=64)
    mlflow.set_tracking_uri(Settings().mlflow_uri)
    run = mlflow.MlflowClient().get_run(res.run_id)
    assert run.data.params["dataset"] == str(folder.resolve())
    monkeypatch.setenv("STOCKWISE_SHELF_DATASET", str(tmp_path / "nowhere"))
    with pytest.raises(Exception, match="no data.yaml there"):
        train.run(date(2025, 12, 31), epochs=1, images=8, imgsz=64)
