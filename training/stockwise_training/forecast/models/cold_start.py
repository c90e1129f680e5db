"""The cold-start rule for new items: borrow the profile of their category at their location.

An item with little history is forecast from the recent daily level of the established items
(at least `established` observed periods) of the same category at the same location (their
median, so one best-seller does not set it), shaped by that group's weekday profile; as its own
history grows, its own level takes over: weight n / (n + `prior_periods`) on its own mean over
n observed periods. No group at the location: the category chain-wide; no category: all items.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from stockwise_training.forecast.panel import Matrix


class ColdStart:
    name = "cold_start"

    def __init__(self, window: int = 28, established: int = 56, prior_periods: float = 14.0, season: int = 7) -> None:
        self.window, self.established, self.prior, self.season = window, established, prior_periods, season

    def fit(self, m: Matrix, statics: pd.DataFrame | None = None) -> ColdStart:
        y = m.observed
        n_obs = np.sum(~np.isnan(y), axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            own = np.nan_to_num(np.nanmean(y[:, -max(self.window, 1) :], axis=1), nan=np.nan)
            own_all = np.nanmean(y, axis=1)
        own = np.where(np.isnan(own), own_all, own)
        cat = (
            m.keys[["sku"]].merge(statics[["sku", "category"]], on="sku", how="left")["category"]
            if statics is not None and "category" in statics
            else pd.Series(["all"] * len(m.keys))
        )
        keys = pd.DataFrame(
            {
                "category": cat.fillna("all").to_numpy(),
                "location_id": m.keys["location_id"].to_numpy(),
                "level": own,
                "established": n_obs >= self.established,
            }
        )
        est = keys[keys["established"] & keys["level"].notna()]
        by_cl = est.groupby(["category", "location_id"])["level"].median()
        by_c = est.groupby("category")["level"].median()
        overall = float(est["level"].median()) if len(est) else 0.0
        prof = np.array(
            [
                by_cl.get((c, loc), by_c.get(c, overall))
                for c, loc in zip(keys["category"], keys["location_id"], strict=True)
            ],
            dtype=float,
        )
        w = n_obs / (n_obs + self.prior)
        self.level = np.nan_to_num(w * np.nan_to_num(own, nan=0.0) + (1 - w) * prof, nan=0.0)
        # the weekday (season) shape of established demand, shared by all
        phase = np.arange(y.shape[1]) % self.season
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ey = y[keys["established"].to_numpy()] if keys["established"].any() else y
            means = np.array([np.nanmean(ey[:, phase == p]) for p in range(self.season)])
            shape = means / np.nanmean(means)
        self.shape = np.where(np.isfinite(shape), shape, 1.0)
        self.next_phase = y.shape[1] % self.season
        return self

    def predict(self, horizon: int, future=None):
        ph = (self.next_phase + np.arange(horizon)) % self.season
        return np.maximum(self.level[:, None] * self.shape[ph][None, :], 0.0), None
