"""The policy engine: from forecasts, positions and master data to a reorder plan with reasons.

Pure: frames and a frozen config in, a frame out. Steps, one module each:
position (on hand + on order - backorders) -> lead times learned from receipts (leadtime) ->
ABC/XYZ segments and service targets (targets, overrides) -> demand over the protection interval
from sample paths of the forecast or the normal approximation (demand) -> reorder point for the
target (levels) -> EOQ-aware cycle quantity and the policy's order rule with packs and MOQ
(quantity) -> supplier order days and minimum order value (supplier) -> budget (budget) ->
fixed-quantity overrides -> a reason per line (reasons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from stockwise.planning import budget as budget_mod
from stockwise.planning import leadtime, levels, overrides, supplier
from stockwise.planning.demand import PathParams, normal_interval, sample_interval
from stockwise.planning.position import inventory_position
from stockwise.planning.quantity import POLICIES, cycle_quantity, order_quantity
from stockwise.planning.reasons import reasons
from stockwise.planning.targets import TargetParams, assign, segments

KEYS = ["sku", "location_id"]
METHODS = ("paths", "normal")


@dataclass(frozen=True)
class PlanConfig:
    target: float = 0.95
    targets: TargetParams = field(default_factory=TargetParams)
    policy: str = "rsS"
    method: str = "paths"  # 'paths' (sample paths of the forecast) or 'normal'
    rounding: str = "nearest"
    order_cost: float = 1.0  # per order line: receiving and handling one more line (store replenishment)
    holding_rate: float = 0.25  # per year, as a share of unit cost
    max_cycle_days: float = 28.0
    cover_days: tuple[float, float] = (7.0, 21.0)  # days_of_cover policy: reorder at, order up to
    budget: float | None = None
    paths: PathParams = field(default_factory=PathParams)
    lead_times: leadtime.LeadTimeParams = field(default_factory=leadtime.LeadTimeParams)
    segment_days: int = 365

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {self.policy!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        if not 0.5 <= self.target < 1:
            raise ValueError(f"target must be in [0.5, 1), not {self.target}")


@dataclass(frozen=True)
class Levels:
    s: np.ndarray  # reorder point
    S: np.ndarray  # order-up-to level
    q: np.ndarray  # cycle quantity
    mu_d: np.ndarray
    sd_d: np.ndarray
    mean_p: np.ndarray  # expected demand over the protection interval
    sigma_p: np.ndarray
    d_p: np.ndarray | None = None  # its samples, when drawn
    d_l: np.ndarray | None = None  # the lead time's demand on the same paths
    planned_fill: np.ndarray | None = None  # the fill rate each series is planned for (fill-rate targets)


def compute_levels(
    mu: np.ndarray,
    sd: np.ndarray,
    L: np.ndarray,
    sL: np.ndarray,
    R: np.ndarray,
    target: np.ndarray | float,
    unit_cost: np.ndarray,
    pack: np.ndarray,
    moq: np.ndarray,
    cfg: PlanConfig,
    d_p: np.ndarray | None = None,
    rules: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    aggregate: float | None = None,
    d_l: np.ndarray | None = None,
) -> Levels:
    """Reorder point, order-up-to level and cycle quantity per series from the forecast's daily
    mean and spread [series, days], lead times and review periods. `d_p`: samples of demand over
    the protection interval already drawn (what-ifs on the target reuse them), `d_l` over the lead
    time on the same paths (the periodic-review fill model of (R, s, S) and (R, S) needs both)."""
    mu_d = mu.mean(axis=1) if mu.shape[1] else np.zeros(len(mu))
    sd_d = np.sqrt((sd**2).mean(axis=1)) if sd.shape[1] else np.zeros(len(mu))
    mean_p, sigma_p = normal_interval(mu_d, sd_d, L, sL, R.astype(float))
    q = cycle_quantity(mu_d, unit_cost, R, cfg.order_cost, cfg.holding_rate, cfg.max_cycle_days, pack, moq)
    q_cycle = q if cfg.policy in ("rsS", "sQ") else np.maximum(mu_d * R, 1e-9)
    cycle_demand = np.maximum(q_cycle, mu_d * R)
    target = np.broadcast_to(np.asarray(target, dtype=float), mu_d.shape)
    planned = None
    if cfg.method == "paths":
        if d_p is None:
            d_l, d_p = sample_interval(mu, sd, L, sL, R, cfg.paths)
        mean_p = d_p.mean(axis=1).astype(float)
        # periodic review: the position after a review (an (R, S) policy orders at every one: Q = 0)
        periodic = d_l if cfg.policy in ("rsS", "RS") else None
        if cfg.policy == "RS" and periodic is not None:
            q_cycle = np.zeros_like(q_cycle)
        if cfg.targets.kind == "fill_rate" and cfg.targets.mode == "optimized":
            # the segment targets become a band; planner-fixed targets stay exact
            fx = np.zeros(len(target), dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
            lo = np.where(fx, target, np.maximum(target - cfg.targets.allowance, cfg.targets.floor))
            hi = np.where(fx, target, cfg.targets.ceiling)
            s, planned = levels.optimize_fill(
                d_p, q_cycle, cycle_demand, mu_d, unit_cost, cfg.target if aggregate is None else aggregate, lo, hi,
                periodic,
            )  # fmt: skip
            if fx.any():
                s[fx] = levels.from_samples(
                    d_p[fx], target[fx], "fill_rate", q_cycle[fx], cycle_demand[fx],
                    None if periodic is None else periodic[fx],
                )  # fmt: skip
                planned[fx] = target[fx]
        else:
            s = levels.from_samples(d_p, target, cfg.targets.kind, q_cycle, cycle_demand, periodic)
    else:
        s = levels.from_normal(mean_p, sigma_p, target, cfg.targets.kind, q_cycle, cycle_demand)
    if cfg.policy in ("rsS", "sQ"):
        S = s + q
    elif cfg.policy == "RS":
        S = s
    elif cfg.policy == "days_of_cover":
        s, S = mu_d * (L + cfg.cover_days[0]), mu_d * (L + cfg.cover_days[1])
    else:  # minmax: the ERP's own rules
        if rules is None:
            raise ValueError("policy 'minmax' needs the ERP's reorder rules")
        s, S = rules[0], rules[1]
    return Levels(s, S, q, mu_d, sd_d, mean_p, sigma_p, d_p, d_l, planned)


@dataclass
class Inputs:
    forecast: pd.DataFrame  # date, sku, location_id, mean, sigma, method
    items: pd.DataFrame
    suppliers: pd.DataFrame
    stock: pd.DataFrame
    open_orders: pd.DataFrame
    sales: pd.DataFrame | None = None  # history for the segments (date, sku, location_id, qty)
    receipts: pd.DataFrame | None = None
    overrides: pd.DataFrame | None = None
    reorder_rules: pd.DataFrame | None = None  # the ERP's min/max (policy 'minmax')
    suspect_stock: pd.DataFrame | None = None  # sku, location_id, reason: book stock not trusted (open phantom stock)
    sourcing: pd.DataFrame | None = None  # which location serves which (stores from a DC: `network_plan`)
    transfers: pd.DataFrame | None = None  # DC -> store transfers shipped (their lead times are learned)


def forecast_matrices(forecast: pd.DataFrame, ds: date) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, pd.Series]:
    fc = forecast[forecast["date"] > pd.Timestamp(ds)]
    mean = fc.pivot_table(index=KEYS, columns="date", values="mean", aggfunc="first").sort_index()
    sigma = fc.pivot_table(index=KEYS, columns="date", values="sigma", aggfunc="first").reindex_like(mean)
    method = fc.groupby(KEYS)["method"].first().reindex(mean.index)
    keys = mean.index.to_frame(index=False)
    mu = np.nan_to_num(mean.to_numpy(dtype=float), nan=0.0).clip(min=0)
    sd = np.nan_to_num(sigma.to_numpy(dtype=float), nan=0.0).clip(min=0)
    return keys, mu, sd, method.reset_index(drop=True)


MASTER_DATA = {"unit_cost": "unit cost", "pack_size": "pack size", "supplier_id": "supplier"}


def missing_master_data(df: pd.DataFrame, suppliers: pd.DataFrame) -> list[str]:
    """Per line, the master data it lacks to be ordered ("" when complete): unit cost, pack size,
    supplier (or one the supplier master does not know), the supplier's lead time."""
    miss = pd.DataFrame(
        {label: df[col].isna() if col in df else True for col, label in MASTER_DATA.items()}, index=df.index
    )
    known = df["supplier_id"].isin(suppliers["supplier_id"]) if "supplier_id" in df else False
    miss["supplier"] |= ~known
    master_lt = suppliers.set_index("supplier_id")["lead_time_days_mean"]
    no_lt = df["supplier_id"].map(master_lt).isna() if "supplier_id" in df else True
    learned = df["lead_time_n"].fillna(0).gt(0) if "lead_time_n" in df else False
    miss["lead time"] = no_lt & ~learned & ~miss["supplier"]
    labels = np.array(miss.columns)
    flags = miss.to_numpy(dtype=bool)
    return [", ".join(labels[f]) for f in flags]


