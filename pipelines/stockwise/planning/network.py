"""Two-echelon planning: stores replenished from a distribution centre (DC), the DC from suppliers.

Where the safety stock sits decides how much the chain needs for the same shelf availability. A
stochastic-service model, all from sample paths of the forecast:

- **The DC's demand is the stores' replenishment orders, not their sales.** Each store's daily
  demand paths run through the store's own (R, s, S) rule, on its truck days and in its store
  packs, each path starting from a position drawn where such a store spends its time (between
  s and S: the levels hold until the next plan, whatever today's position); the orders are
  summed per DC over the DC's protection interval (a supplier lead time drawn per path, plus
  the DC's review gap). Lumpy, synchronised store orders make the DC's demand more variable
  than the sum of the stores' sales; pooling many stores makes it less variable than any one.
- **A DC that is short makes stores wait.** For a DC reorder point, the same paths give the DC's
  fill rate (the periodic-review model of `levels.fill_curves`) and how long a unit short waits
  (until the DC's receipt: uniform over the stockout, whose length is the backlog that receipt
  meets over the DC's demand rate), then the next truck day. That wait, drawn per path, joins
  each store's transfer lead time in the store's protection interval.
- **Placement.** For each DC fill rate on a grid, the DC's reorder point, the stores' reorder
  points for their own fill-rate targets with that wait, and the network's expected on-hand
  value; per sku and DC the grid point with the least value wins. Cheap pooled protection at the
  DC against short store lead times on one side; a lean DC and stores that carry the wait on the
  other.
- **Execution** (`transfer_orders`, `allocate`, `dc_orders`): stores order on their truck days
  from the levels; what they ask for is capped by the DC's stock (fair shares in whole store
  packs, so a DC shortage propagates instead of being invented); the DC orders from its supplier
  on its order days from its position after today's transfers.

A store without an upstream DC is planned by the single-echelon engine, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stockwise.planning import levels
from stockwise.planning.demand import PathParams, daily_paths, exposed_days, sample_lead_times
from stockwise.planning.quantity import order_quantity
from stockwise.planning.supplier import days_to_next_order, mean_review_days

DC_FILL_GRID = (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.995)


@dataclass(frozen=True)
class NetworkParams:
    dc_fill_grid: tuple[float, ...] = DC_FILL_GRID
    paths: PathParams = field(default_factory=PathParams)
    chunk: int = 256  # DC rows per block of the order-stream simulation (bounds memory)
    # the review gap in each protection interval: 'mean', the average gap between truck or
    # order days (the default: the levels hold on every review day, so the gate's replay of them
    # over weeks, and docs/benchmarks.md's network bench, meet the stores' targets), or 'next',
    # from today to the next one (right for today's order alone: held fixed, a Wednesday's plan
    # with a one-day gap under-protects the three-day gap before Monday; the default demo's gate
    # replay then gave 93.0% store fill for 95%, against 96.8% with 'mean')
    review: str = "mean"

    def __post_init__(self) -> None:
        if self.review not in ("next", "mean"):
            raise ValueError(f"review must be 'next' or 'mean', not {self.review!r}")


def review_days(mask: np.ndarray, weekday: int, how: str) -> np.ndarray:
    return days_to_next_order(mask, weekday) if how == "next" else mean_review_days(mask)


@dataclass
class Echelon:
    """One echelon's rows (sku x location): lead time from its source, review calendar, money,
    packs and today's inventory position (on hand + on order - backorders). Stores also carry
    their demand forecast, fill-rate target and the row of the DC that serves them."""

    L: np.ndarray
    sL: np.ndarray
    order_mask: np.ndarray  # [rows, 7] bool, Monday first: truck days (stores), order days (DC)
    unit_cost: np.ndarray
    pack: np.ndarray
    moq: np.ndarray
    q: np.ndarray  # cycle quantity
    position: np.ndarray
    mu: np.ndarray | None = None  # [rows, days] daily demand forecast (stores)
    sd: np.ndarray | None = None
    target: np.ndarray | None = None  # fill-rate target (stores)
    parent: np.ndarray | None = None  # the DC row serving each store row


@dataclass
class NetworkLevels:
    """Levels per row of each echelon and what the placement weighed."""

    store_s: np.ndarray
    store_S: np.ndarray
    store_wait: np.ndarray  # expected extra days a store order waits at the DC
    store_value: np.ndarray  # expected on-hand value
    dc_s: np.ndarray
    dc_S: np.ndarray
    dc_fill: np.ndarray  # the fill rate the DC is planned for (the placement's choice)
    dc_rate: np.ndarray  # the DC's daily demand (the stores' orders)
    dc_mean: np.ndarray  # mean demand over the DC's protection interval
    dc_sigma: np.ndarray  # its spread
    dc_sales_sigma: np.ndarray  # the spread of the stores' sales over the same interval
    dc_value: np.ndarray
    grid_value: np.ndarray  # [dc rows, grid] network on-hand value at each DC fill rate


def _expected_on_hand(x_l: np.ndarray, x_p: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Average on hand under periodic review: the position after a review, S - W in its steady
    state (`levels.periodic_samples`), less the demand until the receipt that review's order
    brings (on the shelf just after it lands), halfway to the next one and until it (just
    before), weighted 1/4, 1/2, 1/4 (the trapezoid over the two ends alone overstates a stock
    that runs out between them)."""
    left = [np.maximum(S[:, None] - x, 0).mean(axis=1) for x in (x_l, (x_l + x_p) / 2, x_p)]
    return 0.25 * left[0] + 0.5 * left[1] + 0.25 * left[2]


