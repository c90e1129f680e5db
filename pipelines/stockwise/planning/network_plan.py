"""The plan across echelons, as plan lines: stores sourced from a DC get transfer orders, the DC
gets purchase orders, from `network.plan_levels`.

Takes the single-echelon plan (`engine.plan_detail`: positions, segments, targets, master data)
and re-plans the lines whose location the sourcing table says is served by another location:

- a store line becomes a transfer request from its DC: the sourcing table's lead time and truck
  days, store packs (`store_pack_size` when the item master has it, else single units), levels
  placed across the echelons, and what the DC can ship of the request today (the rest is owed:
  the line says so);
- a line per sku x DC is added: the DC's position (its stock and open purchase orders, less
  what stores asked for today), its supplier's learned lead time and order days, its levels for
  the fill rate the placement chose, and today's purchase order.

Lines of locations without an upstream keep the single-echelon plan, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from stockwise.planning import leadtime, levels, supplier
from stockwise.planning.demand import exposed_days
from stockwise.planning.engine import COLUMNS, Inputs, PlanConfig, Planned, with_master_data
from stockwise.planning.network import (
    Echelon,
    NetworkLevels,
    NetworkParams,
    dc_orders,
    plan_levels,
    review_days,
    transfer_orders,
)
from stockwise.planning.quantity import cycle_quantity

KEYS = ["sku", "location_id"]
SOURCING_COLUMNS = ["location_id", "source_id", "lead_time_days_mean", "lead_time_days_std", "ship_weekdays"]
NETWORK_COLUMNS = ["echelon", "source_id", "order_type", "requested_qty"]


@dataclass
class NetworkPlan:
    frame: pd.DataFrame  # every line: stores (transfers), DCs (purchases), unsourced (purchases)
    levels: NetworkLevels | None
    stores: int  # store lines planned across echelons
    dcs: int  # DC lines
    store_echelon: Echelon | None = None  # what the levels were planned from (the gate replays it)
    dc_echelon: Echelon | None = None
    store_keys: pd.DataFrame | None = None  # sku, location_id in the store echelon's row order
    dc_keys: pd.DataFrame | None = None  # sku, location_id (the DC) in the DC echelon's row order


def apply_network(
    planned: Planned,
    inp: Inputs,
    ds: date,
    cfg: PlanConfig,
    sourcing: pd.DataFrame | None,
    params: NetworkParams | None = None,
) -> NetworkPlan:
    params = params or NetworkParams()
    df = planned.frame.copy()
    df["echelon"], df["source_id"], df["order_type"] = "store", df["supplier_id"], "purchase"
    df["requested_qty"] = df["order_qty"]
    if sourcing is None or not len(sourcing):
        return NetworkPlan(df[COLUMNS + NETWORK_COLUMNS], None, 0, 0)
    src = sourcing.drop_duplicates("location_id", keep="last").set_index("location_id")
    # the lanes' transfer lead times: the sourcing table's, learned from the transfers received
    lanes = leadtime.learn_lanes(inp.transfers, sourcing, ds).set_index("location_id")
    src = src.assign(
        lead_time_days_mean=lanes["lead_time_days_mean"],
        lead_time_days_std=lanes["lead_time_days_std"],
        lead_time_source=lanes["lead_time_source"],
    )
    chained = sorted(set(src["source_id"]) & set(src.index))
    if chained:
        raise ValueError(
            f"sourcing: {', '.join(map(str, chained))} both serve(s) stores and is/are served by another "
            "location; Stockwise plans two echelons (stores from a DC, the DC from suppliers)"
        )
    # a DC the stock extract never mentions is a broken extract, not an empty DC (an empty one
    # has rows of zero): planned as zero, every store's transfer would be cut
    seen = set(inp.stock.loc[pd.to_datetime(inp.stock["date"]) <= pd.Timestamp(ds), "location_id"])
    blind = sorted(set(src["source_id"]) - seen)
    if blind:
        raise ValueError(
            f"sourcing: {', '.join(map(str, blind))} serve(s) stores but the stock extract has no row for "
            f"it up to {ds}: its stock would be taken as zero and every transfer from it cut (check the "
            "stock extract's mapping, or the sourcing table)"
        )
    sourced = df["location_id"].isin(src.index).to_numpy() & df["needs_master_data"].eq("").to_numpy()
    if not sourced.any():
        return NetworkPlan(df[COLUMNS + NETWORK_COLUMNS], None, 0, 0)
    st_df = df[sourced].copy()
    st_df["source_id"] = st_df["location_id"].map(src["source_id"])
    dc_keys = st_df[["sku", "source_id"]].drop_duplicates().rename(columns={"source_id": "location_id"})
    dc_keys = dc_keys.reset_index(drop=True)
    parent = st_df.merge(
        dc_keys.reset_index(), left_on=["sku", "source_id"], right_on=["sku", "location_id"], how="left"
    )["index"].to_numpy()
    st, _ = _stores(st_df, src, planned, inp, parent, cfg)
    dc_df, dc = _dcs(dc_keys, st, parent, inp, ds, cfg)
    wd = ds.weekday()
    lv = plan_levels(st, dc, wd, params)
    on_hand_dc = dc_df["on_hand"].to_numpy(dtype=float)
    shipped, requested = transfer_orders(st, lv.store_s, lv.store_S, wd, on_hand_dc, cfg.rounding)
    asked = np.bincount(parent, weights=requested, minlength=len(dc_keys))
    po = dc_orders(dc, lv.dc_s, lv.dc_S, wd, asked, lv.dc_rate)
    # the review gap the levels were planned with (the cycle quantity's bound uses the average one)
    R_st = review_days(st.order_mask, wd, params.review)
    st_df = _store_lines(st_df, st, lv, R_st, shipped, requested, dc_df, parent, ds, src)
    dc_df = _dc_lines(dc_df, dc, lv, po, asked, parent, ds, cfg)
    # the DC's own single-echelon line (its stock, no sales of its own) is the DC line now
    rest = df[~sourced]
    rest = rest[~pd.MultiIndex.from_frame(rest[KEYS]).isin(pd.MultiIndex.from_frame(dc_keys[KEYS]))]
    out = pd.concat([rest, st_df, dc_df], ignore_index=True)
    out = out.sort_values(["order_value", "sku", "location_id"], ascending=[False, True, True]).reset_index(drop=True)
    return NetworkPlan(
        out[COLUMNS + NETWORK_COLUMNS],
        lv,
        int(sourced.sum()),
        len(dc_df),
        st,
        dc,
        st_df[KEYS].reset_index(drop=True),
        dc_keys[KEYS],
    )


def _stores(st_df, src, planned: Planned, inp: Inputs, parent, cfg: PlanConfig) -> tuple[Echelon, np.ndarray]:
    r = st_df["row"].to_numpy()
    mu, sd = planned.mu[r], planned.sd[r]
    loc = st_df["location_id"]
    mask = supplier.weekday_mask(loc.map(src["ship_weekdays"]) if "ship_weekdays" in src else pd.Series([""] * len(r)))
    n = len(r)
    pack = (
        st_df["sku"].map(inp.items.set_index("sku")["store_pack_size"]).fillna(1).clip(lower=1).to_numpy(float)
        if "store_pack_size" in inp.items
        else np.ones(n)
    )
    cost = st_df["unit_cost"].to_numpy(dtype=float)
    mu_d = mu.mean(axis=1) if mu.shape[1] else np.zeros(n)
    R = supplier.mean_review_days(mask)
    q = cycle_quantity(mu_d, cost, R, cfg.order_cost, cfg.holding_rate, cfg.max_cycle_days, pack, np.zeros(n))
    st = Echelon(
        L=pd.to_numeric(loc.map(src["lead_time_days_mean"]), errors="coerce").fillna(1.0).to_numpy(float),
        sL=pd.to_numeric(loc.map(src["lead_time_days_std"]), errors="coerce").fillna(0.0).to_numpy(float),
        order_mask=mask,
        unit_cost=cost,
        pack=pack,
        moq=np.zeros(n),
        q=q,
        position=st_df["inventory_position"].to_numpy(dtype=float),
        mu=mu,
        sd=sd,
        target=st_df["target"].to_numpy(dtype=float),
        parent=parent,
    )
    return st, R


def _dcs(dc_keys, st: Echelon, parent, inp: Inputs, ds: date, cfg: PlanConfig) -> tuple[pd.DataFrame, Echelon]:
    d = with_master_data(dc_keys, inp, ds, cfg)
    m = len(d)
    rate = np.bincount(parent, weights=st.mu.mean(axis=1) if st.mu is not None else 0.0, minlength=m)
    cost = d["unit_cost"].fillna(0.0).to_numpy(dtype=float)
    pack = d["pack_size"].fillna(1).clip(lower=1).to_numpy(dtype=float)
    moq = d["moq"].fillna(0).to_numpy(dtype=float)
    mask = supplier.weekday_mask(d["order_weekdays"])
    R = supplier.mean_review_days(mask)
    d["lead_time_days_mean"] = d["lead_time_days_mean"].fillna(7.0)
    d["lead_time_days_std"] = d["lead_time_days_std"].fillna(0.0)
    d["lead_time_source"] = d["lead_time_source"].fillna("default")
    dc = Echelon(
        L=d["lead_time_days_mean"].to_numpy(dtype=float),
        sL=d["lead_time_days_std"].to_numpy(dtype=float),
        order_mask=mask,
        unit_cost=cost,
        pack=pack,
        moq=moq,
        q=cycle_quantity(rate, cost, R, cfg.order_cost, cfg.holding_rate, cfg.max_cycle_days, pack, moq),
        position=d["inventory_position"].to_numpy(dtype=float),
    )
    d["mu_d"] = rate
    return d, dc


def _where(dc: str, fill: float, wait: float) -> str:
    if fill >= 0.9:
        return (
            f"the buffer sits at {dc} (planned {fill:.0%} fill to stores): pooled over its stores, it is cheaper there"
        )
    return (
        f"{dc} runs lean (planned {fill:.0%} fill) and the stores carry a buffer for the wait "
        f"(about {wait:.1f} days on average): less network stock than a fuller {dc}"
    )


def _store_lines(st_df, st: Echelon, lv: NetworkLevels, R, shipped, requested, dc_df, parent, ds, src) -> pd.DataFrame:
    d = st_df.copy()
    d["supplier_id"] = d["source_id"]
    d["lead_time_days"], d["lead_time_days_std"] = st.L, st.sL
    d["lead_time_source"] = d["location_id"].map(src["lead_time_source"]).fillna("sourcing table")
    d["review_days"], d["pack_size"], d["moq"] = R, st.pack, 0.0
    d["order_today"] = st.order_mask[:, ds.weekday()]
    d["reorder_point"], d["order_up_to"], d["cycle_qty"] = lv.store_s, lv.store_S, st.q
    # the stock expected just before a transfer lands (levels.periodic_safety_stock, estimated)
    mu_d = d["mu_d"].to_numpy(float)
    d["safety_stock"] = (
        lv.store_s - mu_d * exposed_days(st.L + lv.store_wait) - levels.undershoot_estimate(mu_d * R, st.q)
    )
    d["requested_qty"], d["order_qty"] = requested, shipped
    d["order_value"] = d["order_qty"] * d["unit_cost"]
    d["min_order_value"], d["supplier_note"], d["budget_note"] = 0.0, "", ""
    d["need_by"] = pd.Timestamp(ds) + pd.to_timedelta(np.ceil(st.L), unit="D")
    d["order_type"], d["echelon"] = "transfer", "store"
    fill = lv.dc_fill[parent]
    dc_ids = d["source_id"].to_numpy()
    notes = []
    for i in range(len(d)):
        note = f"transfer from {dc_ids[i]}; " + _where(dc_ids[i], fill[i], lv.store_wait[i])
        if requested[i] > shipped[i] + 1e-9:
            note += (
                f"; asked for {requested[i]:g}, {dc_ids[i]} has stock for {shipped[i]:g} today: "
                f"{requested[i] - shipped[i]:g} owed until its next receipt"
            )
        notes.append(note)
    d["reason"] = [_reason(r, n) for r, n in zip(d.itertuples(index=False), notes, strict=True)]
    return d


def _reason(r, note: str) -> str:
    pos = f"on hand {r.on_hand:g}" + (f" + on order {r.on_order:g}" if r.on_order else "")
    act = (
        f"reorder point {r.reorder_point:.0f}; transfer {r.order_qty:g}"
        if r.order_qty > 0
        else ("no truck today" if not r.order_today else f"above its reorder point {r.reorder_point:.0f}: no transfer")
    )
    return f"{pos} at {r.mu_d:.2g}/day; {act}; {note}."


def _dc_lines(d, dc: Echelon, lv: NetworkLevels, po, asked, parent, ds: date, cfg: PlanConfig) -> pd.DataFrame:
    d = d.copy()
    n = len(d)
    mask = dc.order_mask
    wd = ds.weekday()
    R = supplier.days_to_next_order(mask, wd)
    d["row"] = -1
    d["forecast_method"] = "stores' orders"
    d["abc"], d["xyz"], d["segment"] = "", "", "DC"
    d["segment_target"] = d["target"] = lv.dc_fill
    d["target_kind"] = "fill_rate"
    d["open_order_lines"] = 0
    d["sigma_d"] = lv.dc_sigma / np.sqrt(np.maximum(dc.L + R, 1))
    d["lead_time_days"] = dc.L
    d["review_days"] = R
    d["order_today"] = mask[:, wd]
    d["next_order_date"] = [pd.Timestamp(ds) + pd.Timedelta(days=int(k)) for k in R]
    d["expected_interval_demand"], d["sigma_interval"] = lv.dc_mean, lv.dc_sigma
    d["safety_stock"] = lv.dc_s - lv.dc_rate * exposed_days(dc.L) - levels.undershoot_estimate(lv.dc_rate * R, dc.q)
    d["reorder_point"], d["order_up_to"], d["cycle_qty"] = lv.dc_s, lv.dc_S, dc.q
    d["requested_qty"] = d["order_qty"] = po
    d["order_value"] = d["order_qty"] * d["unit_cost"].fillna(0.0)
    d["days_of_cover"] = np.where(lv.dc_rate > 0, d["inventory_position"] / np.maximum(lv.dc_rate, 1e-9), np.inf)
    d["need_by"] = pd.Timestamp(ds) + pd.to_timedelta(np.ceil(dc.L), unit="D")
    d["service_level"] = lv.dc_fill
    d["policy"], d["method"] = cfg.policy, "network"
    d["override"] = d["stock_note"] = d["supplier_note"] = d["budget_note"] = d["needs_master_data"] = ""
    d["echelon"], d["order_type"], d["source_id"] = "dc", "purchase", d["supplier_id"]
    d["reason"] = [
        f"DC for {int(k)} store line(s): their orders {m:.0f} ± {s:.0f} over {L:.0f}+{rv} days "
        f"(lead time + review); stores asked for {a:g} today; "
        f"position {p:g} against reorder point {sp:.0f}"
        + (f"; order {q:g} from {sup}" if q > 0 else "; no order")
        + f"; planned {f:.0%} fill to stores, the placement with the least network stock."
        for k, m, s, L, rv, a, p, sp, q, sup, f in zip(
            np.bincount(parent, minlength=n),
            lv.dc_mean, lv.dc_sigma, dc.L, R, asked, d["inventory_position"] - asked, lv.dc_s, po,
            d["supplier_id"], lv.dc_fill, strict=True,
        )
    ]  # fmt: skip
    return d
