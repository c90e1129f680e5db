"""Job: the planner report, a self-contained HTML page (charts inline, readable offline)."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import time
from dataclasses import dataclass
from datetime import date

from stockwise import lake
from stockwise.planning.step import STAGING
from stockwise.publish import PLANS
from stockwise.settings import Settings
from stockwise.validation.step import DOCS

log = logging.getLogger(__name__)

REPORTS = "reports"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}
h1{margin-bottom:.2rem} .sub{color:#52606d;margin-top:0}
.kpis{display:flex;flex-wrap:wrap;gap:1rem;margin:1.5rem 0}
.kpi{background:#f5f7fa;border-radius:8px;padding:.8rem 1.2rem;min-width:9rem}
.kpi b{display:block;font-size:1.5rem} .kpi span{color:#52606d;font-size:.85rem}
.flag{background:#fff3c4;border-left:4px solid #f0b429;padding:.6rem 1rem;margin:1rem 0}
.held{background:#ffe3e3;border-left-color:#e12d39}
table{border-collapse:collapse;width:100%;font-size:.85rem} th,td{padding:.35rem .5rem;border-bottom:1px solid #e4e7eb;text-align:left}
th{background:#f5f7fa;position:sticky;top:0} td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:1rem} .charts img{max-width:48%;min-width:320px;border:1px solid #e4e7eb}
"""