@dataclass
class Planned:
    """The plan, plus what a what-if needs to recompute its levels for another target
    (arrays in `row` order: the plan frame's `row` column points into them)."""

    frame: pd.DataFrame
    levels: Levels
    mu: np.ndarray
    sd: np.ndarray
    lead_mean: np.ndarray
    lead_std: np.ndarray
    review: np.ndarray
    order_mask: np.ndarray


def plan(inp: Inputs, ds: date, cfg: PlanConfig = PlanConfig()) -> pd.DataFrame:
    """One row per sku x location of the forecast: levels, the order and its reason."""
    return plan_detail(inp, ds, cfg).frame


COLUMNS = [
    "row",
    "sku",
    "location_id",
    "name",
    "category",
    "supplier_id",
    "abc",
    "xyz",
    "segment",
    "segment_target",
    "target",
    "target_kind",
    "on_hand",
    "on_order",
    "backorders",
    "inventory_position",
    "mu_d",
    "sigma_d",
    "lead_time_days",
    "lead_time_days_std",
    "lead_time_source",
    "review_days",
    "order_today",
    "next_order_date",
    "expected_interval_demand",
    "sigma_interval",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "cycle_qty",
    "order_qty",
    "pack_size",
    "moq",
    "unit_cost",
    "unit_price",
    "order_value",
    "min_order_value",
    "days_of_cover",
    "need_by",
    "service_level",
    "policy",
    "method",
    "forecast_method",
    "override",
    "stock_note",
    "supplier_note",
    "budget_note",
    "needs_master_data",
    "reason",
]


