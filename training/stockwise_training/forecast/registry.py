"""MLflow: log a training run, register `stockwise-demand`, and promote by backtest.

A new version gets the alias `challenger`. Promotion compares the challenger with the current
`champion` on the same backtest cutoffs (the champion is re-scored on them through its pyfunc)
and moves `champion` only when the challenger's WRMSSE is lower by at least `margin` (relative).
The decision and both figures are recorded as tags of the challenger's version. A reviewer can
also move the alias by hand in the MLflow UI; the planning DAG follows whatever `champion` is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

MODEL_NAME = "stockwise-demand"
CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class Promotion:
    version: str
    promoted: bool
    challenger_score: float
    champion_score: float | None
    champion_version: str | None
    margin: float
    reason: str


def champion_version(client, name: str = MODEL_NAME):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def decide(challenger: float, champion: float | None, margin: float) -> tuple[bool, str]:
    """Promote when there is no champion, or the challenger is better by at least `margin`."""
    if champion is None or not np.isfinite(champion):
        return True, "no champion yet"
    if challenger <= champion * (1 - margin):
        return True, f"challenger {challenger:.4f} beats champion {champion:.4f} by >= {margin:.0%}"
    return False, f"challenger {challenger:.4f} does not beat champion {champion:.4f} by {margin:.0%}"


def promote(client, version: str, challenger_score: float, champion_score: float | None,
            champion_ver: str | None, margin: float, name: str = MODEL_NAME) -> Promotion:
    ok, reason = decide(challenger_score, champion_score, margin)
    tags = {
        "promotion.decision": "promoted" if ok else "rejected",
        "promotion.reason": reason,
        "promotion.margin": str(margin),
        "promotion.challenger_wrmsse": f"{challenger_score:.6f}",
        "promotion.champion_wrmsse": "" if champion_score is None else f"{champion_score:.6f}",
        "promotion.champion_version": champion_ver or "",
    }
    for k, v in tags.items():
        client.set_model_version_tag(name, version, k, v)
    if ok:
        client.set_registered_model_alias(name, CHAMPION, version)
    log.info("promotion of %s v%s: %s", name, version, reason)
    return Promotion(version, ok, challenger_score, champion_score, champion_ver, margin, reason)


def rescore(model_uri: str, panel: pd.DataFrame, cutoffs: list[pd.Timestamp], horizon: int, freq: str,
            weight_window: int) -> float:
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
        mean = (fc.set_index(["sku", "location_id", "date"])["mean"].unstack("date")
                .reindex(keys).to_numpy()[:, :horizon])
        actual = full.observed[:, T : T + horizon]
        price = full.cols.get("price")
        w = metrics.weights(train.observed, price[:, :T] if price is not None else None, weight_window)
        res, _ = metrics.evaluate(actual, np.nan_to_num(mean), train.observed, w)
        scores.append(res["WRMSSE"])
    return float(np.mean(scores))
