"""`stockwise-anomaly` as an MLflow pyfunc: the rule detectors plus an IsolationForest.

The forest, fitted on engineered movement features (stockwise.anomaly.features), catches days
no rule describes; it only raises an alert where no rule alert already covers the series and
day, and each of its alerts names the features furthest from their usual values. It is
registered from code (`anomaly_model.py`), its state saved by `stockwise_training.persist`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from stockwise.anomaly.features import FEATURES, engineer
from stockwise.anomaly.rules import ALERT_COLUMNS, DEFAULT_RULES, FROM_DATA, KEYS, Pooled, RuleParams, detect, prepare


@dataclass(frozen=True)
class ForestParams:
    n_estimators: int = 100
    max_samples: int = 256
    sample_rows: int = 100_000
    alert_rate: float = 1e-4  # share of sku x location x days the forest may alert on
    seed: int = 0


DEFAULT_FOREST = ForestParams()


@dataclass
class AnomalyModel(mlflow.pyfunc.PythonModel):
    rules: RuleParams = field(default_factory=RuleParams)
    forest: Any = None  # a fitted sklearn IsolationForest
    center: dict = field(default_factory=dict)
    scale: dict = field(default_factory=dict)
    threshold: float = -np.inf

    @classmethod
    def fit(
        cls, daily: pd.DataFrame, rules: RuleParams = DEFAULT_RULES, p: ForestParams = DEFAULT_FOREST
    ) -> AnomalyModel:
        from sklearn.ensemble import IsolationForest

        X = engineer(daily, rules)[FEATURES]
        sample = X.sample(min(len(X), p.sample_rows), random_state=p.seed)
        forest = IsolationForest(
            n_estimators=p.n_estimators, max_samples=min(p.max_samples, len(sample)), random_state=p.seed, n_jobs=1
        ).fit(sample.to_numpy())
        s = forest.score_samples(X.to_numpy())
        center = X.median()
        scale = 1.4826 * (X - center).abs().median()
        scale = scale.where(scale > 1e-9, X.std().where(X.std() > 1e-9, 1.0))
        return cls(rules, forest, center.to_dict(), scale.to_dict(), float(np.quantile(s, p.alert_rate)))

    def save(self, folder) -> None:
        """The model's state as plain files (the forest through skops; see stockwise_training.persist)."""
        from stockwise_training import persist

        persist.dump({k: getattr(self, k) for k in ("rules", "forest", "center", "scale", "threshold")}, folder)

    @classmethod
    def restore(cls, folder) -> AnomalyModel:
        from stockwise_training import persist

        return cls(**persist.load(folder))

    def detect(self, daily: pd.DataFrame, pool: Pooled = FROM_DATA) -> pd.DataFrame:
        """Rule alerts, then forest alerts on days no rule alert covers. `pool`: the assortment's
        usual adjustment and receipt when `daily` is one batch of it (see `Pooled`)."""
        promo = daily[["date", *KEYS, "on_promo"]] if "on_promo" in daily else None
        alerts = detect(daily, promo, self.rules, pool)
        if self.forest is None or not len(daily):
            return alerts
        X = engineer(daily, self.rules, pool)
        s = self.forest.score_samples(X[FEATURES].to_numpy())
        hit = s < self.threshold
        cand = X[hit].assign(score=-s[hit])
        if len(alerts) and len(cand):
            a = alerts[KEYS + ["window_start", "window_end"]].copy()
            j = cand.reset_index().merge(a, on=KEYS)
            pad = pd.Timedelta(days=1)
            covered = j[
                (j["date"] >= pd.to_datetime(j["window_start"]) - pad)
                & (j["date"] <= pd.to_datetime(j["window_end"]) + pad)
            ]["index"].unique()
            cand = cand.drop(index=covered)
        if not len(cand):
            return alerts
        z = pd.DataFrame({f: (cand[f] - self.center[f]) / self.scale[f] for f in FEATURES}, index=cand.index)
        top = z.abs().to_numpy().argsort(axis=1)[:, ::-1][:, :3]
        reasons = [
            "unusual day for this item: "
            + ", ".join(
                f"{FEATURES[j].replace('_', ' ')} {cand[FEATURES[j]].iloc[i]:.3g} "
                f"(usual {self.center[FEATURES[j]]:.3g})"
                for j in row
            )
            for i, row in enumerate(top)
        ]
        rows = prepare(daily).set_index(KEYS + ["date"]).reindex(pd.MultiIndex.from_frame(cand[KEYS + ["date"]]))
        units = np.nanmax(
            np.abs(rows[["sold", "adjustments", "count_qty", "residual", "receipts"]].to_numpy(dtype=float)), axis=1
        )
        forest_alerts = pd.DataFrame(
            {
                "type": "unusual_movement",
                "sku": cand["sku"].to_numpy(),
                "location_id": cand["location_id"].to_numpy(),
                "date": cand["date"].to_numpy(),
                "window_start": cand["date"].to_numpy(),
                "window_end": cand["date"].to_numpy(),
                "magnitude": np.nan_to_num(units),
                "score": cand["score"].to_numpy(),
                "reason": reasons,
                "source": "isolation_forest",
            }
        )
        out = (
            pd.concat([f for f in (alerts, forest_alerts) if len(f)], ignore_index=True)
            if len(forest_alerts)
            else alerts.copy()
        )
        out["date"] = pd.to_datetime(out["date"])
        return out.sort_values(["date", "type", "sku", "location_id"]).reset_index(drop=True)[ALERT_COLUMNS]

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.detect(model_input, Pooled.from_params(params))