def plan_detail(inp: Inputs, ds: date, cfg: PlanConfig = PlanConfig()) -> Planned:
    """The plan in named steps: positions and master data, the review calendar, segments and
    targets, levels, today's order quantities, then supplier minimums, budget and overrides."""
    keys, mu, sd, fmethod = forecast_matrices(inp.forecast, ds)
    df = keys.copy()
    df["row"] = np.arange(len(df))
    df["forecast_method"] = fmethod.to_numpy()
    df = _positions(df, inp, ds, cfg)
    pack = df["pack_size"].fillna(1).clip(lower=1).to_numpy(dtype=float)
    moq = df["moq"].fillna(0).to_numpy(dtype=float)
    L = df["lead_time_days_mean"].to_numpy(dtype=float)
    sL = df["lead_time_days_std"].to_numpy(dtype=float)
    mask, R = _calendar(df, ds)
    df, target, fixed, active_ovr = _targets(df, inp, ds, cfg)
    rules = None
    if cfg.policy == "minmax":
        rr = inp.reorder_rules if inp.reorder_rules is not None else pd.DataFrame(columns=[*KEYS, "min_qty", "max_qty"])
        rules = df[KEYS].merge(rr, on=KEYS, how="left")[["min_qty", "max_qty"]].fillna(0).to_numpy(float).T
    lv = compute_levels(
        mu, sd, L, sL, R, target, df["unit_cost"].to_numpy(dtype=float), pack, moq, cfg, rules=rules, fixed=fixed
    )
    df = _todays_orders(df, lv, target, pack, moq, cfg)
    df = _constraints(df, active_ovr, cfg)
    df["order_value"] = df["order_qty"] * df["unit_cost"]
    df["need_by"] = pd.Timestamp(ds) + pd.to_timedelta(np.ceil(L), unit="D")
    df["policy"], df["method"] = cfg.policy, cfg.method
    df["service_level"] = df["target"]
    df = df.rename(columns={"lead_time_days_mean": "lead_time_days"})
    df["reason"] = reasons(df)
    df = df.sort_values("row")  # merges keep the left order; make sure
    out = (
        df[COLUMNS]
        .sort_values(["order_value", "sku", "location_id"], ascending=[False, True, True])
        .reset_index(drop=True)
    )
    return Planned(out, lv, mu, sd, L, sL, R, mask)


