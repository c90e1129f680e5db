"""A one-page PDF of the plan for management: what it orders, what it costs, what it buys in
service, and where it comes from. Drawn with matplotlib (its bundled fonts: nothing is
downloaded), A4 landscape, beside the report as `summary.pdf`.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TOP_LINES = 12


def pdf_bytes(
    ds: str,
    title_note: str,
    lineage: str,
    kpis: list[tuple[str, str]],
    money: dict[str, float],
    currency: str,
    chart_png: str | None,
    orders: pd.DataFrame,
    purchase_orders: pd.DataFrame | None,
) -> bytes:
    """The page as PDF bytes (one page; `chart_png`: the cost-of-service chart, base64 PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    cur = f" {currency}" if currency else ""
    fig = plt.figure(figsize=(11.69, 8.27))  # A4 landscape, inches
    fig.text(0.04, 0.95, f"Reorder plan {ds}{title_note}", fontsize=18, weight="bold", va="top")
    fig.text(0.04, 0.905, lineage, fontsize=7.5, color="#52606d", va="top", wrap=True)

    # the figures, in two columns of label / value
    lines = list(kpis) + [
        ("inventory value at cost", f"{money['inventory_value']:,.0f}{cur}"),
        ("carrying cost a year", f"{money['carrying_cost_year']:,.0f}{cur}"),
        ("turnover a year", f"{money['turnover']:.1f}x" if money["turnover"] == money["turnover"] else "–"),
        (
            "days of supply",
            f"{money['days_of_supply']:,.0f}" if money["days_of_supply"] == money["days_of_supply"] else "–",
        ),
    ]
    y = 0.85
    for label, value in lines[:18]:
        fig.text(0.04, y, value, fontsize=10, weight="bold", va="top")
        fig.text(0.16, y, label, fontsize=9, color="#3e4c59", va="top")
        y -= 0.026

    if chart_png:
        ax = fig.add_axes((0.47, 0.44, 0.5, 0.46))
        ax.imshow(mpimg.imread(io.BytesIO(base64.b64decode(chart_png)), format="png"))
        ax.axis("off")

    def table(frame, cols, titles, box, heading):
        ax = fig.add_axes(box)
        ax.axis("off")
        ax.set_title(heading, fontsize=10, loc="left", weight="bold")
        if frame is None or not len(frame):
            ax.text(0, 0.9, "none", fontsize=8, va="top")
            return
        cells = [[_fmt(r[c]) for c in cols] for _, r in frame[cols].iterrows()]
        t = ax.table(cellText=cells, colLabels=titles, loc="upper left", cellLoc="left", colLoc="left")
        t.auto_set_font_size(False)
        t.set_fontsize(7)
        t.scale(1, 1.15)

    top = orders.sort_values("order_value", ascending=False).head(TOP_LINES)
    table(
        top,
        ["sku", "location_id", "supplier_id", "order_qty", "order_value", "need_by"],
        ["sku", "location", "supplier", "units", f"value{cur}", "need by"],
        (0.04, 0.04, 0.45, 0.3),
        f"Largest order lines ({len(orders):,} in all)",
    )
    if purchase_orders is not None and len(purchase_orders):
        po = purchase_orders.sort_values("Order value", ascending=False).head(TOP_LINES)
        table(
            po,
            ["Supplier", "Lines", "Order value", "Minimum order value", "Meets the minimum"],
            ["supplier", "lines", f"value{cur}", "minimum", "meets it"],
            (0.53, 0.04, 0.43, 0.3),
            "Purchase orders by supplier",
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata={"Title": f"Stockwise reorder plan {ds}", "Creator": "Stockwise"})
    plt.close(fig)
    return buf.getvalue()


def _fmt(v) -> str:
    import pandas as pd

    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    if isinstance(v, float):
        return "" if v != v else f"{v:,.2f}" if abs(v) < 1000 and v != int(v) else f"{v:,.0f}"
    return str(v)[:24]
