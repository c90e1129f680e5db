"""The registered `stockwise-demand` model: a pyfunc that forecasts quantiles from a feature panel.

Input: the Spark feature panel (one row per sku x location x period up to the forecast origin).
Output: one row per sku x location x future period with `mean`, the quantiles P2.5..P97.5,
`sigma` and the model that produced it. Statistical champions are refitted on the given history
at predict time (their parameters are the model); LightGBM uses its trained boosters.

It is registered from code (`demand_model.py`): the state below is saved as plain files by
`stockwise_training.persist` and rebuilt by `DemandModel.restore`, never pickled.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd

from stockwise_training import persist
from stockwise_training.forecast.backtest import (
    BacktestConfig,
    _level,
    apply_calibration,
    apply_widths,
    fit_predict,
)
from stockwise_training.forecast.champion import assign
from stockwise_training.forecast.panel import (
    QCOLS,
    demand_classes,
    future_dates,
    long_forecast,
    to_matrix,
)

Z90 = 1.2815515655446004  # P90 - P10 spans 2 x 1.2816 sigma under a normal
STATE = ("champions", "cfg", "calibration", "segment_names", "freq", "lgbm", "statics", "widths")


class DemandModel(mlflow.pyfunc.PythonModel):
    def __init__(
        self,
        champions: dict[str, str],
        cfg: BacktestConfig,
        calibration: dict[str, np.ndarray],
        segment_names: list[str],
        freq: str,
        lgbm=None,
        statics: pd.DataFrame | None = None,
        widths: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.champions = champions
        self.cfg = cfg
        self.calibration = calibration
        self.segment_names = segment_names
        self.freq = freq
        self.lgbm = lgbm.slim() if lgbm is not None else None
        self.statics = statics
        self.widths = widths or {}  # interval width factors from the backtest (native or calibrated)

    def save(self, folder) -> None:
        """The model's state as plain files (see `stockwise_training.persist`)."""
        persist.dump({k: getattr(self, k) for k in STATE}, folder)

    @classmethod
    def restore(cls, folder) -> DemandModel:
        state = persist.load(folder)
        model = cls.__new__(cls)
        for k in STATE:
            setattr(model, k, state[k])
        return model

    def forecast(self, panel: pd.DataFrame, horizon: int | None = None) -> pd.DataFrame:
        return self.forecast_matrix(to_matrix(panel, self.freq), horizon)

    def forecast_matrix(self, m, horizon: int | None = None) -> pd.DataFrame:
        """The forecast from a panel already in matrices (`panel.to_matrix`)."""
        h = horizon or self.cfg.horizon
        seg = demand_classes(m.observed, min(2 * self.cfg.horizon, len(m.dates) // 2))
        chosen = assign(seg, self.champions)
        codes = np.array([self.segment_names.index(s) if s in self.segment_names else 0 for s in seg])
        level = _level(m.observed, self.cfg.horizon)
        mean = np.zeros((len(m.keys), h))
        q = np.zeros((len(m.keys), h, len(QCOLS)))
        spread = np.zeros((len(m.keys), h))  # P90 - P10 before interval calibration: for sigma
        cache: dict = {}
        if self.lgbm is not None:  # the trained boosters stand in for a refit
            cache["lightgbm"] = (self.lgbm, *self.lgbm.predict_on(m, h, self.statics))
        for name in sorted(set(chosen)):
            _, mu, qq = fit_predict(name, m, h, self.cfg, self.statics, None, cache)
            if qq is None:
                qq = apply_calibration(mu, level, codes, self.calibration[name])
            raw = qq
            if name in getattr(self, "widths", {}):
                qq = apply_widths(qq, codes, self.widths[name])
            sel = chosen == name
            mean[sel], q[sel] = mu[sel], qq[sel]
            spread[sel] = np.maximum(raw[sel][..., 3] - raw[sel][..., 1], 0)
        out = long_forecast(m.keys, future_dates(m.dates[-1], h, self.freq), mean, q, "champion")
        out["model"] = np.repeat(chosen, h)
        out["segment"] = np.repeat(seg, h)
        # sigma for the planning step's demand distribution: from the spread before interval
        # calibration, which on counts moves P90 in steps to hit a coverage, not to fit the variance
        out["sigma"] = spread.ravel() / (2 * Z90)
        return out

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        horizon = int((params or {}).get("horizon", self.cfg.horizon))
        return self.forecast(model_input, horizon)
