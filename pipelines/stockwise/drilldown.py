"""A page per sku x location on the worklist: why this line, in pictures.

Linked from the report's worklist (the SKU cell), one self-contained HTML file each under
`positions/` of the report's partition: the recent sales with stockout days marked, the
forecast as a fan (P10-P90 around the mean and median), the projected inventory position over
the horizon with and without today's order against the reorder point and order-up-to, the
position's numbers and reason, its anomalies and the plan's lineage. At most `MAX_PAGES` pages
(the most urgent lines first: a chart takes about 0.2 s to draw); charts are PNG data URIs, no
script.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

MAX_PAGES = 100  # pages per report, the most urgent lines first (about 0.2 s a chart)
HISTORY_DAYS = 120

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933;max-width:1100px}
.sub{color:#52606d} table{border-collapse:collapse;font-size:.9rem;margin:1rem 0}
th,td{padding:.3rem .6rem;border-bottom:1px solid #e4e7eb;text-align:left} td.n{text-align:right}
img{max-width:100%;border:1px solid #e4e7eb} .reason{background:#f5f7fa;padding:.8rem 1rem;border-radius:6px}
"""


def slug(sku: str, location: str) -> str:
    """A file name for a position: readable, safe, unique (a short hash of the exact keys)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{sku}@{location}")[:80]
    digest = hashlib.sha256(f"{sku}\x00{location}".encode()).hexdigest()[:8]
    return f"{safe}-{digest}.html"


def chart(ds: str, pos, hist: pd.DataFrame, fc: pd.DataFrame) -> str:
    """Two panels as a PNG data URI: sales and forecast; projected inventory position."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    d = pd.to_datetime(hist["date"])
    # a filled step, not 120 bars: a tenth of the drawing time, the same picture
    top.fill_between(d, hist["qty"].astype(float), step="mid", color="#9fb3c8", lw=0, label="units sold")
    out = hist["stockout"].fillna(False).astype(bool).to_numpy()
    if out.any():
        top.scatter(d[out], np.zeros(out.sum()), marker="x", color="#e12d39", zorder=3, label="stockout day")
    if len(fc):
        f = pd.to_datetime(fc["date"])
        top.fill_between(f, fc["p10"], fc["p90"], color="#2680c2", alpha=0.25, label="forecast P10-P90")
        top.plot(f, fc["mean"], color="#2680c2", lw=1.8, label="forecast mean")
        top.plot(f, fc["p50"], color="#2680c2", lw=1, ls="--", label="median")
    top.axvline(pd.Timestamp(ds), color="#52606d", lw=0.8)
    top.set_ylabel("units a day")
    top.legend(fontsize=8, loc="upper left", ncols=3)
    top.set_title(f"{pos.sku} at {pos.location_id}: sales, stockouts and forecast")
    if len(fc):
        f = pd.to_datetime(fc["date"])
        used = np.cumsum(fc["mean"].to_numpy())
        start = float(pos.inventory_position)
        arrive = pd.Timestamp(ds) + pd.Timedelta(days=float(pos.lead_time_days))
        bottom.step(f, start - used, where="post", color="#52606d", label="inventory position, no order")
        with_order = start - used + np.where(f >= arrive, float(pos.order_qty), 0.0)
        if float(pos.order_qty) > 0:
            bottom.step(f, with_order, where="post", color="#3ebd93", lw=2, label="with today's order")
        bottom.axhline(float(pos.reorder_point), color="#f0b429", ls="--", lw=1, label="reorder point")
        bottom.axhline(float(pos.order_up_to), color="#2680c2", ls=":", lw=1, label="order-up-to")
        bottom.axhline(0, color="#e12d39", lw=0.6)
        bottom.legend(fontsize=8, loc="lower left", ncols=2)
    bottom.set_ylabel("units")
    bottom.set_title("projected at the forecast mean (orders arrive after the lead time)", fontsize=10)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.subplots_adjust(left=0.08, right=0.98, top=0.95, bottom=0.1, hspace=0.25)
    fig.savefig(buf, format="png", dpi=90)  # no bbox "tight": it draws the figure twice
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def page(ds: str, pos, hist: pd.DataFrame, fc: pd.DataFrame, alerts: pd.DataFrame | None, lineage: str) -> str:
    esc = html.escape
    facts = [
        ("item", pos.name),
        ("supplier", pos.supplier_id),
        ("segment and target", f"{pos.segment}, {float(pos.target):.1%} {str(pos.target_kind).replace('_', ' ')}"),
        ("on hand / on order", f"{float(pos.on_hand):,.0f} / {float(pos.on_order):,.0f}"),
        ("demand a day (forecast)", f"{float(pos.mu_d):,.2f} ± {float(pos.sigma_d):,.2f}"),
        ("lead time", f"{float(pos.lead_time_days):.1f} ± {float(pos.lead_time_days_std):.1f} days"),
        ("lead time from", pos.lead_time_source),
        ("reorder point / order-up-to", f"{float(pos.reorder_point):,.0f} / {float(pos.order_up_to):,.0f}"),
        ("order today", f"{float(pos.order_qty):,.0f} units, {float(pos.order_value):,.2f}"),
        ("need by", str(pos.need_by)[:10] if pos.need_by == pos.need_by else ""),
        ("forecast model", pos.forecast_method),
    ]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in facts)
    anomalies = ""
    if alerts is not None and len(alerts):
        mine = alerts[(alerts["sku"] == pos.sku) & (alerts["location_id"] == pos.location_id)]
        if len(mine):
            items = "".join(
                f"<li>{esc(str(a.date)[:10])}: {esc(str(a.type).replace('_', ' '))}, {esc(str(a.reason))}</li>"
                for a in mine.itertuples()
            )
            anomalies = f"<h2>Anomalies</h2><ul>{items}</ul>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{esc(str(pos.sku))} at {esc(str(pos.location_id))} · reorder plan {esc(ds)}</title><style>{CSS}</style></head>
