"""Reorder points from a service target, from the interval's distribution.

Type 1 (cycle service level alpha): s is the alpha-quantile of demand over the protection
interval P. Type 2 (fill rate beta): the expected shortage per replenishment cycle,
ESC(s) = E[(D_P - s)^+] - E[(D_P - s - Q)^+], may be at most (1 - beta) times the demand of a
cycle; s is the smallest level that achieves it. With the normal approximation this is
sigma_P (G(k) - G(k + Q / sigma_P)) with the normal loss function G; for slow movers (a few
units per interval) the normal fails and the negative binomial is used instead.

That shortage per cycle is the continuous-review (s, Q) model: the position meets s exactly and
the risk lasts the protection interval. A periodic-review (R, s, S) location is not there: after
each review its position Y sits somewhere in (s, S], at S after an order and lower after reviews
that ordered nothing, and every order placed by a review has arrived L later, so the units short
in the review period that follows are exactly (D_{L+R} - Y)^+ - (D_L - Y)^+. `periodic_samples`
draws Y's steady-state law (the renewal measure of the review-period demand on [0, Q)) and
`fill_curves` with `d_l` uses it: the fill rate is one minus the expected shortage per review over
the expected demand per review. With Q below a review's demand it is the (R, S) model (an order
at every review), with Q far above it the position is spread evenly over (s, S];
bench/fill_model.py replays all three against their targets.
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


def fill_curves(
    d_p: np.ndarray, q: np.ndarray, cycle_demand: np.ndarray, d_l: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate reorder points [series, paths + 1] (where the shortfall changes slope, and one
    above the top) and the fill rate each would give; in blocks of series that stay in the CPU
    cache (in one piece the searches grew faster than the catalogue).

    Without `d_l`: the (s, Q) model (shortage per cycle over `cycle_demand`). With `d_l`, the
    samples of lead-time demand on the same paths: the periodic-review model (the module's
    docstring), whose position after a review is S - W, W from `periodic_samples`."""
    n, m = d_p.shape
    q = np.broadcast_to(np.asarray(q, dtype=float), (n,))
    cycle_demand = np.broadcast_to(np.asarray(cycle_demand, dtype=float), (n,))
    hit = _last_curves.get("last")  # one read: (d_p, d_l, q, cycle demand, (cand, fill))
    if (
        hit is not None
        and hit[0] is d_p
        and hit[1] is d_l
        and np.array_equal(hit[2], q)
        and (d_l is not None or np.array_equal(hit[3], cycle_demand))
    ):
        return hit[4]
    cand = np.empty((n, m + 1))
    fill = np.empty((n, m + 1))
    for a in range(0, n, CURVE_BLOCK):
        b = slice(a, a + CURVE_BLOCK)
        if d_l is None:
            x = np.sort(d_p[b].astype(float), axis=1)
            cand[b] = np.concatenate([x, x[:, -1:] + 1], axis=1)
            qq = np.maximum(q[b], 1e-9)[:, None]
            esc = expected_excess_sorted(x, cand[b]) - expected_excess_sorted(x, cand[b] + qq)
            fill[b] = np.clip(1 - esc / np.maximum(cycle_demand[b], 1e-9)[:, None], 0.0, 1.0)
            continue
        x_l, x_p = periodic_samples(d_l[b], d_p[b], q[b], seed=a)
        x_l.sort(axis=1)
        x_p.sort(axis=1)
        qq = q[b][:, None]
        # s = c - Q for the sorted samples c of D_{L+R} + W; a reorder point below zero never orders
        cand[b] = np.maximum(np.concatenate([x_p, x_p[:, -1:] + 1], axis=1) - qq, 0.0)
        short = expected_excess_sorted(x_p, cand[b] + qq) - expected_excess_sorted(x_l, cand[b] + qq)
        per_review = np.maximum((d_p[b] - d_l[b]).mean(axis=1), 1e-9)[:, None]
        fill[b] = np.clip(1 - short / per_review, 0.0, 1.0)
    fill = np.maximum.accumulate(fill, axis=1)
    cand.flags.writeable = fill.flags.writeable = False
    # the last curves are kept: the gate's cost-of-service curve re-plans the same samples for
    # several targets, and only the target changes (the key holds the arrays, so no id is reused)
    _last_curves["last"] = (d_p, d_l, q.copy(), cycle_demand.copy(), (cand, fill))
    return cand, fill


_last_curves: dict = {}


