"""Intermittent demand: TSB (Teunter-Syntetos-Babai) and Croston with the SBA bias correction.

Censored (stockout) periods are skipped: they update neither the demand size nor its probability.
"""

from __future__ import annotations

import numpy as np

from stockwise_training.forecast.panel import Matrix


def _start(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Initial demand probability and size from each series' observed history."""
    obs = ~np.isnan(y)
    pos = np.where(obs, y > 0, False)
    n_obs = obs.sum(axis=1)
    n_pos = pos.sum(axis=1)
    p0 = np.where(n_obs > 0, n_pos / np.maximum(n_obs, 1), 0.0)
    z0 = np.where(n_pos > 0, np.nansum(np.where(pos, y, 0), axis=1) / np.maximum(n_pos, 1), 0.0)
    return p0, z0


class TSB:
    name = "tsb"

    def __init__(self, alpha_d: float = 0.1, alpha_p: float = 0.1) -> None:
        self.alpha_d, self.alpha_p = alpha_d, alpha_p

    def fit(self, m: Matrix) -> TSB:
        y = m.observed
        p, z = _start(y[:, : min(y.shape[1], 28)])
        for t in range(y.shape[1]):
            col = y[:, t]
            seen = ~np.isnan(col)
            occ = seen & (col > 0)
            p = np.where(seen, p + self.alpha_p * (occ.astype(float) - p), p)
            z = np.where(occ, z + self.alpha_d * (np.nan_to_num(col) - z), z)
        self.level = p * z
        return self

    def predict(self, horizon: int, future=None):
        return np.repeat(self.level[:, None], horizon, axis=1), None


class CrostonSBA:
    name = "croston_sba"

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def fit(self, m: Matrix) -> CrostonSBA:
        y = m.observed
        p0, z = _start(y[:, : min(y.shape[1], 28)])
        q = np.where(p0 > 0, 1 / np.maximum(p0, 1e-9), 1.0)
        since = np.ones(y.shape[0])
        for t in range(y.shape[1]):
            col = y[:, t]
            occ = ~np.isnan(col) & (col > 0)
            z = np.where(occ, z + self.alpha * (np.nan_to_num(col) - z), z)
            q = np.where(occ, q + self.alpha * (since - q), q)
            since = np.where(occ, 1.0, since + (~np.isnan(col)))
        self.level = np.where(z > 0, (1 - self.alpha / 2) * z / np.maximum(q, 1e-9), 0.0)
        return self

    def predict(self, horizon: int, future=None):
        return np.repeat(self.level[:, None], horizon, axis=1), None
