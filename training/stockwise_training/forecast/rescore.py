"""Re-score a registered demand model on the challenger's backtest cutoffs (for promotion)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def rescore(
    model_uri: str, panel: pd.DataFrame, cutoffs: list[pd.Timestamp], horizon: int, freq: str, weight_window: int
) -> float:
    """Mean WRMSSE of a registered model over the given cutoffs of `panel` (its own pyfunc)."""
    import mlflow

    from stockwise_training.forecast import metrics
    from stockwise_training.forecast.panel import to_matrix

    model = mlflow.pyfunc.load_model(model_uri)
    full = to_matrix(panel, freq)
    scores = []
    for cut in cutoffs:
        hist = panel[panel["date"] <= cut]
        fc = model.predict(hist, params={"horizon": horizon})
        train = full.upto(cut)
        T = len(train.dates)
        keys = pd.MultiIndex.from_frame(full.keys)
        mean = (
            fc.set_index(["sku", "location_id", "date"])["mean"].unstack("date").reindex(keys).to_numpy()[:, :horizon]
        )
        actual = full.observed[:, T : T + horizon]
        price = full.cols.get("price")
        w = metrics.weights(train.observed, price[:, :T] if price is not None else None, weight_window)
        res, _ = metrics.evaluate(actual, np.nan_to_num(mean), train.observed, w)
        scores.append(res["WRMSSE"])
    return float(np.mean(scores))
