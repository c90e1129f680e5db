"""Re-score a registered demand model on the challenger's backtest cutoffs (for promotion)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockwise_training.forecast.panel import Matrix


def rescore(model_uri: str, full: Matrix, cutoffs: list[pd.Timestamp], horizon: int, weight_window: int) -> float:
    """Mean WRMSSE of a registered model over the given cutoffs of the panel `full` (its
    matrices). The registered pyfunc's own forecaster runs on the history up to each cutoff,
    given as matrices: the long panel cut at each cutoff was a copy of it per cutoff (9.7 GB at
    20,000 series)."""
    import mlflow

    from stockwise_training.forecast import metrics

    model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model().model
    keys = pd.MultiIndex.from_frame(full.keys)
    scores = []
    for cut in cutoffs:
        train = full.upto(cut)
        # the series with a panel row by the cutoff, as the panel cut there holds (the others
        # are forecast as zero, as before they start)
        rows = ~np.isnan(train.cols["stockout"]).all(axis=1)
        seen = Matrix(
            train.keys[rows].reset_index(drop=True),
            train.dates,
            train.freq,
            {k: v[rows] for k, v in train.cols.items()},
        )
        fc = model.forecast_matrix(seen, horizon)
        T = len(train.dates)
        mean = (
            fc.set_index(["sku", "location_id", "date"])["mean"].unstack("date").reindex(keys).to_numpy()[:, :horizon]
        )
        actual = full.observed[:, T : T + horizon]
        price = full.cols.get("price")
        w = metrics.weights(train.observed, price[:, :T] if price is not None else None, weight_window)
        res, _ = metrics.evaluate(actual, np.nan_to_num(mean), train.observed, w)
        scores.append(res["WRMSSE"])
    return float(np.mean(scores))