<body><p><a href="../index.html">&larr; back to the plan</a></p>
<h1>{esc(str(pos.sku))} at {esc(str(pos.location_id))}</h1>{lineage}
<p class="reason">{esc(str(pos.reason))}</p>
<img alt="sales, forecast and projected stock" src="data:image/png;base64,{chart(ds, pos, hist, fc)}">
<table>{rows}</table>{anomalies}
</body></html>"""


def pages(
    ds: str,
    lines: pd.DataFrame,
    panel: pd.DataFrame | None,
    forecast: pd.DataFrame | None,
    alerts: pd.DataFrame | None,
    lineage: str = "",
) -> dict[str, str]:
    """`positions/<slug>` -> page, for the first MAX_PAGES of `lines` (plan rows, most urgent first)."""
    import pandas as pd

    lines = lines.head(MAX_PAGES)
    keys = lines[["sku", "location_id"]]
    empty = pd.DataFrame(columns=["sku", "location_id", "date", "qty", "stockout", "mean", "p10", "p50", "p90"])

    def subset(frame, cols, since=None):
        if frame is None or not len(frame):
            return {}
        f = frame.merge(keys, on=["sku", "location_id"])[["sku", "location_id", *cols]]
        if since is not None:
            f = f[pd.to_datetime(f["date"]) > since]
        return {k: g.sort_values("date") for k, g in f.groupby(["sku", "location_id"], sort=False)}

    since = pd.Timestamp(ds) - pd.Timedelta(days=HISTORY_DAYS)
    hist = subset(panel, ["date", "qty", "stockout"], since)
    fcs = subset(forecast, ["date", "mean", "p10", "p50", "p90"])
    out = {}
    for pos in lines.itertuples(index=False):
        k = (pos.sku, pos.location_id)
        out[f"positions/{slug(pos.sku, pos.location_id)}"] = page(
            ds, pos, hist.get(k, empty), fcs.get(k, empty), alerts, lineage
        )
    return out
