"""The plan in money: what the stock is worth, how fast it turns, what it costs to hold, what
today's orders spend by supplier and category, against the previous official plan.

All at unit cost (the ERP's item cost), in the `currency` setting. Demand is the plan's own
forecast (`mu_d`, units a day), so turnover and days of supply look forward, as a planner
budgets, not back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def figures(positions: pd.DataFrame, holding_rate: float) -> dict[str, float]:
    """The money KPIs of a plan's positions (every sku x location)."""
    cost = positions["unit_cost"].astype(float).fillna(0.0)
    stock = float((positions["on_hand"].clip(lower=0) * cost).sum())
    daily = float((positions["mu_d"].astype(float).fillna(0.0) * cost).sum())  # demand at cost, a day
    ordered = positions["order_qty"].astype(float).fillna(0.0) * cost
    return {
        "inventory_value": stock,
        "on_order_value": float((positions["on_order"].clip(lower=0) * cost).sum()),
        "order_value": float(ordered.sum()),
        "turnover": 365.0 * daily / stock if stock > 0 else float("nan"),
        "days_of_supply": stock / daily if daily > 0 else float("nan"),
        "carrying_cost_year": stock * holding_rate,
    }


def by(positions: pd.DataFrame, key: str) -> pd.DataFrame:
    """Inventory value, days of supply and value to order per `key` (supplier_id or category)."""
    import pandas as pd

    p = positions.assign(
        _cost=positions["unit_cost"].astype(float).fillna(0.0),
    )
    p = p.assign(
        _stock=p["on_hand"].clip(lower=0) * p["_cost"],
        _daily=p["mu_d"].astype(float).fillna(0.0) * p["_cost"],
        _order=p["order_qty"].astype(float).fillna(0.0) * p["_cost"],
    )
    g = p.groupby(p[key].fillna("?").astype(str))
    out = pd.DataFrame(
        {
            key: list(g.groups),
            "inventory_value": g["_stock"].sum().to_numpy(),
            "order_value": g["_order"].sum().to_numpy(),
            "lines": g["_order"].apply(lambda s: int((s > 0).sum())).to_numpy(),
        }
    )
    daily = g["_daily"].sum().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["days_of_supply"] = np.where(daily > 0, out["inventory_value"] / daily, np.nan)
    return out.sort_values("order_value", ascending=False).reset_index(drop=True)


def section(now: dict[str, float], before: dict[str, float] | None, before_ds: str | None, currency: str) -> str:
    """The 'Money' block of the report: this plan's figures beside the previous official plan's."""
    import html

    cur = f" {html.escape(currency)}" if currency else ""
    rows = [
        ("inventory value (on hand, at cost)", "inventory_value", "{:,.0f}" + cur),
        ("on order, at cost", "on_order_value", "{:,.0f}" + cur),
        ("to order today", "order_value", "{:,.0f}" + cur),
        ("turnover a year (forecast demand at cost / stock)", "turnover", "{:.1f}x"),
        ("days of supply (stock / forecast demand at cost)", "days_of_supply", "{:,.0f} days"),
        ("carrying cost a year", "carrying_cost_year", "{:,.0f}" + cur),
    ]

    def fmt(f: str, v) -> str:
        return "–" if v is None or v != v else f.format(v)

    head = f"<th>previous plan ({html.escape(before_ds or '')})</th><th>change</th>" if before else ""
    body = []
    for label, k, f in rows:
        cells = f"<td class='n'>{fmt(f, now.get(k))}</td>"
        if before:
            b = before.get(k)
            change = (now[k] / b - 1) if b and b == b and now.get(k) == now.get(k) else float("nan")
            cells += f"<td class='n'>{fmt(f, b)}</td><td class='n'>{fmt('{:+.0%}', change)}</td>"
        body.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
    note = (
        "" if before else "<p class='note'>No earlier official plan in the lake to compare with (the last 14 days).</p>"
    )
    return (
        "<h2>Money</h2><table class='compare'><thead><tr><th></th><th>this plan</th>"
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"
    )