def periodic_samples(
    d_l: np.ndarray, d_p: np.ndarray, q: np.ndarray, seed: int = 0, bins: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """D_L + W and D_{L+R} + W [series, paths] for an (R, s, S) policy with S - s = `q`: W = S - Y,
    how far the position sits below S after a review in the steady state (independent of the
    demand to come). After an order W = 0; after k reviews without one it is the demand of those
    k reviews, while below Q. Its law is the renewal measure of the review-period demand
    R_1 + ... + R_k on [0, Q), normalised: on a grid of `bins` cells of Q / bins, each sample of
    D_{L+R} - D_L split between its two nearest cells (the mean is kept), u[0] = 1 / (1 - f[0]),
    u[x] = sum_{y=1..x} f[y] u[x - y] / (1 - f[0])."""
    n, m = d_p.shape
    q = np.maximum(np.asarray(q, dtype=float), 0.0)
    w = np.zeros((n, m))
    live = q > 1e-9
    if live.any():
        h = q[live] / bins
        r = np.maximum(d_p[live] - d_l[live], 0).astype(float) / h[:, None]
        lo = np.floor(r).astype(int)
        frac = r - lo
        k = len(h)
        base = (np.arange(k) * (bins + 1))[:, None]
        f = (  # cell `bins`: at or past Q
            np.bincount((base + np.minimum(lo, bins)).ravel(), ((1 - frac) / m).ravel(), k * (bins + 1))
            + np.bincount((base + np.minimum(lo + 1, bins)).ravel(), (frac / m).ravel(), k * (bins + 1))
        ).reshape(k, bins + 1)
        stay = np.maximum(1 - f[:, 0], 1e-9)
        u = np.zeros((len(h), bins))
        u[:, 0] = 1 / stay
        for x in range(1, bins):
            u[:, x] = (f[:, 1 : x + 1] * u[:, x - 1 :: -1]).sum(axis=1) / stay
        cdf = np.cumsum(u, axis=1)
        cdf /= cdf[:, -1:]
        draw = np.random.default_rng(seed).random((len(h), m))
        # the cell of each draw: how many of its row's cdf values lie below it (one flat search)
        off = (np.arange(len(h)) * 2.0)[:, None]
        cell = (
            np.searchsorted((cdf + off).ravel(), (draw + off).ravel()).reshape(draw.shape)
            - (np.arange(len(h)) * bins)[:, None]
        )
        w[live] = np.minimum(cell, bins - 1) * h[:, None]
    return d_l.astype(float) + w, d_p.astype(float) + w


CURVE_BLOCK = 1024  # series per block of `fill_curves`


def periodic_safety_stock(d_l: np.ndarray, d_p: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Safety stock of an (R, s, S) policy: the stock expected just before an order lands, s - E[U]
    - E[D_L], U the undershoot (how far below s the position is at a review that orders: the
    steady-state W plus a review's demand, less Q, where that crosses). For (R, S) (Q = 0) every
    review orders and it is S - E[D_{L+R}]; s - E[D_{L+R}], the continuous-review convention,
    would call most periodic buffers negative."""
    x_l, x_p = periodic_samples(d_l, d_p, q)
    over = (x_p - d_l) - np.asarray(q, dtype=float)[:, None]  # W + D_R - Q per path
    crossing = (over >= 0).mean(axis=1)
    undershoot = np.where(crossing > 0, np.maximum(over, 0).mean(axis=1) / np.maximum(crossing, 1e-12), 0.0)
    return np.asarray(s, dtype=float) - undershoot - d_l.mean(axis=1)


def undershoot_estimate(review_demand: np.ndarray, q: np.ndarray) -> np.ndarray:
    """E[U] without samples: a review's demand less Q when most reviews order, else about half a
    review's demand (the renewal residual of a steady stream)."""
    review_demand = np.asarray(review_demand, dtype=float)
    return np.maximum(review_demand - np.asarray(q, dtype=float), review_demand / 2)


def from_samples(
    d_p: np.ndarray,
    target: np.ndarray,
    kind: str,
    q: np.ndarray,
    cycle_demand: np.ndarray,
    d_l: np.ndarray | None = None,
) -> np.ndarray:
    """Reorder point per series from samples [series, paths] of demand over the protection interval
    (`d_l`: over the lead time on the same paths, for the periodic-review fill model)."""
    target = np.broadcast_to(np.asarray(target, dtype=float), (d_p.shape[0],))
    if kind == "cycle_service":
        x = np.sort(d_p.astype(float), axis=1)
        idx = np.clip(np.ceil(target * x.shape[1]).astype(int) - 1, 0, x.shape[1] - 1)
        return x[np.arange(len(x)), idx]
    cand, fill = fill_curves(d_p, q, cycle_demand, d_l)
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
    d_l: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder points that reach an aggregate fill rate (units served / units demanded, over all
    series) at the least inventory value, each series' own fill rate kept within [lo, hi].

    Lagrangian allocation: for a price lambda on a unit served, each series takes the reorder
    point that maximises lambda x demand x fill(s) - unit cost x s; lambda is bisected until the
    demand-weighted fill reaches `aggregate`. Cheap, steady items end up near their ceiling and
    dear, erratic ones near their floor, which is where a point of service costs least and most.
    Returns the reorder points and the fill rate planned for each series.
    """
    cand, fill = fill_curves(d_p, q, cycle_demand, d_l)
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
