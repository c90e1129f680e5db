"""Lead times learned from the ERP's receipt history, with the supplier master as the prior.

Per supplier: the observed lead times (received - ordered, in days) of the last `window_days`,
shrunk towards the master's mean and spread with `prior_weight` pseudo-receipts, so that a
supplier with two receipts keeps close to its master data and one with hundreds is measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

COLUMNS = [
    "supplier_id",
    "lead_time_days_mean",
    "lead_time_days_std",
    "lead_time_n",
    "lead_time_master_mean",
    "on_time_rate",
    "lead_time_source",
]


@dataclass(frozen=True)
class LeadTimeParams:
    window_days: int = 365
    prior_weight: float = 10.0  # pseudo-receipts behind the supplier master's figures
    min_std_days: float = 0.0


def _window(receipts: pd.DataFrame | None, items: pd.DataFrame, ds: date, params: LeadTimeParams) -> pd.DataFrame:
    """Receipts of the last `window_days` with their supplier and lead time (`lt`, days)."""
    cols = ["supplier_id", "received_date", "expected_date", "lt"]
    if receipts is None or not len(receipts):
        return pd.DataFrame(columns=cols)
    r = receipts.dropna(subset=["received_date", "order_date"]).merge(
        items[["sku", "supplier_id"]], on="sku", how="inner"
    )
    r = r.assign(received_date=pd.to_datetime(r["received_date"]))
    r = r[
        (r["received_date"] <= pd.Timestamp(ds))
        & (r["received_date"] > pd.Timestamp(ds - timedelta(days=params.window_days)))
    ]
    return r.assign(lt=(r["received_date"] - pd.to_datetime(r["order_date"])).dt.days.astype(float))


def learn(
    receipts: pd.DataFrame | None,
    items: pd.DataFrame,
    suppliers: pd.DataFrame,
    ds: date,
    params: LeadTimeParams = LeadTimeParams(),
) -> pd.DataFrame:
    """One row per supplier of the master with the lead-time mean and spread to plan with."""
    master = suppliers[["supplier_id", "lead_time_days_mean", "lead_time_days_std"]].rename(
        columns={"lead_time_days_mean": "m0", "lead_time_days_std": "s0"}
    )
    r = _window(receipts, items, ds, params)
    on_time = (r["received_date"] <= pd.to_datetime(r["expected_date"])).astype(float) if len(r) else []
    observed = pd.DataFrame({"supplier_id": r["supplier_id"], "lt": r["lt"], "on_time": on_time})
    out = _posterior(master, observed, "supplier_id", params, ("supplier master", "receipts + master", "receipts"))
    return out[COLUMNS]


def _posterior(
    master: pd.DataFrame, observed: pd.DataFrame, key: str, params: LeadTimeParams, sources: tuple[str, str, str]
) -> pd.DataFrame:
    """Per row of `master` (key, prior mean m0 and spread s0): the prior with `prior_weight`
    pseudo-observations pooled with the observed lead times (key, lt, on_time). `sources`
    names the result: prior only, both, observations only (three times the prior's weight)."""
    stats = pd.DataFrame(columns=[key, "n", "mean", "var", "on_time"])
    if len(observed):
        stats = (
            observed.groupby(key)
            .agg(n=("lt", "size"), mean=("lt", "mean"), var=("lt", "var"), on_time=("on_time", "mean"))
            .reset_index()
        )
    df = master.merge(stats, on=key, how="left")
    num = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float) for c in ("n", "m0", "s0", "mean", "var")}
    n = np.nan_to_num(num["n"], nan=0.0)
    m0 = np.nan_to_num(num["m0"], nan=7.0)
    s0 = np.nan_to_num(num["s0"], nan=0.0)
    mean = np.nan_to_num(num["mean"], nan=0.0)
    var = np.nan_to_num(num["var"], nan=0.0)
    w = params.prior_weight
    post_mean = (w * m0 + n * mean) / (w + n)
    # pooled spread: prior pseudo-variance + observed variance + the disagreement between them
    post_var = (w * s0**2 + np.maximum(n - 1, 0) * var + w * n / (w + n) * (mean - m0) ** 2 * (n > 0)) / (
        w + np.maximum(n - 1, 0)
    )
    source = np.where(n == 0, sources[0], np.where(n >= 3 * w, sources[2], sources[1]))
    return pd.DataFrame(
        {
            key: df[key],
            "lead_time_days_mean": np.round(post_mean, 2),
            "lead_time_days_std": np.round(np.maximum(np.sqrt(post_var), params.min_std_days), 2),
            "lead_time_n": n.astype(int),
            "lead_time_master_mean": m0,
            "on_time_rate": pd.to_numeric(df["on_time"], errors="coerce").astype(float),
            "lead_time_source": source,
        }
    )