@dataclass(frozen=True)
class ReportResult:
    ds: str
    html: str
    xlsx: str
    order_lines: int
    seconds: float


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def cost_of_service_chart(sim: dict):
    """Average inventory value against simulated fill rate as the target moves; the ERP's min/max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sim.get("curve") or []
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [p["fill_rate"] * 100 for p in pts]
    y = [p["avg_inventory_value"] for p in pts]
    ax.plot(x, y, "o-", color="#2680c2", label="Stockwise policy, target 85%..99.5%")
    for p, xi, yi in zip(pts, x, y, strict=True):
        ax.annotate(f"{p['target']:.1%}", (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7)
    k = sim["stockwise"]
    ax.plot(k["fill_rate"] * 100, k["avg_inventory_value"], "*", ms=14, color="#0b6e4f", label="this plan")
    mm = sim.get("minmax")
    if mm:
        e = mm["erp"]
        ax.plot(e["fill_rate"] * 100, e["avg_inventory_value"], "D", color="#e12d39",
                label=f"ERP min/max ({mm['series']} series)")
    ax.set_xlabel("simulated fill rate (%)")
    ax.set_ylabel("average inventory value")
    ax.set_title(f"Cost of service, replay {sim['window'][0]}..{sim['window'][1]}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    png = _png(fig)
    plt.close(fig)
    return ("Cost of service (simulated)", png)


def charts(orders, positions, sim: dict | None = None) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    if sim:
        c = cost_of_service_chart(sim)
        if c:
            out.append(c)
    if len(orders):
        top = orders.nlargest(15, "order_value").iloc[::-1]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.barh(top["sku"] + " @ " + top["location_id"], top["order_value"], color="#2680c2")
        ax.set_xlabel("order value")
        ax.set_title("Largest order lines by value")
        out.append(("Largest order lines by value", _png(fig)))
        plt.close(fig)
        by_sup = orders.groupby("supplier_id")["order_value"].sum().sort_values()
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.barh(by_sup.index, by_sup.to_numpy(), color="#3ebd93")
        ax.set_xlabel("order value")
        ax.set_title("Order value by supplier")
        out.append(("Order value by supplier", _png(fig)))
        plt.close(fig)
    cover = positions["days_of_cover"].replace([float("inf")], float("nan")).dropna().clip(upper=90)
    if len(cover):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(cover, bins=30, color="#9aa5b1")
        ax.set_xlabel("days of cover before ordering (capped at 90)")
        ax.set_ylabel("sku x locations")
        ax.set_title("Days of cover")
        out.append(("Days of cover", _png(fig)))
        plt.close(fig)
    return out


def anomaly_section(alerts, esc) -> str:
    """Counts by type and the alerts with the most money at risk."""
    if alerts is None:
        return ""
    if not len(alerts):
        return "<h2>Inventory anomalies</h2><p>No anomalies in the last weeks.</p>"
    counts = alerts["type"].value_counts()
    chips = "".join(f"<div class='kpi'><b>{n:,}</b><span>{esc(t.replace('_', ' '))}</span></div>" for t, n in counts.items())
    top = alerts.nlargest(20, "value_at_risk")
    rows = "".join(
        f"<tr><td>{esc(str(r.date)[:10])}</td><td>{esc(r.type.replace('_', ' '))}{' (open)' if r.open else ''}</td>"
        f"<td>{esc(r.sku)}</td><td>{esc(r.location_id)}</td><td class='n'>{r.magnitude:,.0f}</td>"
        f"<td class='n'>{r.value_at_risk:,.2f}</td><td>{esc(r.reason)}</td></tr>" for r in top.itertuples())
    return (f"<h2>Inventory anomalies ({len(alerts):,}, {alerts['value_at_risk'].sum():,.2f} at risk)</h2>"
            f"<div class='kpis'>{chips}</div><table><thead><tr><th>day</th><th>type</th><th>sku</th><th>location</th>"
            f"<th>units</th><th>value at risk</th><th>why</th></tr></thead><tbody>{rows}</tbody></table>")


def render(ds: str, orders, positions, meta: dict, forecast_meta: dict, docs_href: str | None,
           sim: dict | None = None, alerts=None) -> str:
    esc = html.escape
    kind = str(meta.get("target_kind", "fill_rate")).replace("_", " ")
    kpis = [
        ("order lines", f"{len(orders):,}"),
        ("units to order", f"{orders['order_qty'].sum():,.0f}"),
        ("order value", f"{orders['order_value'].sum():,.2f}"),
        ("sku x locations planned", f"{len(positions):,}"),
        (f"target {kind}", f"{meta.get('service_level', 0):.1%}"),
        ("at or below reorder point", f"{(positions['inventory_position'] <= positions['reorder_point']).mean():.0%}"),
    ]
    if sim:
        k = sim["stockwise"]
        kpis += [("simulated fill rate", f"{k['fill_rate']:.1%}"),
                 ("simulated cycle service", f"{k['cycle_service_level']:.1%}"),
                 ("simulated avg inventory value", f"{k['avg_inventory_value']:,.0f}"),
                 ("simulated stockout days", f"{k['stockout_days']:,.0f}")]
        if sim.get("minmax"):
            e, s2 = sim["minmax"]["erp"], sim["minmax"]["stockwise"]
            kpis.append(("ERP min/max: simulated fill", f"{e['fill_rate']:.1%}"))
            if e["avg_inventory_value"]:
                kpis.append(("inventory value vs ERP min/max",
                             f"{s2['avg_inventory_value'] / e['avg_inventory_value'] - 1:+.0%}"))
    bt = forecast_meta.get("backtest", {})
    if "wape" in bt:
        kpis.append(("forecast WAPE (backtest)", f"{bt['wape']:.2f}"))
        kpis.append(("80% interval coverage", f"{bt.get('coverage_80', float('nan')):.0%}"))
    if "wrmsse" in bt:
        kpis.append(("forecast WRMSSE (backtest)", f"{bt['wrmsse']:.3f}"))
    flag = ""
    gate = meta.get("gate") or {}
    if gate.get("held"):
        flag += (f"<div class='flag held'><b>Plan held back, not published.</b> {esc(str(gate.get('why')))}. "
                 "Check the forecast and recent demand; rerun with <code>publish_if_gate_fails</code> to publish anyway.</div>")
    elif gate and not gate.get("passed", True):
        flag += f"<div class='flag'>Gate overridden: {esc(str(gate.get('why')))}.</div>"
    if forecast_meta.get("baseline"):
        flag += (f"<div class='flag'>Forecasts come from the <b>{esc(str(forecast_meta.get('method')))}</b> "
                "baseline: no champion demand model is registered yet.</div>")
    rows = []
    cols = [("sku", "sku"), ("location", "location_id"), ("item", "name"), ("supplier", "supplier_id"),
            ("segment", "segment"), ("target", "target"), ("on hand", "on_hand"), ("on order", "on_order"),
            ("reorder point", "reorder_point"), ("order-up-to", "order_up_to"), ("order qty", "order_qty"), ("value", "order_value"), ("need by", "need_by"), ("reason", "reason")]
    for r in orders.itertuples(index=False):
        cells = []
        for _, c in cols:
            v = getattr(r, c)
            if c == "target":
                cells.append(f"<td class='n'>{v:.1%}</td>")
            elif c == "need_by":
                cells.append(f"<td>{esc(str(v)[:10])}</td>")
            elif isinstance(v, float):
                cells.append(f"<td class='n'>{v:,.0f}</td>" if c != "order_value" else f"<td class='n'>{v:,.2f}</td>")
            else:
                cells.append(f"<td>{esc(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    imgs = "".join(f"<img alt='{esc(t)}' src='data:image/png;base64,{b}'>" for t, b in charts(orders, positions, sim))
    docs = f"<a href='{esc(docs_href)}'>Data quality (Great Expectations Data Docs)</a>" if docs_href else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Stockwise reorder plan {esc(ds)}</title><style>{CSS}</style></head><body>
<h1>Reorder plan {esc(ds)}{' (held back)' if gate.get('held') else ''}</h1>
<p class="sub">Plan {esc(str(meta.get('plan_id', '')))} · forecasts: {esc(str(forecast_meta.get('method', '?')))} · {docs} · <a href="reorder_plan.xlsx">Excel</a></p>
{flag}
<div class="kpis">{''.join(f"<div class='kpi'><b>{esc(v)}</b><span>{esc(k)}</span></div>" for k, v in kpis)}</div>
<div class="charts">{imgs}</div>
<h2>Order lines ({len(orders):,})</h2>
<table><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h, _ in cols)}</tr></thead>
<tbody>{''.join(rows)}</tbody></table>
{anomaly_section(alerts, esc)}
</body></html>"""


