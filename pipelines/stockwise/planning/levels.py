"""Reorder points from a service target, from the interval's distribution.

Type 1 (cycle service level alpha): s is the alpha-quantile of demand over the protection
interval P. Type 2 (fill rate beta): the expected shortage per replenishment cycle,
ESC(s) = E[(D_P - s)^+] - E[(D_P - s - Q)^+], may be at most (1 - beta) times the demand of a
cycle; s is the smallest level that achieves it. With the normal approximation this is
sigma_P (G(k) - G(k + Q / sigma_P)) with the normal loss function G; for slow movers (a few
units per interval) the normal fails and the negative binomial is used instead.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import nbinom, norm, poisson

from stockwise.planning.distributions import normal_loss


def expected_excess_sorted(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """E[(X - c)^+] per row of sorted samples `x` [n, m], for levels `c` [n, k] (one sort, prefix sums)."""
    n, m = x.shape
    span = float(max(np.abs(x).max(initial=0), np.abs(c).max(initial=0))) * 2 + 1
    off = (np.arange(n) * span)[:, None]
    flat = (x + off).ravel()
    # samples above c in each row: from the position of c in the row to the row's end
    pos = np.searchsorted(flat, (c + off).ravel(), side="right").reshape(c.shape) - np.arange(n)[:, None] * m
    tail = np.concatenate([np.cumsum(x[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)  # tail[j] = sum x[j:]
    above = m - pos
    return (np.take_along_axis(tail, pos, axis=1) - c * above) / m


def fill_curves(d_p: np.ndarray, q: np.ndarray, cycle_demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate reorder points [series, paths + 1] (the sorted samples, the shortfall only changes at
    them, and one above the top) and the fill rate each would give; in blocks of series that stay
    in the CPU cache (in one piece the searches grew faster than the catalogue)."""
    n, m = d_p.shape
    cand = np.empty((n, m + 1))
    fill = np.empty((n, m + 1))
    q = np.broadcast_to(np.asarray(q, dtype=float), (n,))
    cycle_demand = np.broadcast_to(np.asarray(cycle_demand, dtype=float), (n,))
    for a in range(0, n, CURVE_BLOCK):
        b = slice(a, a + CURVE_BLOCK)
        x = np.sort(d_p[b].astype(float), axis=1)
        cand[b] = np.concatenate([x, x[:, -1:] + 1], axis=1)
        qq = np.maximum(q[b], 1e-9)[:, None]
        esc = expected_excess_sorted(x, cand[b]) - expected_excess_sorted(x, cand[b] + qq)
        fill[b] = np.clip(1 - esc / np.maximum(cycle_demand[b], 1e-9)[:, None], 0.0, 1.0)
    return cand, np.maximum.accumulate(fill, axis=1)


CURVE_BLOCK = 1024  # series per block of `fill_curves`


def from_samples(d_p: np.ndarray, target: np.ndarray, kind: str, q: np.ndarray, cycle_demand: np.ndarray) -> np.ndarray:
    """Reorder point per series from samples [series, paths] of demand over the protection interval."""
    target = np.broadcast_to(np.asarray(target, dtype=float), (d_p.shape[0],))
    if kind == "cycle_service":
        x = np.sort(d_p.astype(float), axis=1)
        idx = np.clip(np.ceil(target * x.shape[1]).astype(int) - 1, 0, x.shape[1] - 1)
        return x[np.arange(len(x)), idx]
    cand, fill = fill_curves(d_p, q, cycle_demand)
    return first_reaching(cand, fill, target)


def first_reaching(cand: np.ndarray, fill: np.ndarray, target: np.ndarray) -> np.ndarray:
    ok = fill >= np.asarray(target)[:, None] - 1e-12
    first = np.where(ok.any(axis=1), ok.argmax(axis=1), cand.shape[1] - 1)
    return cand[np.arange(len(cand)), first]


