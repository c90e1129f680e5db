"""Demand distributions for safety stock: the normal loss function, fill-rate k, count quantiles.

The normal approximation is what textbooks and most tools use; for slow movers (a few units over
the protection interval) it fails, and the negative binomial (Poisson when the variance does not
exceed the mean) takes over.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import nbinom, norm, poisson


def normal_loss(k: np.ndarray | float) -> np.ndarray:
    """G(k) = E[(Z - k)^+] for a standard normal Z: phi(k) - k (1 - Phi(k))."""
    k = np.asarray(k, dtype=float)
    return norm.pdf(k) - k * norm.sf(k)


def k_for_loss(target: np.ndarray | float, lo: float = -4.0, hi: float = 6.0) -> np.ndarray:
    """The k with G(k) = target (G falls monotonically), by vectorised bisection."""
    target = np.asarray(target, dtype=float)
    a = np.full(target.shape, lo)
    b = np.full(target.shape, hi)
    for _ in range(60):
        m = (a + b) / 2
        high = normal_loss(m) > target
        a = np.where(high, m, a)
        b = np.where(high, b, m)
    return (a + b) / 2


def k_for_fill_rate(
    fill_rate: np.ndarray | float, order_qty: np.ndarray | float, sigma: np.ndarray | float
) -> np.ndarray:
    """Safety factor k for a Type 2 service (fill rate) with order quantity Q:
    expected shortage per cycle sigma G(k) = (1 - fill_rate) Q."""
    sigma = np.maximum(np.asarray(sigma, dtype=float), 1e-12)
    return k_for_loss((1 - np.asarray(fill_rate, dtype=float)) * np.asarray(order_qty, dtype=float) / sigma)


def count_quantile(mean: np.ndarray, var: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """Quantile of a count distribution with this mean and variance: negative binomial when
    over-dispersed, else Poisson."""
    mean = np.maximum(np.asarray(mean, dtype=float), 0.0)
    var = np.asarray(var, dtype=float)
    over = var > mean * (1 + 1e-9)
    out = poisson.ppf(q, np.maximum(mean, 1e-12))
    # scipy's nbinom(n, p): mean n(1-p)/p, var n(1-p)/p^2  ->  p = mean/var, n = mean^2/(var-mean)
    p = np.where(over, mean / np.where(over, var, 1.0), 0.5)
    n = np.where(over, mean**2 / np.where(over, var - mean, 1.0), 1.0)
    nb = nbinom.ppf(q, np.maximum(n, 1e-12), np.clip(p, 1e-12, 1.0))
    out = np.where(over, nb, out)
    return np.where(mean <= 0, 0.0, np.nan_to_num(out, nan=0.0))
