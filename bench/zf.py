"""The optimal periodic-review (s, S) policy of Zheng and Federgruen (1991), with a lead time.

stockpyl's `ss.s_s_discrete_exact` is the same algorithm with one demand pmf for both of its
parts, which is right for a zero lead time only. With a lead time the two parts take different
demands:

- the cost of an order-up-to position y, G(y) = E[h (y - D)^+ + p (D - y)^+], over the demand D
  from an order to the arrival of the next one (the lead time and a review period);
- the renewal process that counts the periods between orders, m(j), over one period's demand.

The long-run cost per period of (s, S) (order up to S when the position is at or below s) is
c(s, S) = (K + sum_{j < S - s} m(j) G(S - j)) / M(S - s), M(n) = sum_{j < n} m(j); the search is
Zheng-Federgruen's (stockpyl's Algorithm 4.2), line by line. `bench/network_simulation.py` feeds
it the forecasts every other policy gets (negative binomial by mean and variance, in buckets of
demand units for fast movers).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln


class _Costs:
    """G and the renewal function of one item, on integer positions (units of the bucket)."""

    def __init__(self, f_period: np.ndarray, f_lead: np.ndarray, h: float, p: float, K: float) -> None:
        if f_period[0] >= 1.0:
            raise ValueError("a period's demand is always zero: no (s, S) to find")
        self.f, self.h, self.p, self.K = f_period, h, p, K
        self.mean = float(np.dot(np.arange(len(f_lead)), f_lead))
        # A(y) = E[(y - D)^+] = sum_{x < y} F(x) for y >= 0 (0 below), linear past the support
        self.A = np.concatenate([[0.0], np.cumsum(np.cumsum(f_lead))])
        self.lo, self.g = 0, np.zeros(0)
        self._cover(-4 * len(f_lead) - 50, 4 * len(f_lead) + 50)
        self.m = np.zeros(64)
        self.m[0] = 1.0 / (1.0 - f_period[0])
        self.n_m = 1
        self.M = np.zeros(65)
        self.M[1] = self.m[0]

    def _cover(self, lo: int, hi: int) -> None:
        """G on every y in [lo, hi] (kept as an array from `self.lo`)."""
        lo, hi = min(lo, self.lo), max(hi, self.lo + len(self.g) - 1)
        y = np.arange(lo, hi + 1)
        n = len(self.A) - 1
        a = np.where(y <= 0, 0.0, np.where(y <= n, self.A[np.clip(y, 0, n)], self.A[n] + (y - n)))
        self.lo, self.g = lo, (self.h + self.p) * a - self.p * (y - self.mean)

    def G(self, y: int) -> float:
        if not self.lo <= y < self.lo + len(self.g):
            self._cover(y - 100, y + 100)
        return float(self.g[y - self.lo])

    def _grow(self, n: int) -> None:
        f = self.f
        if n > len(self.m):
            size = max(n, 2 * len(self.m))
            self.m = np.concatenate([self.m, np.zeros(size - len(self.m))])
            self.M = np.concatenate([self.M, np.zeros(size + 1 - len(self.M))])
        m = self.m
        for j in range(self.n_m, n):
            k = min(j, len(f) - 1)
            m[j] = m[0] * float(np.dot(f[1 : k + 1], m[j - 1 :: -1][:k])) if k else 0.0
            self.M[j + 1] = self.M[j] + m[j]
        self.n_m = max(self.n_m, n)

    def c(self, s: int, S: int) -> float:
        n = S - s
        self._grow(n)
        self.G(s + 1)
        self.G(S)
        g = self.g[s + 1 - self.lo : S + 1 - self.lo][::-1]  # G(S - j), j = 0 .. n - 1
        return (self.K + float(np.dot(self.m[:n], g))) / self.M[n]


def optimal_sS(f_period: np.ndarray, f_lead: np.ndarray, h: float, p: float, K: float) -> tuple[int, int, float]:
    """(s, S, cost per period) minimising c(s, S) for one item (Zheng-Federgruen's search)."""
    cst = _Costs(np.asarray(f_period, float), np.asarray(f_lead, float), h, p, K)
    # y*: the newsvendor's minimiser of G (G is convex on the integers)
    y = 0
    while cst.G(y + 1) < cst.G(y):
        y += 1
    while cst.G(y - 1) < cst.G(y):
        y -= 1
    S0 = s = y
    while True:
        s -= 1
        if cst.c(s, S0) <= cst.G(s):
            break
    s_hat, S_hat = s, S0
    g_hat = cst.c(s_hat, S_hat)
    S = S_hat + 1
    while cst.G(S) <= g_hat:
        if cst.c(s_hat, S) < g_hat:
            S_hat = S
            while cst.c(s, S_hat) <= cst.G(s + 1):
                s += 1
            s_hat = s
            g_hat = cst.c(s_hat, S_hat)
        S += 1
    return s_hat, S_hat, g_hat


def demand_pmf(mean: float, var: float, bucket: float) -> np.ndarray:
    """P(demand in bucket k) for k = 0.. (bucket k: units in [(k - 0.5) b, (k + 0.5) b)): negative
    binomial by mean and variance (Poisson when not over-dispersed), up to 10 standard
    deviations above the mean, renormalised."""
    if mean <= 0:
        return np.array([1.0])
    top = int(mean + 10 * math.sqrt(max(var, mean)) + 10)
    k = np.arange(top + 1)
    if var > mean * (1 + 1e-9):
        r = mean**2 / (var - mean)
        q = r / (r + mean)
        logf = gammaln(k + r) - gammaln(r) - gammaln(k + 1) + r * math.log(q) + k * math.log1p(-q)
    else:
        logf = k * math.log(mean) - mean - gammaln(k + 1)
    f = np.exp(logf)
    if bucket > 1:
        edges = np.floor((np.arange(0, math.ceil(top / bucket) + 2) + 0.5) * bucket - 1e-9).astype(int)
        cdf = np.cumsum(f)[np.clip(edges, 0, top)]
        f = np.diff(np.concatenate([[0.0], cdf]))
    return f / f.sum()


def item_levels(
    mu: float,
    sd: float,
    period_days: float,
    lead_days: float,
    lead_sd: float,
    unit_holding: float,
    penalty_ratio: float,
    order_cost: float,
    max_buckets: int = 120,
) -> tuple[float, float]:
    """(s, S) in units for an item with daily demand (mu, sd), a review every `period_days`, an
    order exposed to `lead_days` (+/- `lead_sd`) before the next review's: holding `unit_holding`
    per unit per day, the shortage penalty `penalty_ratio` times a period's holding per unit
    short, `order_cost` per order. Demand is counted in buckets so that the lead-time demand
    spans at most about `max_buckets` of them."""
    if mu <= 0:
        return -1.0, 0.0
    n_lead = lead_days + period_days
    m_lead = mu * n_lead
    v_lead = max(sd, 0.0) ** 2 * n_lead + (mu * lead_sd) ** 2
    m_per, v_per = mu * period_days, max(sd, 0.0) ** 2 * period_days
    bucket = max(1.0, math.ceil((m_lead + 6 * math.sqrt(v_lead)) / max_buckets))
    f_per = demand_pmf(m_per, v_per, bucket)
    if f_per[0] >= 1.0 - 1e-9:  # a period almost never sells: order up to one bucket at zero
        return -1.0, bucket
    f_lead = demand_pmf(m_lead, v_lead, bucket)
    h = unit_holding * period_days * bucket
    s, S, _ = optimal_sS(f_per, f_lead, h, penalty_ratio * h, order_cost)
    return float(s * bucket), float(S * bucket)
