"""The reorder policy: a periodic-review order-up-to level (R, S) with lead-time variability.

For each sku x location:
- demand over the protection interval P = lead time L + review period R, from the forecast;
- its spread sigma_P = sqrt(P * sigma_d^2 + mu_d^2 * sigma_L^2) (demand and lead-time variability);
- order-up-to S = E[D_P] + z * sigma_P, z from the target cycle service level;
- inventory position = on hand + on order; order S - position when positive, rounded up to
  whole packs and to at least the MOQ (itself taken up to whole packs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm

KEYS = ["sku", "location_id"]


@dataclass(frozen=True)
class PolicyParams:
    service_level: float = 0.95
    horizon_days: int = 28


def review_period_days(order_weekdays: pd.Series) -> pd.Series:
    """Average days between order opportunities: 7 / number of order weekdays."""
    n = order_weekdays.fillna("").str.split(",").map(lambda xs: len([x for x in xs if x]))
    return 7.0 / n.clip(lower=1)


def round_order(raw: np.ndarray, pack: np.ndarray, moq: np.ndarray) -> np.ndarray:
    """Whole packs, at least the MOQ (taken up to whole packs); zero when nothing is needed."""
    pack = np.maximum(pack, 1)
    packs = np.ceil(np.maximum(raw, 0) / pack)
    min_packs = np.ceil(np.maximum(moq, 0) / pack)
    return np.where(raw > 0, np.maximum(packs, min_packs) * pack, 0.0)


def positions(stock: pd.DataFrame, open_orders: pd.DataFrame, ds: date) -> pd.DataFrame:
    """On hand at the end of `ds` (the last count on or before it) and quantity on order."""
    s = stock[stock["date"] <= pd.Timestamp(ds)].sort_values("date")
    on_hand = s.groupby(KEYS, as_index=False).last()[KEYS + ["on_hand"]]
    oo = open_orders.groupby(KEYS, as_index=False)["qty"].sum().rename(columns={"qty": "on_order"})
    pos = on_hand.merge(oo, on=KEYS, how="outer")
    pos["on_hand"] = pd.to_numeric(pos["on_hand"]).fillna(0.0).clip(lower=0.0)
    pos["on_order"] = pd.to_numeric(pos["on_order"]).fillna(0.0)
    return pos


def plan(
    forecast: pd.DataFrame,
    items: pd.DataFrame,
    suppliers: pd.DataFrame,
    stock: pd.DataFrame,
    open_orders: pd.DataFrame,
    ds: date,
    params: PolicyParams,
) -> pd.DataFrame:
    """One row per sku x location with the target levels, the order quantity and the reason."""
    fc = forecast[forecast["date"] > pd.Timestamp(ds)]
    daily = fc.groupby(KEYS, as_index=False).agg(
        mu_d=("mean", "mean"), sigma_d=("sigma", "mean"), method=("method", "first")
    )
    df = (
        daily.merge(items[["sku", "name", "category", "unit_cost", "pack_size", "moq", "supplier_id"]], on="sku", how="left")
        .merge(suppliers, on="supplier_id", how="left")
        .merge(positions(stock, open_orders, ds), on=KEYS, how="left")
    )
    df[["on_hand", "on_order"]] = df[["on_hand", "on_order"]].fillna(0.0)
    L = df["lead_time_days_mean"].fillna(7.0).to_numpy()
    sL = df["lead_time_days_std"].fillna(0.0).to_numpy()
    R = review_period_days(df["order_weekdays"]).to_numpy()
    P = L + R
    mu, sd = df["mu_d"].to_numpy(), df["sigma_d"].fillna(0.0).to_numpy()
    z = float(norm.ppf(params.service_level))
    sigma_p = np.sqrt(P * sd**2 + mu**2 * sL**2)
    target = mu * P + z * sigma_p
    ip = (df["on_hand"] + df["on_order"]).to_numpy()
    pack = df["pack_size"].fillna(1).to_numpy(dtype=float)
    moq = df["moq"].fillna(0).to_numpy(dtype=float)
    qty = round_order(target - ip, pack, moq)
    df["lead_time_days"] = L
    df["review_days"] = R
    df["safety_stock"] = z * sigma_p
    df["order_up_to"] = target
    df["inventory_position"] = ip
    df["order_qty"] = qty
    df["order_value"] = qty * df["unit_cost"].fillna(0.0).to_numpy()
    df["days_of_cover"] = np.where(mu > 0, ip / np.maximum(mu, 1e-9), np.inf)
    df["need_by"] = pd.Timestamp(ds) + pd.to_timedelta(np.ceil(L), unit="D")
    df["service_level"] = params.service_level
    df["reason"] = [reason(r) for r in df.itertuples(index=False)]
    cols = [
        "sku", "location_id", "name", "category", "supplier_id", "on_hand", "on_order",
        "inventory_position", "mu_d", "sigma_d", "lead_time_days", "lead_time_days_std", "review_days",
        "safety_stock", "order_up_to", "order_qty", "pack_size", "moq", "unit_cost", "order_value",
        "days_of_cover", "need_by", "service_level", "method", "reason",
    ]
    return df[cols].sort_values(["order_value", "sku", "location_id"], ascending=[False, True, True]).reset_index(drop=True)


def reason(r) -> str:
    cover = "no demand expected" if not np.isfinite(r.days_of_cover) else f"covers {r.days_of_cover:.1f} days"
    head = (
        f"On hand {r.on_hand:g} + on order {r.on_order:g} {cover} at {r.mu_d:.1f}/day; "
        f"lead time {r.lead_time_days:g}±{r.lead_time_days_std:g} d + review {r.review_days:.1f} d "
        f"needs {r.order_up_to:.0f} for {r.service_level:.0%} service"
    )
    if r.order_qty <= 0:
        return head + "; no order."
    packs = int(round(r.order_qty / max(r.pack_size, 1)))
    moq_note = f", MOQ {r.moq:g}" if r.moq > r.order_up_to - r.inventory_position else ""
    return head + f"; order {r.order_qty:g} = {packs} pack(s) of {r.pack_size:g}{moq_note}."