def with_master_data(df: pd.DataFrame, inp: Inputs, ds: date, cfg: PlanConfig) -> pd.DataFrame:
    """Lines (sku, location_id) with their item master, supplier (order days, minimum, learned
    lead time) and inventory position (zero where the ERP has none)."""
    item_cols = ["sku", "name", "category", "unit_cost", "unit_price", "pack_size", "moq", "supplier_id"]
    df = df.merge(inp.items[[c for c in item_cols if c in inp.items.columns]], on="sku", how="left")
    lt = leadtime.learn(inp.receipts, inp.items, inp.suppliers, ds, cfg.lead_times)
    sup = inp.suppliers[["supplier_id", "order_weekdays", "min_order_value"]].merge(lt, on="supplier_id", how="left")
    df = df.merge(sup, on="supplier_id", how="left")
    df = df.merge(inventory_position(inp.stock, inp.open_orders, ds), on=KEYS, how="left")
    for c in ("on_hand", "on_order", "backorders", "inventory_position"):
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0.0)
    return df


def _positions(df: pd.DataFrame, inp: Inputs, ds: date, cfg: PlanConfig) -> pd.DataFrame:
    """Master data, learned lead times and the inventory position of every line; suspected
    phantom stock planned as an empty shelf; what master data each line lacks."""
    df = with_master_data(df, inp, ds, cfg)
    df["open_order_lines"] = df["open_order_lines"].fillna(0).astype(int)
    df["stock_note"] = ""
    if inp.suspect_stock is not None and len(inp.suspect_stock):
        sus = df[KEYS].merge(inp.suspect_stock[KEYS].drop_duplicates().assign(suspect=True), on=KEYS, how="left")
        hit = sus["suspect"].eq(True).to_numpy() & (df["on_hand"].to_numpy() > 0)
        df.loc[hit, "stock_note"] = [
            f"book shows {x:g} on hand but nothing has sold since a phantom-stock alert: "
            "planned as if the shelf were empty until a count says otherwise"
            for x in df.loc[hit, "on_hand"]
        ]
        df.loc[hit, "inventory_position"] -= df.loc[hit, "on_hand"]
        df.loc[hit, "on_hand"] = 0.0
    df["needs_master_data"] = missing_master_data(df, inp.suppliers)
    # placeholders so the arithmetic runs; a line lacking any of them is never ordered (_constraints)
    df["unit_cost"] = df["unit_cost"].fillna(0.0)
    if "unit_price" not in df:
        df["unit_price"] = df["unit_cost"]
    df["lead_time_days_mean"] = df["lead_time_days_mean"].fillna(7.0).to_numpy(dtype=float)
    df["lead_time_days_std"] = df["lead_time_days_std"].fillna(0.0).to_numpy(dtype=float)
    df["lead_time_source"] = df["lead_time_source"].fillna("default")
    return df


