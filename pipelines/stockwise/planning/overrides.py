"""Planner overrides: a fixed quantity or a service target per sku (and location), with a reason,
an author and an expiry. They come from the ERP (the optional `overrides` extract) or from a file
in the lake (`config/overrides.csv`); both are honoured, the ERP's first, and shown on each line.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

COLUMNS = ["sku", "location_id", "fixed_qty", "service_level", "reason", "author", "expires"]


def active(overrides: pd.DataFrame | None, ds: date) -> pd.DataFrame:
    """The overrides in force on `ds`: not expired; a blank location means every location."""
    if overrides is None or not len(overrides):
        return pd.DataFrame(columns=COLUMNS)
    o = overrides.copy()
    for c in COLUMNS:
        if c not in o.columns:
            o[c] = None
    exp = pd.to_datetime(o["expires"], errors="coerce")
    live = exp.isna() | (exp >= pd.Timestamp(ds))
    if (~live).any():
        log.info("%d expired override(s) ignored", int((~live).sum()))
    return o[live][COLUMNS].reset_index(drop=True)


def _match(df: pd.DataFrame, o: pd.DataFrame) -> pd.DataFrame:
    """Per plan row, the override that applies (exact location beats a chain-wide one)."""
    exact = o[o["location_id"].notna() & (o["location_id"].astype(str) != "")]
    chain = o[~o.index.isin(exact.index)].drop(columns=["location_id"])
    m = df[["sku", "location_id"]].merge(
        exact.drop_duplicates(["sku", "location_id"], keep="last"), on=["sku", "location_id"], how="left"
    )
    c = df[["sku"]].merge(chain.drop_duplicates(["sku"], keep="last"), on="sku", how="left")
    has_exact = (
        m["author"].notna() | m["reason"].notna() | m["fixed_qty"].notna() | m["service_level"].notna()
    ).to_numpy()
    out = pd.DataFrame(
        {
            col: np.where(has_exact, m[col].to_numpy(object), c[col].to_numpy(object)) if col in c else m[col]
            for col in m.columns
        }
    )
    out.index = df.index
    return out


def targets(df: pd.DataFrame, o: pd.DataFrame, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The service target per row after target overrides, and which rows a planner fixed."""
    if not len(o):
        return target, np.zeros(len(df), dtype=bool)
    m = _match(df, o)
    sl = pd.to_numeric(m["service_level"], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(sl), sl, target), np.isfinite(sl)


def apply_quantities(df: pd.DataFrame, o: pd.DataFrame) -> pd.DataFrame:
    """Fixed quantities replace the computed ones; every overridden line says who and why."""
    df = df.copy()
    df["override"] = ""
    if not len(o):
        return df
    m = _match(df, o)
    fixed = pd.to_numeric(m["fixed_qty"], errors="coerce")
    sl = pd.to_numeric(m["service_level"], errors="coerce")
    hit = fixed.notna() | sl.notna()
    for i in df.index[hit]:
        what = (
            f"fixed quantity {fixed[i]:g} (computed {df.at[i, 'order_qty']:g})"
            if pd.notna(fixed[i])
            else f"service target {sl[i]:.1%}"
        )
        exp = m.at[i, "expires"]
        until = f" until {pd.Timestamp(exp).date()}" if pd.notna(exp) and str(exp) else ""
        df.at[i, "override"] = (
            f"planner override by {m.at[i, 'author'] or 'unknown'}: {what}, '{m.at[i, 'reason'] or ''}'{until}"
        )
    df.loc[fixed.notna(), "order_qty"] = fixed[fixed.notna()].clip(lower=0)
    return df
