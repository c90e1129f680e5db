"""Service targets per item, assigned by segment: ABC by value, XYZ by variability.

A items (the few that carry most of the money) get a higher target, C items a lower one; erratic
Z items give up a little, because each point of service costs them most. Offsets apply around
the run's target and are clamped, so a what-if at 90% or 99% moves every segment with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

KEYS = ["sku", "location_id"]
KINDS = ("fill_rate", "cycle_service")


@dataclass(frozen=True)
class TargetParams:
    kind: str = "fill_rate"  # 'fill_rate' (Type 2: share of demand served from stock) or 'cycle_service'
    # 'optimized': the run's target is an aggregate fill rate over all series, reached at the least
    # inventory value, each series kept within its segment target - `allowance` and the ceiling;
    # 'segment': every series gets its segment's target
    mode: str = "optimized"
    allowance: float = 0.05
    abc_cuts: tuple[float, float] = (0.8, 0.95)  # cumulative share of value closing A and B
    xyz_cuts: tuple[float, float] = (0.5, 1.0)  # coefficient of variation of weekly demand closing X and Y
    offsets: dict[str, float] = field(
        default_factory=lambda: {"A": 0.01, "B": 0.0, "C": -0.02, "X": 0.0, "Y": 0.0, "Z": -0.01}
    )
    floor: float = 0.80
    ceiling: float = 0.995

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"target kind must be one of {KINDS}, not {self.kind!r}")
        if self.mode not in ("optimized", "segment"):
            raise ValueError(f"target mode must be 'optimized' or 'segment', not {self.mode!r}")


def segments(
    history: pd.DataFrame, unit_cost: pd.Series | None = None, params: TargetParams = TargetParams()
) -> pd.DataFrame:
    """ABC/XYZ class per sku x location from daily demand history (`date`, keys, `qty`).

    ABC: by demand value, cumulative shares `abc_cuts`; XYZ: by the coefficient of variation of
    weekly demand. `unit_cost` (indexed by sku) turns units into value; without it units count.
    """
    h = history.copy()
    h["week"] = pd.to_datetime(h["date"]).dt.to_period("W")
    weekly = h.groupby(KEYS + ["week"], as_index=False)["qty"].sum()
    weeks = max(weekly["week"].nunique(), 1)
    g = weekly.groupby(KEYS)["qty"]
    out = pd.DataFrame({"units": g.sum(), "sum_sq": g.apply(lambda s: float((s**2).sum()))}).reset_index()
    mean = out["units"] / weeks  # weeks without a row had no demand
    var = np.maximum(out["sum_sq"] / weeks - mean**2, 0.0)
    out["cv"] = np.where(mean > 0, np.sqrt(var) / np.where(mean > 0, mean, 1), np.inf)
    cost = out["sku"].map(unit_cost).fillna(1.0) if unit_cost is not None else 1.0
    out["value"] = out["units"] * cost
    out = out.sort_values("value", ascending=False, kind="stable")
    share = out["value"].cumsum() / max(out["value"].sum(), 1e-12)
    a, b = params.abc_cuts
    # the first item to cross a cut still belongs to the class below it
    prev = share.shift(fill_value=0.0)
    out["abc"] = np.where(prev < a, "A", np.where(prev < b, "B", "C"))
    x, y = params.xyz_cuts
    out["xyz"] = np.where(out["cv"] <= x, "X", np.where(out["cv"] <= y, "Y", "Z"))
    out["segment"] = out["abc"] + out["xyz"]
    return out[KEYS + ["abc", "xyz", "segment", "value", "cv"]].reset_index(drop=True)


def assign(seg: pd.DataFrame, base: float, params: TargetParams = TargetParams()) -> np.ndarray:
    """Target per row of `seg` (with `abc`, `xyz`): base + class offsets, clamped."""
    off = seg["abc"].map(params.offsets).fillna(0.0) + seg["xyz"].map(params.offsets).fillna(0.0)
    return np.clip(base + off.to_numpy(dtype=float), params.floor, params.ceiling)