def _cycle_demand(rate: np.ndarray, q: np.ndarray, review: np.ndarray) -> np.ndarray:
    return np.maximum(q, rate * review)


def store_orders(
    st: Echelon,
    rows: np.ndarray,
    demand: np.ndarray,
    s: np.ndarray,
    S: np.ndarray,
    days: int,
    weekday: int,
    start: np.ndarray,
) -> np.ndarray:
    """The orders [rows, paths, days] store `rows` place over the next `days` days: their demand
    paths [rows, paths, >= days] run through their (R, s, S) rule from the positions `start`
    [rows, paths], on their truck days, in store packs."""
    n, p = demand.shape[:2]
    ip = np.asarray(start, dtype=float).copy()
    out = np.zeros((n, p, days), dtype=np.float32)
    flat = lambda x: np.repeat(np.asarray(x, dtype=float), p)  # noqa: E731
    s_f, S_f, q_f, pack_f, moq_f = flat(s), flat(S), flat(st.q[rows]), flat(st.pack[rows]), flat(st.moq[rows])
    for t in range(days):
        ip -= demand[:, :, t]
        review = st.order_mask[rows, (weekday + 1 + t) % 7]
        if not review.any():
            continue
        qty = order_quantity(ip.ravel(), s_f, S_f, q_f, "rsS", pack_f, moq_f).reshape(n, p)
        qty[~review] = 0.0
        ip += qty
        out[:, :, t] = qty
    return out