def _calendar(df: pd.DataFrame, ds: date) -> tuple[np.ndarray, np.ndarray]:
    """Review calendar: is today an order day? The gap to the next one is the review period."""
    mask = supplier.weekday_mask(df["order_weekdays"])
    wd = ds.weekday()
    df["order_today"] = mask[:, wd]
    R = supplier.days_to_next_order(mask, wd)
    df["review_days"] = R
    df["next_order_date"] = [pd.Timestamp(ds + timedelta(days=int(k))) for k in R]
    return mask, R


def _targets(df: pd.DataFrame, inp: Inputs, ds: date, cfg: PlanConfig):
    """ABC/XYZ segments from the last year's sales, and each line's service target (overrides win)."""
    hist = inp.sales if inp.sales is not None else pd.DataFrame(columns=["date", *KEYS, "qty"])
    hist = hist[pd.to_datetime(hist["date"]) > pd.Timestamp(ds - timedelta(days=cfg.segment_days))]
    seg = segments(hist[["date", *KEYS, "qty"]], inp.items.set_index("sku")["unit_cost"], cfg.targets)
    df = df.merge(seg[KEYS + ["abc", "xyz", "segment"]], on=KEYS, how="left")
    # no sales history yet (a new item): neutral targets, neither the A nor the C treatment
    df["abc"], df["xyz"] = df["abc"].fillna("B"), df["xyz"].fillna("Y")
    df["segment"] = df["abc"] + df["xyz"]
    active_ovr = overrides.active(inp.overrides, ds)
    target, fixed = overrides.targets(df, active_ovr, assign(df, cfg.target, cfg.targets))
    df["segment_target"], df["target_kind"] = target, cfg.targets.kind
    return df, target, fixed, active_ovr


def _todays_orders(
    df: pd.DataFrame, lv: Levels, target, pack: np.ndarray, moq: np.ndarray, cfg: PlanConfig
) -> pd.DataFrame:
    """The levels on the frame and the policy's order for the lines whose supplier orders today."""
    # the target each line is planned for: its segment's, or its share of the optimized aggregate
    df["target"] = lv.planned_fill if lv.planned_fill is not None else target
    ip = df["inventory_position"].to_numpy(dtype=float)
    qty = order_quantity(ip, lv.s, lv.S, lv.q, cfg.policy, pack, moq, cfg.rounding)
    df["mu_d"], df["sigma_d"] = lv.mu_d, lv.sd_d
    df["expected_interval_demand"], df["sigma_interval"] = lv.mean_p, lv.sigma_p
    df["reorder_point"], df["order_up_to"], df["cycle_qty"] = lv.s, lv.S, lv.q
    if lv.d_l is not None and lv.d_p is not None and cfg.policy in ("rsS", "RS"):
        q_model = lv.q if cfg.policy == "rsS" else np.zeros_like(lv.q)
        df["safety_stock"] = levels.periodic_safety_stock(lv.d_l, lv.d_p, lv.s, q_model)
    else:
        df["safety_stock"] = lv.s - lv.mean_p
    df["order_qty"] = np.where(df["order_today"], qty, 0.0)
    df["days_of_cover"] = np.where(lv.mu_d > 0, ip / np.maximum(lv.mu_d, 1e-9), np.inf)
    return df


def _constraints(df: pd.DataFrame, active_ovr, cfg: PlanConfig) -> pd.DataFrame:
    """Supplier minimums, the budget, then the planners' fixed quantities; never an order for a
    line without its master data (an exception, not a guessed quantity)."""
    df.loc[df["needs_master_data"].ne("").to_numpy(), "order_qty"] = 0.0
    df = supplier.apply_min_order_value(df, max_cover_days=2 * cfg.max_cycle_days)
    df = budget_mod.apply_budget(df, cfg.budget)
    df = overrides.apply_quantities(df, active_ovr)
    df.loc[df["needs_master_data"].ne("").to_numpy(), "order_qty"] = 0.0
    return df
