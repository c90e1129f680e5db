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
