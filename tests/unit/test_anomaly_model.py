"""The stockwise-anomaly model: the forest adds only untyped alerts no rule covers, with the
features that made it fire; injection evaluation scores only what the injection added."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockwise_training.anomaly.inject import inject
from stockwise_training.anomaly.model import AnomalyModel, ForestParams
from stockwise_training.anomaly.train import evaluate


def history(n_series=12, days=150, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(n_series):
        sold = rng.poisson(rng.uniform(1, 8), days).astype(float)
        rec = np.where(np.arange(days) % 7 == 0, np.ceil(sold.mean() * 7), 0.0)
        net = rec - sold
        book = 100 + np.cumsum(net)
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.date_range("2025-01-01", periods=days),
                    "sku": f"S{s}",
                    "location_id": "L",
                    "on_hand": book,
                    "prev_on_hand": np.r_[np.nan, book[:-1]],
                    "receipts": rec,
                    "sold": sold,
                    "adjustments": 0.0,
                    "n_adjustments": 0,
                    "max_abs_adjustment": 0.0,
                    "count_qty": 0.0,
                    "n_counts": 0,
                    "returns": 0.0,
                    "shrink": 0.0,
                    "transfers": 0.0,
                    "net_movement": net,
                    "residual": 0.0,
                    "dup_receipt_qty": 0.0,
                    "dup_receipt_lines": 0,
                    "dup_refs": "",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_forest_alerts_are_new_untyped_and_explained():
    d = history()
    d.loc[500, ["receipts", "net_movement"]] = [5000.0, 5000.0]  # a receipt no rule looks at
    m = AnomalyModel.fit(d, p=ForestParams(alert_rate=0.01))
    a = m.detect(d)
    forest = a[a["source"] == "isolation_forest"]
    assert len(forest) >= 1 and (forest["type"] == "unusual_movement").all()
    assert ((forest["sku"] == d.at[500, "sku"]) & (forest["date"] == d.at[500, "date"])).any()
    assert forest["reason"].str.startswith("unusual day for this item: ").all()
    assert forest["reason"].str.contains("receipt rel").any()


def test_injection_labels_each_kind_and_evaluation_scores_only_what_it_added():
    d = history(n_series=40)
    injected, labels = inject(d, per_kind=5, seed=1)
    assert set(labels["kind"]) == {"fat_finger", "duplicate_receipt", "book_mismatch", "phantom_stock", "shrinkage"}
    assert len(injected) == len(d)
    sc = evaluate(AnomalyModel(), d, seed=1, per_kind=3).set_index("kind")
    assert sc.loc["overall", "recall"] >= 0.8, sc
    assert sc.loc["fat_finger", "precision"] == 1.0


def _with_adjustments(d: pd.DataFrame, sku: str, sizes: list[float]) -> None:
    rows = d.index[d["sku"] == sku][5 : 5 + len(sizes)]
    d.loc[rows, "adjustments"] = sizes
    d.loc[rows, "n_adjustments"] = 1
    d.loc[rows, "max_abs_adjustment"] = np.abs(sizes)


def _assortment() -> pd.DataFrame:
    """Series whose usual adjustment differs by batch: A* adjust by 3, B* by 37, and C01, with too
    few of its own, keys a 70 that is a fat finger against the assortment's usual 3 but not
    against its own batch's 37."""
    names = [f"A{i:02d}" for i in range(1, 7)] + [f"B{i:02d}" for i in range(1, 6)] + ["C01"]
    d = history(n_series=len(names), days=150)
    d["sku"] = d["sku"].map({f"S{i}": n for i, n in enumerate(names)})
    for n in names[:6]:
        _with_adjustments(d, n, [3.0] * 20)
    for n in names[6:11]:
        _with_adjustments(d, n, [37.0] * 20)
    _with_adjustments(d, "C01", [7.0, 70.0])
    return d.sort_values(["sku", "location_id", "date"]).reset_index(drop=True)


def _lake_of(tmp_path, d: pd.DataFrame):
    """The table as the feature job writes it: parts of whole series, sorted by series and day."""
    from stockwise import catalog, lake

    store = lake.LocalStore(tmp_path / "lake")
    a = d[d["sku"].str.startswith("A")]
    rest = d[~d["sku"].str.startswith("A")]
    catalog.MOVEMENT_DAILY.write(
        store,
        "2025-05-30",
        {"part-00000.parquet": lake.parquet_bytes(a), "part-00001.parquet": lake.parquet_bytes(rest)},
    )
    return store


def test_scoring_in_batches_of_series_gives_the_alerts_of_one_pass(tmp_path):
    import mlflow
    from mlflow.models import infer_signature

    from stockwise.anomaly.rules import Pooled
    from stockwise_serving.anomalies import score, score_in_batches

    d = _assortment()
    store = _lake_of(tmp_path, d)
    items = pd.DataFrame({"sku": d["sku"].unique(), "unit_cost": 2.0})
    ds = pd.Timestamp(d["date"].max()).date()
    model = AnomalyModel.fit(d, p=ForestParams(alert_rate=0.01))
    model.save(tmp_path / "state")
    path = tmp_path / "pyfunc"
    mlflow.pyfunc.save_model(
        path,
        python_model="training/stockwise_training/anomaly/anomaly_model.py",
        artifacts={"state": str(tmp_path / "state")},
        signature=infer_signature(d.head(5), params=Pooled().params()),
    )
    pyfunc = mlflow.pyfunc.load_model(str(path))
    for m in (None, pyfunc):
        whole = score(d, None, items, ds, lookback_days=200, model=m)
        assert ((whole["sku"] == "C01") & (whole["type"] == "fat_finger")).any()
        # three series a batch, the last batch B04, B05, C01; batches cut inside a series' rows
        batched = score_in_batches(store, ds, None, items, lookback_days=200, rows=450, model=m)
        pd.testing.assert_frame_equal(batched, whole)
        assert len(score_in_batches(store, ds, None, items, lookback_days=200, rows=1_000, model=m)) == len(whole)
        # without the pooled figures the last batch would judge C01 against B's 37: no fat finger
        naive = score(d[d["sku"].isin(["B04", "B05", "C01"])], None, items, ds, lookback_days=200, model=m)
        assert not ((naive["sku"] == "C01") & (naive["type"] == "fat_finger")).any()


def test_training_reads_a_seeded_sample_of_series_from_a_large_assortment(tmp_path):
    from stockwise import catalog, lake
    from stockwise.settings import Settings
    from stockwise_training.anomaly.train import _daily

    d = history(n_series=60, days=40).sort_values(["sku", "location_id", "date"])
    store = lake.LocalStore(tmp_path / "lake")
    catalog.MOVEMENT_DAILY.write(store, "2025-02-09", {"part-00000.parquet": lake.parquet_bytes(d)})
    ds = pd.Timestamp("2025-02-09").date()
    s = Settings(lake_url=str(tmp_path / "lake"), anomaly_train_series=50, anomaly_batch_rows=1_000)
    a, b = _daily(s, ds), _daily(s, ds)
    assert a["sku"].nunique() == 50 and a.equals(b)  # the same sample for training and promotion
    assert (a.groupby("sku").size() == 40).all()  # every day of each series taken
    whole = _daily(Settings(lake_url=str(tmp_path / "lake")), ds)
    assert whole["sku"].nunique() == 60 and len(whole) == len(d)