def optimize_fill(
    d_p: np.ndarray,
    q: np.ndarray,
    cycle_demand: np.ndarray,
    demand_rate: np.ndarray,
    unit_cost: np.ndarray,
    aggregate: float,
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder points that reach an aggregate fill rate (units served / units demanded, over all
    series) at the least inventory value, each series' own fill rate kept within [lo, hi].

    Lagrangian allocation: for a price lambda on a unit served, each series takes the reorder
    point that maximises lambda x demand x fill(s) - unit cost x s; lambda is bisected until the
    demand-weighted fill reaches `aggregate`. Cheap, steady items end up near their ceiling and
    dear, erratic ones near their floor, which is where a point of service costs least and most.
    Returns the reorder points and the fill rate planned for each series.
    """
    cand, fill = fill_curves(d_p, q, cycle_demand)
    lo = np.minimum(np.asarray(lo, dtype=float), fill[:, -1])  # a floor above what is reachable
    ok = (fill >= lo[:, None] - 1e-12) & (fill <= np.maximum(hi, lo)[:, None] + 1e-12)
    ok[~ok.any(axis=1), -1] = True
    w = np.maximum(demand_rate, 0.0)
    # the value of holding each candidate, +inf where it is out of the series' band
    cost = np.where(ok, np.maximum(unit_cost, 1e-6)[:, None] * cand, np.inf)
    rows = np.arange(len(cand))
    # row blocks that stay in the CPU cache: one pass over the whole matrix per bisection step
    # slowed the plan more than linearly once the matrix outgrew the cache (20,000 series)
    blocks = [slice(a, a + BLOCK) for a in range(0, len(cand), BLOCK)]

    def pick(lam: float) -> np.ndarray:
        j = np.empty(len(cand), dtype=np.intp)
        for b in blocks:
            j[b] = ((lam * w[b])[:, None] * fill[b] - cost[b]).argmax(axis=1)
        return j

    def achieved(j: np.ndarray) -> float:
        return float((w * fill[rows, j]).sum() / max(w.sum(), 1e-12))

    a, b = 0.0, 1.0
    while achieved(pick(b)) < aggregate and b < 1e12:
        b *= 4
    for _ in range(60):
        m = (a + b) / 2
        if achieved(pick(m)) < aggregate:
            a = m
        else:
            b = m
    j = pick(b)
    return cand[rows, j], fill[rows, j]


BLOCK = 1024  # series per block of the fill-rate optimisation (1024 x 401 doubles: 3 MB)


def _nb_params(mean: np.ndarray, var: np.ndarray):
    over = var > mean * (1 + 1e-9)
    p = np.where(over, mean / np.where(over, var, 1.0), 1.0)
    n = np.where(over, mean**2 / np.maximum(var - mean, 1e-12), 1.0)
    return over, n, p


def count_excess(mean: np.ndarray, var: np.ndarray, s: np.ndarray, support: int = 400) -> np.ndarray:
    """E[(X - s)^+] for a negative binomial (Poisson when not over-dispersed) X."""
    over, n, p = _nb_params(mean, var)
    k = np.arange(support)[None, :]
    pmf = np.where(
        over[:, None],
        nbinom.pmf(k, n[:, None], np.clip(p, 1e-12, 1)[:, None]),
        poisson.pmf(k, np.maximum(mean, 1e-12)[:, None]),
    )
    return (np.maximum(k - s[:, None], 0) * pmf).sum(axis=1)


def from_normal(
    mean_p: np.ndarray,
    sigma_p: np.ndarray,
    target: np.ndarray,
    kind: str,
    q: np.ndarray,
    cycle_demand: np.ndarray,
    slow_below: float = 10.0,
) -> np.ndarray:
    """Reorder point with the normal approximation, or the negative binomial for slow movers."""
    target = np.broadcast_to(np.asarray(target, dtype=float), mean_p.shape)
    sig = np.maximum(sigma_p, 1e-9)
    slow = mean_p < slow_below
    var = np.maximum(sigma_p**2, mean_p)
    if kind == "cycle_service":
        s = mean_p + norm.ppf(target) * sigma_p
        if slow.any():
            over, n, p = _nb_params(mean_p[slow], var[slow])
            s_slow = np.where(
                over,
                nbinom.ppf(target[slow], n, np.clip(p, 1e-12, 1)),
                poisson.ppf(target[slow], np.maximum(mean_p[slow], 1e-12)),
            )
            s[slow] = np.nan_to_num(s_slow)
        return s
    allowed = (1 - target) * np.maximum(cycle_demand, 1e-9)
    lo, hi = np.full(mean_p.shape, -4.0), np.full(mean_p.shape, 8.0)
    for _ in range(60):  # ESC(k) falls with k: bisect for ESC(k) = allowed
        m = (lo + hi) / 2
        esc = sig * (normal_loss(m) - normal_loss(m + q / sig))
        high = esc > allowed
        lo, hi = np.where(high, m, lo), np.where(high, hi, m)
    s = mean_p + hi * sig
    if slow.any():
        # the smallest whole s with ESC within the allowance, by bisection over integers
        ms, vs, qs, al = mean_p[slow], var[slow], q[slow], allowed[slow]
        a = np.zeros(ms.shape)
        b = np.ceil(ms + 8 * np.sqrt(vs) + 5)
        for _ in range(12):
            mid = np.floor((a + b) / 2)
            esc = count_excess(ms, vs, mid) - count_excess(ms, vs, mid + qs)
            high = esc > al
            a, b = np.where(high, mid + 1, a), np.where(high, b, mid)
        s[slow] = b
    return s