def run(ds: date, settings: Settings | None = None) -> ReportResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    # the staged plan is what was computed; it is also what was published unless the gate held it
    staged = lake.read_manifest(store, STAGING, d)
    positions = lake.read_parquet(store, STAGING, d, "plan.parquet")
    orders = positions[positions["order_qty"] > 0].reset_index(drop=True)
    sim = json.loads(lake.read_file(store, STAGING, d, "simulation.json")) if "simulation.json" in staged.files else None
    meta = dict(staged.meta)
    if lake.has_partition(store, PLANS, d) and not (meta.get("gate") or {}).get("held"):
        meta.update(lake.read_manifest(store, PLANS, d).meta)
    fmeta = lake.read_manifest(store, "forecasts", d).meta
    docs_href = None
    if lake.has_partition(store, DOCS, d):
        docs_key = lake.read_manifest(store, DOCS, d).key("index.html")
        # reports/ds=D/v=H/index.html -> the lake root is three levels up
        docs_href = "../../../" + docs_key
    alerts = lake.read_parquet(store, "anomalies", d, "alerts.parquet") if lake.has_partition(store, "anomalies", d) else None
    page = render(d, orders, positions, meta, fmeta, docs_href, sim, alerts)
    xlsx = io.BytesIO()
    export = orders.copy()
    export["need_by"] = export["need_by"].astype(str).str[:10]
    export.to_excel(xlsx, index=False, sheet_name="order lines")
    part = lake.write_partition(
        store, REPORTS, d, {"index.html": page.encode(), "reorder_plan.xlsx": xlsx.getvalue()},
        meta={"plan_id": meta.get("plan_id"), "order_lines": len(orders),
              "held": bool((meta.get("gate") or {}).get("held"))},
    )
    uri = store.uri(part.key("index.html"))
    log.info("report: %s", uri)
    return ReportResult(d, uri, store.uri(part.key("reorder_plan.xlsx")), len(orders),
                        round(time.monotonic() - t0, 1))