def _weighted_pick(weights: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row of `u` [rows, k], path indices drawn from its group's weights [groups, paths]."""
    g, p = weights.shape
    tot = weights.sum(axis=1, keepdims=True)
    cum = np.cumsum(np.where(tot > 0, weights / np.where(tot > 0, tot, 1), 1.0 / p), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(g)[:, None]).ravel()
    idx = np.searchsorted(flat, (u + group[:, None]).ravel(), side="left").reshape(u.shape)
    return np.clip(idx - group[:, None] * p, 0, p - 1)


MAX_WAIT_DAYS = 60  # a store's wait at the DC is capped here (a DC that far behind is an exception)


def plan_levels(st: Echelon, dc: Echelon, weekday: int, params: NetworkParams = NetworkParams()) -> NetworkLevels:
    """Store and DC levels placed across the two echelons for the stores' fill-rate targets at the
    least network on-hand value (see the module's model). `weekday`: today's, Monday = 0.

    Works in blocks of DC rows with their stores; each block draws its stores' daily demand paths
    once and uses them for the stores' order stream (the DC's demand) and for the stores' own
    protection intervals at every DC fill rate (common random numbers across the grid)."""
    assert st.mu is not None and st.sd is not None and st.target is not None and st.parent is not None
    parent = np.asarray(st.parent, dtype=int)
    n_st, n_dc = len(st.position), len(dc.position)
    grid = np.asarray(params.dc_fill_grid, dtype=float)
    R_st = review_days(st.order_mask, weekday, params.review)
    R_dc = review_days(dc.order_mask, weekday, params.review)
    rate_st = st.mu.mean(axis=1) if st.mu.shape[1] else np.zeros(n_st)
    rate_dc = np.bincount(parent, weights=rate_st, minlength=n_dc)
    out = {
        k: np.zeros(n)
        for k, n in (
            ("store_s", n_st), ("store_wait", n_st), ("store_value", n_st), ("dc_s", n_dc), ("dc_fill", n_dc),
            ("dc_mean", n_dc), ("dc_sigma", n_dc), ("dc_sales_sigma", n_dc), ("dc_value", n_dc),
        )
    }  # fmt: skip
    grid_value = np.zeros((n_dc, len(grid)))
    order = np.argsort(parent, kind="stable")
    bounds = np.searchsorted(parent[order], np.arange(0, n_dc + params.chunk, params.chunk))
    for c, a in enumerate(range(0, n_dc, params.chunk)):
        rows = order[bounds[c] : bounds[c + 1]]
        dcs = np.arange(a, min(a + params.chunk, n_dc))
        res = _plan_block(st, dc, rows, dcs, parent[rows] - a, R_st[rows], R_dc[dcs], rate_st[rows], rate_dc[dcs],
                          weekday, grid, params, c)  # fmt: skip
        for k, v in res.items():
            if k == "grid_value":
                grid_value[dcs] = v
            elif k.startswith("store_"):
                out[k][rows] = v
            else:
                out[k][dcs] = v
    return NetworkLevels(
        store_S=out["store_s"] + st.q,
        dc_S=out["dc_s"] + dc.q,
        dc_rate=rate_dc,
        grid_value=grid_value,
        **out,
    )


def _plan_block(st, dc, rows, dcs, par, R_st, R_dc, rate_st, rate_dc, weekday, grid, params, block) -> dict:
    """`plan_levels` for DC rows `dcs` and their store `rows` (`par`: each store's DC, 0-based in the block)."""
    pp = params.paths
    P, k_st, k_dc = pp.n_paths, len(rows), len(dcs)
    if not k_st:
        return {}
    rng = np.random.default_rng([pp.seed, block])
    lead_st = sample_lead_times(st.L[rows], st.sL[rows], P, rng)
    lead_dc = sample_lead_times(dc.L[dcs], dc.sL[dcs], P, rng)
    u_late, u_pick, u_wait, u_truck, u_start = (rng.random((k_st, P)) for _ in range(5))
    need_dc = lead_dc + R_dc[:, None]
    q_st, q_dc = st.q[rows], dc.q[dcs]
    max_wait = np.minimum(np.ceil(np.maximum(q_dc, 1) / np.maximum(rate_dc, 1e-9)), MAX_WAIT_DAYS)[par] + R_st
    length = int(max(need_dc.max(), (lead_st.max(axis=1) + R_st + max_wait).max()))
    demand = daily_paths(st.mu[rows], st.sd[rows], length, pp, rng)
    cum = np.concatenate([np.zeros((k_st, P, 1), np.float32), np.cumsum(demand, axis=2)], axis=2)
    r_i, p_i = np.arange(k_st)[:, None], np.arange(P)[None, :]

    def interval(lead: np.ndarray, review: bool = True) -> np.ndarray:
        return cum[r_i, p_i, np.minimum(exposed_days(lead) + (R_st[:, None] if review else 0), length)]

    cyc_st = _cycle_demand(rate_st, q_st, R_st)
    cyc_dc = _cycle_demand(rate_dc, q_dc, R_dc)
    target = st.target[rows]
    # stores with no wait at the DC: the levels whose orders make the DC's demand
    s0 = levels.from_samples(interval(lead_st), target, "fill_rate", q_st, cyc_st, interval(lead_st, False))
    # each path starts where an (R, s, S) store's position spends its time: anywhere in (s, S]
    # (the levels hold for the days until the next plan, not only from today's position)
    start = s0[:, None] + u_start * q_st[:, None]
    orders = store_orders(st, rows, demand, s0, s0 + q_st, int(need_dc.max()), weekday, start)
    agg = np.zeros((k_dc, P, orders.shape[2]), dtype=np.float32)
    np.add.at(agg, par, orders)
    cum_dc = np.concatenate([np.zeros((k_dc, P, 1), np.float32), np.cumsum(agg, axis=2)], axis=2)
    expo_dc = exposed_days(lead_dc)
    X_L = cum_dc[np.arange(k_dc)[:, None], np.arange(P)[None, :], expo_dc]
    X = cum_dc[np.arange(k_dc)[:, None], np.arange(P)[None, :], expo_dc + R_dc[:, None]]
    # the spread of the same interval's sales, for the reasons (how much lumpier the orders are)
    sales = np.zeros((k_dc, P))
    np.add.at(sales, par, cum[r_i, p_i, np.minimum(expo_dc[par] + R_dc[par][:, None], length)])
    del orders, agg, cum_dc

    cand, fill = levels.fill_curves(X, q_dc, cyc_dc, X_L)
    xl_dc, xp_dc = levels.periodic_samples(X_L, X, q_dc)  # the DC's position after a review, as the curves drew it
    G = len(grid)
    s_st_g, v_st_g, wait_g = np.zeros((G, k_st)), np.zeros((G, k_st)), np.zeros((G, k_st))
    s_dc_g, f_dc_g, v_dc_g = np.zeros((G, k_dc)), np.zeros((G, k_dc)), np.zeros((G, k_dc))
    rows_dc = np.arange(k_dc)
    for g, level in enumerate(grid):
        s_dc = levels.first_reaching(cand, fill, np.full(k_dc, level))
        j = np.clip((cand < s_dc[:, None] - 1e-9).sum(axis=1), 0, cand.shape[1] - 1)
        f_dc = fill[rows_dc, j]
        up_to = (s_dc + q_dc)[:, None]
        excess = np.maximum(xp_dc - up_to, 0) - np.maximum(xl_dc - up_to, 0)  # units short per path and review
        # a unit short is likelier on a path with a larger shortfall in the review period; it waits
        # until the DC's receipt, uniform over the stockout, whose length is the backlog the receipt
        # meets ((D_{L+R} + W - S)^+, which may have built up over several review periods) over
        # the DC's demand rate; then for the store's next truck day
        pick = _weighted_pick(excess, par, u_pick)
        days_short = np.maximum(xp_dc - up_to, 0)[par[:, None], pick] / np.maximum(rate_dc[par], 1e-9)[:, None]
        late = u_late < (1 - f_dc[par])[:, None]
        wait = np.where(late, np.ceil(u_wait * days_short) + np.floor(u_truck * R_st[:, None]), 0.0)
        wait = np.minimum(wait, max_wait[:, None]).astype(int)
        d_p, d_l = interval(lead_st + wait), interval(lead_st + wait, False)
        s_st = levels.from_samples(d_p, target, "fill_rate", q_st, cyc_st, d_l)
        s_st_g[g], s_dc_g[g], f_dc_g[g], wait_g[g] = s_st, s_dc, f_dc, wait.mean(axis=1)
        on_hand_st = _expected_on_hand(*levels.periodic_samples(d_l, d_p, q_st, seed=g), s_st + q_st)
        v_st_g[g] = st.unit_cost[rows] * on_hand_st
        v_dc_g[g] = dc.unit_cost[dcs] * _expected_on_hand(xl_dc, xp_dc, s_dc + q_dc)  # the curves' own draw
    total = v_dc_g + np.stack([np.bincount(par, weights=v, minlength=k_dc) for v in v_st_g])
    best = total.argmin(axis=0)
    bs, r = best[par], np.arange(k_st)
    return {
        "store_s": s_st_g[bs, r],
        "store_wait": wait_g[bs, r],
        "store_value": v_st_g[bs, r],
        "dc_s": s_dc_g[best, rows_dc],
        "dc_fill": f_dc_g[best, rows_dc],
        "dc_mean": X.mean(axis=1),
        "dc_sigma": X.std(axis=1),
        "dc_sales_sigma": sales.std(axis=1),
        "dc_value": v_dc_g[best, rows_dc],
        "grid_value": total.T,
    }


def allocate(requested: np.ndarray, group: np.ndarray, available: np.ndarray, pack: np.ndarray) -> np.ndarray:
    """Share each group's (DC row's) available stock among its rows' requests: everything when it
    covers them; otherwise fair shares (in proportion to the request) in whole packs, the packs
    left over to the largest remainders. Never more than requested, never more than available."""
    req = np.maximum(np.asarray(requested, dtype=float), 0)
    group = np.asarray(group, dtype=int)
    avail = np.maximum(np.asarray(available, dtype=float), 0)
    pack = np.maximum(np.asarray(pack, dtype=float), 1)
    asked = np.bincount(group, weights=req, minlength=len(avail))
    short = asked > avail + 1e-9
    share = np.where(short, avail / np.maximum(asked, 1e-12), 1.0)[group]
    raw = req * share
    alloc = np.where(short[group], np.floor(raw / pack + 1e-9) * pack, req)
    # the packs left over: one more each to the rows with the largest remainders, while they fit
    # (again, until none fits: rows of one group may differ in pack size)
    left = avail - np.bincount(group, weights=alloc, minlength=len(avail))
    cand = np.flatnonzero(short[group])
    cand = cand[np.lexsort((-(raw - alloc)[cand], group[cand]))]
    while len(cand):
        took = []
        for i in cand:
            if alloc[i] + pack[i] <= req[i] + 1e-9 and left[group[i]] >= pack[i] - 1e-9:
                alloc[i] += pack[i]
                left[group[i]] -= pack[i]
                took.append(i)
        cand = np.array(took, dtype=int)
    return alloc


def transfer_orders(
    st: Echelon, s: np.ndarray, S: np.ndarray, weekday: int, dc_available: np.ndarray, rounding: str = "nearest"
) -> tuple[np.ndarray, np.ndarray]:
    """Today's store transfer requests (on truck days, store position at or below s: up to S in
    store packs) and what the DC can ship of them. Returns (shipped, requested)."""
    assert st.parent is not None
    req = order_quantity(st.position, s, S, st.q, "rsS", st.pack, st.moq, rounding)
    demand = st.mu.mean(axis=1) > 0 if st.mu is not None and st.mu.shape[1] else np.ones(len(req), dtype=bool)
    req = np.where(st.order_mask[:, weekday] & demand, req, 0.0)  # nothing for a line nobody buys
    return allocate(req, st.parent, dc_available, st.pack), req


def dc_orders(
    dc: Echelon, s: np.ndarray, S: np.ndarray, weekday: int, requested: np.ndarray, rate: np.ndarray | None = None
) -> np.ndarray:
    """Today's DC purchase orders: on its supplier's order days, from its position after today's
    store requests (those shipped leave its stock, those it could not ship are owed); none for an
    item its stores are not expected to sell (`rate`, the DC's daily demand, zero) unless it owes."""
    ip = dc.position - requested
    qty = order_quantity(ip, s, S, dc.q, "rsS", dc.pack, dc.moq)
    needed = np.ones(len(qty), dtype=bool) if rate is None else (np.asarray(rate) > 0) | (ip < 0)
    return np.where(dc.order_mask[:, weekday] & needed, qty, 0.0)
