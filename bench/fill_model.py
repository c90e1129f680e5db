"""How well the engine's fill-rate model predicts a periodic-review (R, s, S) replay.

    .venv/bin/python bench/fill_model.py

Synthetic items where the sample paths are exactly right (demand drawn as the paths assume, no
forecast error): 300 items of 1-20 units a day (negative binomial, variance 1.69 x mean),
reviews Monday and Thursday, lead time 3 +/- 0.5 days. Each item's reorder point is set for a
target fill rate by two models, then the (R, s, S) policy is replayed for a year
(`planning.simulator`) and the fill it delivers is printed:

- the engine's (`levels.from_samples`): shortage per cycle E[(D_P - s)+] - E[(D_P - s - Q)+]
  over lead time + review, i.e. the position at s when the protection interval starts;
- the (R, S) one: shortage per review E[(D_{L+R} - S)+] - E[(D_L - S)+] at S = s + Q, i.e. the
  position at S after every review (an order at each one);
- the periodic-review one (`levels.from_samples` with `d_l`, what the engine uses for (R, s, S)):
  the same shortage per review with the position after a review drawn from its steady state.

A well-calibrated model delivers its target. See docs/benchmarks.md ("Network planning").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockwise.planning import levels
from stockwise.planning.demand import PathParams, sample_interval
from stockwise.planning.simulator import SimItems, SimParams, SimPolicy, simulate


def main() -> int:
    rng = np.random.default_rng(3)
    n, days = 300, 364
    rate = rng.uniform(1, 20, n)
    mu = np.repeat(rate[:, None], 42, 1)
    sd = np.sqrt(mu) * 1.3
    L, sL = np.full(n, 3.0), np.full(n, 0.5)
    mask = np.zeros((n, 7), bool)
    mask[:, [0, 3]] = True
    R = np.full(n, 4)  # the average gap between Monday and Thursday reviews, rounded up
    d_l, d_p = sample_interval(mu, sd, L, sL, R, PathParams(level_cv=0.0))
    shape = rate[:, None] ** 2 / np.maximum(sd[:, :1] ** 2 - rate[:, None], 1e-9)
    demand = rng.poisson(rate[:, None] * rng.gamma(shape, 1 / shape, (n, days))).astype(float)
    items = SimItems(np.ones(n), np.ones(n) * 2, np.ones(n), np.zeros(n), L, sL, mask)
    dates = pd.date_range("2025-01-06", periods=days)

    def excess(x, c):
        return np.maximum(x - c[:, None], 0).mean(axis=1)

    def rs_level(target, q):
        lo, hi = np.zeros(n), d_p.max(axis=1) + 1.0
        for _ in range(40):
            m = (lo + hi) / 2
            ok = excess(d_p, m + q) - excess(d_l, m + q) <= (1 - target) * rate * R
            hi, lo = np.where(ok, m, hi), np.where(ok, lo, m)
        return hi

    print("| Q (days of demand) | target | (s, Q) model: fill replayed | (R, S) model | periodic-review model |")
    print("|---|---|---|---|---|")
    for qdays in (2, 3.5, 7, 14):
        q = rate * qdays
        for target in (0.8, 0.95):
            got = []
            cyc = np.maximum(q, rate * R)
            for s in (
                levels.from_samples(d_p, target, "fill_rate", q, cyc),
                rs_level(target, q),
                levels.from_samples(d_p, target, "fill_rate", q, cyc, d_l=d_l),
            ):
                k = simulate(demand, dates, items, SimPolicy("x", s, s + q, q, "rsS", "nearest"), SimParams()).kpis
                got.append(f"{k['fill_rate']:.1%} (inventory {k['avg_inventory_value']:,.0f})")
            print(f"| {qdays:g} | {target:.0%} | {' | '.join(got)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
