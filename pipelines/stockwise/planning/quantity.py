"""Order quantities: EOQ, the ordering rule of each policy, packs and MOQ.

Policies, all reviewed on the supplier's order days (so R is the gap between them):
- `rsS`  (R, s, S), the default: when the position is at or below the reorder point s, order up
  to S = s + Q, with Q EOQ-aware (between one review period and `max_cycle_days` of demand);
- `RS`   order-up-to: every review, order up to S;
- `sQ`   when at or below s, order whole multiples of a fixed Q;
- `minmax` the ERP's static min/max (s = min, S = max);
- `days_of_cover` s and S as days of forecast demand beyond the lead time.

Pack rounding rule (`rounding`):
- `up`: always whole packs up (never short of the computed need);
- `nearest` (default): to the nearest whole pack, except that rounding down is only allowed
  when the position after ordering still reaches the reorder point s, so rounding never eats
  into safety stock. Then at least the MOQ, itself taken up to whole packs.
"""

from __future__ import annotations

import numpy as np

POLICIES = ("rsS", "RS", "sQ", "minmax", "days_of_cover")
ROUNDING = ("up", "nearest")


def eoq(
    annual_demand: np.ndarray | float, order_cost: np.ndarray | float, holding_cost: np.ndarray | float
) -> np.ndarray:
    """Economic order quantity sqrt(2 D K / h): D units a year, K per order, h per unit-year."""
    d = np.maximum(np.asarray(annual_demand, dtype=float), 0.0)
    h = np.maximum(np.asarray(holding_cost, dtype=float), 1e-12)
    return np.sqrt(2.0 * d * np.asarray(order_cost, dtype=float) / h)


def round_order(
    raw: np.ndarray,
    pack: np.ndarray,
    moq: np.ndarray,
    position: np.ndarray | None = None,
    reorder_point: np.ndarray | None = None,
    rounding: str = "nearest",
) -> np.ndarray:
    """Whole packs (see the module's rule), at least the MOQ; zero when nothing is needed."""
    if rounding not in ROUNDING:
        raise ValueError(f"rounding must be one of {ROUNDING}, not {rounding!r}")
    raw = np.asarray(raw, dtype=float)
    pack = np.maximum(np.asarray(pack, dtype=float), 1.0)
    need = np.maximum(raw, 0.0)
    positive = raw > 1e-6  # a need below a millionth of a unit is float noise, not a need
    packs = np.maximum(np.ceil(need / pack - 1e-9), 1.0)
    if rounding == "nearest" and position is not None and reorder_point is not None:
        down = np.floor(need / pack + 1e-9)
        frac = need / pack - down
        keeps_cover = np.asarray(position, dtype=float) + down * pack >= np.asarray(reorder_point, dtype=float)
        packs = np.where((frac < 0.5) & keeps_cover & (down >= 1), down, packs)
    min_packs = np.ceil(np.maximum(np.asarray(moq, dtype=float), 0.0) / pack - 1e-9)
    return np.where(positive, np.maximum(packs, min_packs) * pack, 0.0) + 0.0  # + 0.0: no negative zeros


def order_quantity(
    position: np.ndarray,
    s: np.ndarray,
    S: np.ndarray,
    q: np.ndarray,
    policy: str,
    pack: np.ndarray,
    moq: np.ndarray,
    rounding: str = "nearest",
) -> np.ndarray:
    """What to order now, on a review day, given the inventory position and the policy's levels."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    position = np.asarray(position, dtype=float)
    if policy == "RS":
        raw = S - position
        return round_order(raw, pack, moq, position, S - np.maximum(pack, 1), rounding)
    due = position <= s
    if policy == "sQ":
        qq = np.maximum(np.ceil(np.maximum(q, 1) / np.maximum(pack, 1)) * np.maximum(pack, 1), 1)
        n = np.floor((s - position) / qq) + 1
        return np.where(due, np.maximum(n * qq, round_order(np.ones_like(position), pack, moq, rounding="up")), 0.0)
    raw = np.where(due, S - position, 0.0)
    return round_order(raw, pack, moq, position, s, rounding)


def cycle_quantity(
    mu_d: np.ndarray,
    unit_cost: np.ndarray,
    review_days: np.ndarray,
    order_cost: float,
    holding_rate: float,
    max_cycle_days: float,
    pack: np.ndarray,
    moq: np.ndarray,
) -> np.ndarray:
    """Q for `rsS`: the EOQ, at least a review period's demand, at most `max_cycle_days` of it,
    at least one pack and the MOQ."""
    q = eoq(mu_d * 365.0, order_cost, holding_rate * np.maximum(unit_cost, 1e-6))
    q = np.clip(q, mu_d * review_days, np.maximum(mu_d * max_cycle_days, mu_d * review_days))
    return np.maximum.reduce([q, np.maximum(pack, 1), np.maximum(moq, 0)])