def learn_lanes(
    transfers: pd.DataFrame | None,
    sourcing: pd.DataFrame,
    ds: date,
    params: LeadTimeParams = LeadTimeParams(),
) -> pd.DataFrame:
    """Per location of the sourcing table (a store served by a DC): the transfer lead time to
    plan with, the sourcing table's figures as the prior and the received transfers of the last
    `window_days` (received - shipped, days) as the observations, as `learn` does for suppliers."""
    master = sourcing[["location_id", "lead_time_days_mean", "lead_time_days_std"]].rename(
        columns={"lead_time_days_mean": "m0", "lead_time_days_std": "s0"}
    )
    master = master.drop_duplicates("location_id", keep="last")
    observed = pd.DataFrame(columns=["location_id", "lt", "on_time"])
    if transfers is not None and len(transfers):
        t = transfers.dropna(subset=["received_date", "ship_date"])
        got = pd.to_datetime(t["received_date"])
        t = t[(got <= pd.Timestamp(ds)) & (got > pd.Timestamp(ds - timedelta(days=params.window_days)))]
        got = pd.to_datetime(t["received_date"])
        expected = pd.to_datetime(t["expected_date"]) if "expected_date" in t else pd.Series(pd.NaT, index=t.index)
        observed = pd.DataFrame(
            {
                "location_id": t["location_id"],
                "lt": (got - pd.to_datetime(t["ship_date"])).dt.days.astype(float),
                "on_time": (got <= expected).astype(float).where(expected.notna()),
            }
        )
    out = _posterior(master, observed, "location_id", params, ("sourcing table", "transfers + sourcing", "transfers"))
    return out.drop(columns=["lead_time_master_mean"]).rename(columns={"lead_time_n": "transfers"})


PERFORMANCE = [
    "supplier_id",
    "receipts",
    "promised_days",
    "actual_days",
    "actual_std_days",
    "on_time_rate",
    "recent_days",
    "trend_days",
    "planned_days",
    "planned_std_days",
    "lead_time_source",
]


def performance(
    receipts: pd.DataFrame | None,
    items: pd.DataFrame,
    suppliers: pd.DataFrame,
    ds: date,
    params: LeadTimeParams = LeadTimeParams(),
    recent_days: int = 90,
) -> pd.DataFrame:
    """Per supplier of the master, what its receipts of the last `window_days` say: the lead time
    promised (master) against the actual (mean and spread), the share received by the expected
    date, the mean of the last `recent_days` and its trend against the earlier receipts (days;
    positive: getting slower), and the lead time planning uses (`learn`)."""
    planned = learn(receipts, items, suppliers, ds, params)
    out = planned.rename(
        columns={
            "lead_time_master_mean": "promised_days",
            "lead_time_days_mean": "planned_days",
            "lead_time_days_std": "planned_std_days",
            "lead_time_n": "receipts",
        }
    )
    stats = pd.DataFrame(columns=["supplier_id", "actual_days", "actual_std_days", "recent_days", "trend_days"])
    r = _window(receipts, items, ds, params)
    if len(r):
        recent = r["received_date"] > pd.Timestamp(ds - timedelta(days=recent_days))
        frame = pd.DataFrame({"supplier_id": r["supplier_id"], "lt": r["lt"], "recent": recent})
        g = frame.groupby("supplier_id")
        stats = g["lt"].agg(actual_days="mean", actual_std_days="std").reset_index()
        rec = frame[frame["recent"]].groupby("supplier_id")["lt"].mean().rename("recent_days")
        old = frame[~frame["recent"]].groupby("supplier_id")["lt"].mean().rename("earlier")
        stats = stats.merge(rec, on="supplier_id", how="left").merge(old, on="supplier_id", how="left")
        stats["trend_days"] = stats["recent_days"] - stats["earlier"]
    out = out.merge(stats, on="supplier_id", how="left")
    return out[PERFORMANCE].sort_values("supplier_id").reset_index(drop=True)
