"""An optional budget cap: money goes first where it avoids the most expected shortage cost.

Each line's order is cut into increments (its MOQ block, then one pack at a time). An increment's
worth is the expected shortage it avoids over the protection interval (normal loss function on
the position after ordering) times the unit margin lost per unit short, per unit of money it
costs. Increments are taken best first until the budget is spent; a line keeps a contiguous
prefix of its increments, so every kept quantity is still whole packs and at least the MOQ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockwise.planning.distributions import normal_loss


def expected_shortage(position: np.ndarray, mean_p: np.ndarray, sigma_p: np.ndarray) -> np.ndarray:
    s = np.maximum(sigma_p, 1e-9)
    return s * normal_loss((position - mean_p) / s)


def apply_budget(df: pd.DataFrame, budget: float | None) -> pd.DataFrame:
    """Cut `order_qty` to fit `budget` (money); notes go to `budget_note`. `None`: no cap."""
    df = df.copy()
    df["budget_note"] = ""
    value = float((df["order_qty"] * df["unit_cost"]).sum())
    if budget is None or value <= budget:
        return df
    rows = []
    for i, r in df[df["order_qty"] > 0].iterrows():
        pack = max(float(r["pack_size"]), 1.0)
        first = max(np.ceil(max(float(r["moq"]), 0) / pack), 1) * pack
        steps = [first] + [pack] * int(round((r["order_qty"] - first) / pack))
        y = float(r["inventory_position"])
        margin = max(float(r.get("unit_price", 0) or 0) - float(r["unit_cost"]), 0.01 * float(r["unit_cost"]), 1e-6)
        for j, step in enumerate(steps):
            gain = float(
                expected_shortage(
                    np.array([y]), np.array([r["expected_interval_demand"]]), np.array([r["sigma_interval"]])
                )[0]
                - expected_shortage(
                    np.array([y + step]), np.array([r["expected_interval_demand"]]), np.array([r["sigma_interval"]])
                )[0]
            )
            cost = step * float(r["unit_cost"])
            rows.append((i, j, step, cost, gain * margin / max(cost, 1e-9)))
            y += step
    inc = pd.DataFrame(rows, columns=["row", "step", "qty", "cost", "worth"]).sort_values(
        ["worth", "row", "step"], ascending=[False, True, True], kind="stable"
    )
    spent, kept, stopped = 0.0, dict[int, int](), set[int]()
    for r in inc.itertuples(index=False):
        if r.row in stopped or kept.get(r.row, -1) != r.step - 1:
            stopped.add(r.row)
            continue
        if spent + r.cost > budget:
            stopped.add(r.row)
            continue
        spent += r.cost
        kept[r.row] = r.step
    new = pd.Series(0.0, index=df.index)
    for row, last in kept.items():
        new[row] = float(inc[(inc["row"] == row) & (inc["step"] <= last)]["qty"].sum())
    cut = (df["order_qty"] > 0) & (new < df["order_qty"])
    df.loc[cut, "budget_note"] = [
        f"budget cap {budget:,.2f}: cut from {a:g} to {b:g}"
        for a, b in zip(df.loc[cut, "order_qty"], new[cut], strict=True)
    ]
    df["order_qty"] = np.where(df["order_qty"] > 0, new, 0.0)
    return df
