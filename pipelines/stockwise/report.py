"""Job: the planner report, a self-contained HTML page (charts inline, readable offline)."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

from stockwise import catalog, drilldown, exports, finance, lake, workbook, worklist
from stockwise.catalog import ANOMALIES, DATA_DOCS, FORECASTS, INTRADAY, PLANS, REPORTS, STAGED_PLAN
from stockwise.settings import Settings

log = logging.getLogger(__name__)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}
h1{margin-bottom:.2rem} .sub{color:#52606d;margin-top:0}
.kpis{display:flex;flex-wrap:wrap;gap:1rem;margin:1.5rem 0}
.kpi{background:#f5f7fa;border-radius:8px;padding:.8rem 1.2rem;min-width:9rem}
.kpi b{display:block;font-size:1.5rem} .kpi span{color:#52606d;font-size:.85rem}
.flag{background:#fff3c4;border-left:4px solid #f0b429;padding:.6rem 1rem;margin:1rem 0}
.held{background:#ffe3e3;border-left-color:#e12d39}
.scenario{background:#e6f6ff;border-left-color:#2680c2} .superseded{background:#ffe3e3;border-left:6px solid #e12d39}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{padding:.35rem .5rem;border-bottom:1px solid #e4e7eb;text-align:left}
th{background:#f5f7fa;position:sticky;top:0} td.n{text-align:right;font-variant-numeric:tabular-nums}
.intraday{border:2px solid #e12d39;border-radius:8px;padding:.4rem 1rem;margin:1rem 0}
.intraday h2{margin:.4rem 0} .intraday td.urgent{color:#e12d39;font-weight:600}
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
    net = sim.get("network")
    if net and not sim.get("direct_lines"):
        # the curve is the stores buying direct; what is published is the network (store + DC stock)
        ax.lines[0].set_label("stores buying direct, target 85%..99.5%")
        ax.lines[1].set_label("this plan, stores buying direct")
        ax.lines[1].set_alpha(0.4)
        nk = net["kpis"]
        ax.plot(nk["store_fill_rate"] * 100, nk["network_inventory_value"], "*", ms=16, color="#6b3fa0",
                label="this plan: the network (stores + DC stock)")  # fmt: skip
        e = (net.get("minmax") or {}).get("erp")
        if e:
            ax.plot(e["store_fill_rate"] * 100, e["network_inventory_value"], "D", color="#e12d39",
                    label=f"ERP min/max network ({net['minmax']['series']} lines)")  # fmt: skip
    elif sim.get("minmax"):
        mm = sim["minmax"]
        e = mm["erp"]
        ax.plot(
            e["fill_rate"] * 100,
            e["avg_inventory_value"],
            "D",
            color="#e12d39",
            label=f"ERP min/max ({mm['series']} series)",
        )
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
    chips = "".join(
        f"<div class='kpi'><b>{n:,}</b><span>{esc(t.replace('_', ' '))}</span></div>" for t, n in counts.items()
    )
    top = alerts.nlargest(20, "value_at_risk")
    rows = "".join(
        f"<tr><td>{esc(str(r.date)[:10])}</td><td>{esc(r.type.replace('_', ' '))}{' (open)' if r.open else ''}</td>"
        f"<td>{esc(r.sku)}</td><td>{esc(r.location_id)}</td><td class='n'>{r.magnitude:,.0f}</td>"
        f"<td class='n'>{r.value_at_risk:,.2f}</td><td>{esc(r.reason)}</td></tr>"
        for r in top.itertuples()
    )
    return (
        f"<h2>Inventory anomalies ({len(alerts):,}, {alerts['value_at_risk'].sum():,.2f} at risk)</h2>"
        f"<div class='kpis'>{chips}</div><table><thead><tr><th>day</th><th>type</th><th>sku</th><th>location</th>"
        f"<th>units</th><th>value at risk</th><th>why</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def comparison_section(comparison: dict | None, esc) -> str:
    """A scenario against the official plan of the same day."""
    if not comparison:
        return ""
    if not comparison.get("official"):
        return "<h2>Against the official plan</h2><p>No official plan has been published for this date yet.</p>"
    rows = []
    for label, key, fmt in (
        ("order lines", "lines", "{:,.0f}"),
        ("units to order", "units", "{:,.0f}"),
        ("order value", "value", "{:,.2f}"),
        ("simulated fill rate", "fill_rate", "{:.1%}"),
        ("simulated avg inventory value", "inventory_value", "{:,.0f}"),
    ):
        o, sc = comparison["official"].get(key), comparison["scenario"].get(key)
        if o is None or sc is None:
            cells = [fmt.format(v) if v is not None else "n/a" for v in (o, sc)] + ["n/a"]
        else:
            diff = sc - o
            cells = [fmt.format(o), fmt.format(sc), ("+" if diff >= 0 else "") + fmt.format(diff)]
        rows.append(f"<tr><td>{esc(label)}</td>" + "".join(f"<td class='n'>{esc(c)}</td>" for c in cells) + "</tr>")
    return (
        "<h2>Against the official plan</h2><table class='compare'><thead><tr><th></th><th>official "
        f"(version {esc(str(comparison.get('official_version', '')))})</th><th>this scenario</th>"
        f"<th>difference</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def exceptions_section(exceptions, esc) -> str:
    if exceptions is None or not len(exceptions):
        return ""
    rows = "".join(
        f"<tr><td>{esc(str(r.sku))}</td><td>{esc(str(r.location_id))}</td><td>{esc(str(r.detail))}</td></tr>"
        for r in exceptions.itertuples(index=False)
    )
    return (
        f"<h2>Needs master data ({len(exceptions):,} lines not ordered)</h2><p>Stockwise does not guess a unit "
        "cost, pack size, supplier or lead time: these lines are not ordered until the ERP has them.</p>"
        f"<table><thead><tr><th>sku</th><th>location</th><th>what is missing</th></tr></thead><tbody>{rows}"
        "</tbody></table>"
    )


NETWORK_ROWS = 200  # DC lines at risk shown on the page (all are in the plan's files)


def network_section(positions, esc) -> str:
    """A network plan's view: stock and buffer by echelon per DC, and the DC lines at risk of
    starving their stores (stores asked for more than the DC has today, or its stock runs out
    before a purchase ordered today could land). Empty for a plan without DC lines."""
    if positions is None or "echelon" not in positions or not positions["echelon"].eq("dc").any():
        return ""
    p = positions
    dcs = p[p["echelon"] == "dc"]
    st = p[p["order_type"] == "transfer"]
    value = lambda d, c: float((d[c].clip(lower=0) * d["unit_cost"]).sum())  # noqa: E731
    rows = []
    for dc_id, d in dcs.groupby("location_id"):
        s = st[st["source_id"] == dc_id]
        rows.append(
            f"<tr><td>{esc(str(dc_id))}</td><td class='n'>{len(d):,}</td><td class='n'>{value(d, 'on_hand'):,.0f}</td>"
            f"<td class='n'>{value(d, 'safety_stock'):,.0f}</td><td class='n'>{(d['order_qty'] > 0).sum():,}</td>"
            f"<td class='n'>{s['location_id'].nunique():,}</td><td class='n'>{value(s, 'on_hand'):,.0f}</td>"
            f"<td class='n'>{value(s, 'safety_stock'):,.0f}</td><td class='n'>{(s['order_qty'] > 0).sum():,}</td>"
            f"<td class='n'>{float(s['requested_qty'].sum() - s['order_qty'].sum()):,.0f}</td></tr>"
        )
    asked = st.groupby(["sku", "source_id"])[["requested_qty", "order_qty"]].sum()
    d = dcs.merge(asked, left_on=["sku", "location_id"], right_index=True, how="left", suffixes=("", "_stores"))
    owed = (d["requested_qty_stores"] - d["order_qty_stores"]).fillna(0.0)
    cover = d["on_hand"] / d["mu_d"].where(d["mu_d"] > 0)
    risk = d[(owed > 1e-9) | (cover < d["lead_time_days"])].assign(owed=owed, cover=cover)
    risk = risk.sort_values(["owed", "cover"], ascending=[False, True])
    lines = "".join(
        f"<tr><td>{esc(str(r.sku))}</td><td>{esc(str(r.name))}</td><td>{esc(str(r.location_id))}</td>"
        f"<td class='n'>{r.on_hand:,.0f}</td><td class='n'>{r.mu_d:,.1f}</td>"
        f"<td class='n'>{'–' if r.cover != r.cover else f'{r.cover:,.1f}'}</td>"
        f"<td class='n'>{r.lead_time_days:,.0f}</td>"
        f"<td class='n'>{r.owed:,.0f}</td><td class='n'>{r.order_qty:,.0f}</td></tr>"
        for r in risk.head(NETWORK_ROWS).itertuples(index=False)
    )
    more = f"<p>{len(risk) - NETWORK_ROWS:,} more in the plan's files.</p>" if len(risk) > NETWORK_ROWS else ""
    return (
        "<section id='network'><h2>Network: stores served by a DC</h2>"
        "<p>Stock and safety stock by echelon, at cost. Each store line's reason says where its buffer sits "
        "and why; the DC's planned fill rate to its stores is on its line.</p>"
        "<table class='network'><thead><tr><th>DC</th><th>DC lines</th><th>DC stock</th><th>DC buffer</th>"
        "<th>DC orders today</th><th>stores</th><th>store stock</th><th>store buffer</th><th>transfers today</th>"
        f"<th>units owed to stores</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<h3>DC lines at risk of starving stores ({len(risk):,})</h3>"
        "<p>Stores asked for more than the DC has today, or its stock lasts less than its supplier's lead time.</p>"
        "<table class='network-risk'><thead><tr><th>sku</th><th>item</th><th>DC</th><th>on hand</th>"
        "<th>stores' demand/day</th><th>days of stock</th><th>lead time</th><th>owed today</th><th>ordered today</th>"
        f"</tr></thead><tbody>{lines}</tbody></table>{more}</section>"
    )


def plan_kpis(orders, sim: dict | None) -> dict:
    k = (sim or {}).get("stockwise") or {}
    return {
        "lines": len(orders),
        "units": float(orders["order_qty"].sum()),
        "value": float(orders["order_value"].sum()),
        "fill_rate": k.get("fill_rate"),
        "inventory_value": k.get("avg_inventory_value"),
    }


def render(
    ds: str,
    orders,
    positions,
    meta: dict,
    forecast_meta: dict,
    docs_href: str | None,
    sim: dict | None = None,
    alerts=None,
    lineage: dict | None = None,
    comparison: dict | None = None,
    exceptions=None,
    book: dict | None = None,
    kinds: dict | None = None,
    pages: set[str] | None = None,
    money: str = "",
    intraday: str = "",
) -> str:
    """The page: header and lineage, banners, KPIs, charts, the worklist (the workbook's order
    lines, purchase orders and positions at risk: `book`, `kinds`), exceptions, anomalies."""
    esc = html.escape
    if book is None:  # the order lines alone
        lines, line_kinds = workbook.order_lines(orders)
        book, kinds = {"Order lines": lines}, {"Order lines": line_kinds}
    lineage = lineage or {}
    scenario = lineage.get("scenario")
    gate = meta.get("gate") or {}
    kpis = _kpis(orders, positions, meta, forecast_meta, sim)
    imgs = "".join(f"<img alt='{esc(t)}' src='data:image/png;base64,{b}'>" for t, b in charts(orders, positions, sim))
    docs = f"<a href='{esc(docs_href)}'>Data quality (validation results)</a>" if docs_href else ""
    title_note = f" · scenario {esc(scenario)}" if scenario else ""
    method = esc(str(forecast_meta.get("method", "?")))
    plan = esc(str(meta.get("plan_id", "")))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
script-src {worklist.script_hash()}">
<title>Stockwise reorder plan {esc(ds)}</title><style>{CSS}{worklist.CSS}</style></head><body>
<!-- stockwise:superseded -->
<h1>Reorder plan {esc(ds)}{" (held back)" if gate.get("held") else ""}{title_note}</h1>
<p class="sub">Plan {plan} · forecasts: {method} · {docs} · <a href="reorder_plan.xlsx">Excel</a> · \
<a href="summary.pdf">PDF summary</a></p>
{_lineage(meta, lineage, esc)}
{_banners(gate, forecast_meta, lineage, esc)}
{INTRADAY_MARK}{intraday}{INTRADAY_END}
{comparison_section(comparison, esc)}
<div class="kpis">{"".join(f"<div class='kpi'><b>{esc(v)}</b><span>{esc(k)}</span></div>" for k, v in kpis)}</div>
<div class="charts">{imgs}</div>
{worklist.sections(ds, book, kinds or {}, pages)}
{network_section(positions, esc)}
{money}
{exceptions_section(exceptions, esc)}
{anomaly_section(alerts, esc)}
<script>{worklist.SCRIPT}</script>
</body></html>"""


def _kpis(orders, positions, meta: dict, forecast_meta: dict, sim: dict | None) -> list[tuple[str, str]]:
    kind = str(meta.get("target_kind", "fill_rate")).replace("_", " ")
    kpis = [
        ("order lines", f"{len(orders):,}"),
        ("units to order", f"{orders['order_qty'].sum():,.0f}"),
        ("order value", f"{orders['order_value'].sum():,.2f}"),
        ("sku x locations planned", f"{len(positions):,}"),
        (f"target {kind}", f"{meta.get('service_level', 0):.1%}"),
        ("at or below reorder point", f"{(positions['inventory_position'] <= positions['reorder_point']).mean():.0%}"),
    ]
    net = (sim or {}).get("network")
    if sim and net and not sim.get("direct_lines"):
        # every store is served by its DC: the network replay is what the plan was checked on
        k = net["kpis"]
        kpis += [
            ("simulated store fill rate (network)", f"{k['store_fill_rate']:.1%}"),
            ("simulated DC fill to stores", f"{k['dc_fill_rate']:.1%}"),
            ("simulated network inventory value", f"{k['network_inventory_value']:,.0f}"),
        ]
        if net.get("minmax"):
            e = net["minmax"]["erp"]
            kpis.append(("ERP min/max network: simulated store fill", f"{e['store_fill_rate']:.1%}"))
            if e["network_inventory_value"]:
                change = k["network_inventory_value"] / e["network_inventory_value"] - 1
                kpis.append(("network inventory value vs ERP min/max", f"{change:+.0%}"))
    elif sim and sim.get("stockwise"):
        k = sim["stockwise"]
        kpis += [
            ("simulated fill rate", f"{k['fill_rate']:.1%}"),
            ("simulated cycle service", f"{k['cycle_service_level']:.1%}"),
            ("simulated avg inventory value", f"{k['avg_inventory_value']:,.0f}"),
            ("simulated stockout days", f"{k['stockout_days']:,.0f}"),
        ]
        if sim.get("minmax"):
            e, s2 = sim["minmax"]["erp"], sim["minmax"]["stockwise"]
            kpis.append(("ERP min/max: simulated fill", f"{e['fill_rate']:.1%}"))
            if e["avg_inventory_value"]:
                kpis.append(
                    (
                        "inventory value vs ERP min/max",
                        f"{s2['avg_inventory_value'] / e['avg_inventory_value'] - 1:+.0%}",
                    )
                )
    bt = forecast_meta.get("backtest", {})
    if "wape" in bt:
        kpis.append(("forecast WAPE (backtest)", f"{bt['wape']:.2f}"))
        kpis.append(("80% interval coverage", f"{bt.get('coverage_80', float('nan')):.0%}"))
    if "wrmsse" in bt:
        kpis.append(("forecast WRMSSE (backtest)", f"{bt['wrmsse']:.3f}"))
    return kpis


def _banners(gate: dict, forecast_meta: dict, lineage: dict, esc) -> str:
    """What a planner must know before acting: scenario, held plan, gate override, model fallback."""
    flag = ""
    scenario = lineage.get("scenario")
    if scenario:
        flag += (
            f"<div class='flag scenario'><b>Scenario '{esc(scenario)}', not published.</b> What-if "
            f"{esc(', '.join(f'{k} = {v}' for k, v in (lineage.get('whatifs') or {}).items()) or 'run')}: "
            "nothing went to the ERP and the official plan is untouched.</div>"
        )
    if gate.get("held"):
        in_force = lineage.get("in_force")
        keep = (
            f" The plan in force is still version {esc(in_force)}."
            if in_force
            else " No plan is in force for this date."
        )
        flag += (
            f"<div class='flag held'><b>Plan held back, not published.</b> {esc(str(gate.get('why')))}.{keep} "
            "Check the forecast and recent demand; "
            "rerun with <code>publish_if_gate_fails</code> to publish anyway.</div>"
        )
    elif gate and not gate.get("passed", True):
        flag += f"<div class='flag'>Gate overridden: {esc(str(gate.get('why')))}.</div>"
    if forecast_meta.get("fallback"):
        flag += (
            f"<div class='flag held'><b>Forecast model fallback.</b> {esc(str(forecast_meta['fallback']))}. "
            "Look at the model registry before acting on unusual lines.</div>"
        )
    if forecast_meta.get("baseline") and not forecast_meta.get("fallback"):
        flag += (
            f"<div class='flag'>Forecasts come from the <b>{esc(str(forecast_meta.get('method')))}</b> "
            "baseline: no champion demand model is registered yet.</div>"
        )
    return flag


def _lineage(meta: dict, lineage: dict, esc) -> str:
    as_of = lineage.get("data_as_of") or {}
    prov = lineage.get("model") or {}
    model = (
        f" · model {esc(str(lineage.get('method', '')))}: {esc(prov.get('how', ''))} by {esc(prov.get('by', '?'))} "
        f"at {esc(prov.get('at', '?'))}" + (f" ({esc(prov['why'])})" if prov.get("why") else "")
        if prov
        else ""
    )
    return (
        f"<p class='sub lineage'>Plan <b>{esc(str(meta.get('plan_id', '')))}</b>"
        + (f" version <code>{esc(lineage['version'])}</code>" if lineage.get("version") else " (not published)")
        + (" · data as of " + ", ".join(f"{esc(k)} {esc(v)}" for k, v in as_of.items() if v) if as_of else "")
        + model
        + (f" · code <code>{esc(str(meta['code_version']))}</code>" if meta.get("code_version") else "")
        + "</p>"
    )


def run(ds: date, settings: Settings | None = None) -> ReportResult:
    settings = settings or Settings()
    store = lake.open_lake(settings)
    d = ds.isoformat()
    t0 = time.monotonic()
    if not settings.scenario:
        # a publish killed after its ERP commit is finished first: the report names what the ERP holds
        from stockwise.erp.connect import connect
        from stockwise.publish import reconcile

        reconcile(store, connect(settings), ds)
    # the staged plan is what was computed; it is also what was published unless the gate held it
    staged = STAGED_PLAN.manifest(store, d)
    positions = STAGED_PLAN.read(store, d)
    orders = positions[positions["order_qty"] > 0].reset_index(drop=True)
    sim = json.loads(STAGED_PLAN.read_bytes(store, d, "simulation.json")) if "simulation.json" in staged.files else None
    meta = dict(staged.meta)
    held = bool((meta.get("gate") or {}).get("held"))
    lineage: dict = {"scenario": settings.scenario, "whatifs": meta.get("whatifs") or {}}
    if PLANS.exists(store, d):
        published = PLANS.manifest(store, d)
        if held:
            lineage["in_force"] = published.version
        else:
            meta.update(published.meta)
            lineage["version"] = published.version
    lineage["data_as_of"] = {
        n: catalog.validated(n).manifest(store, d).meta.get("newest")
        for n in ("sales", "stock", "movements")
        if catalog.validated(n).exists(store, d)
    }
    fmeta = FORECASTS.manifest(store, d).meta
    lineage["model"] = fmeta.get("model_provenance") or {}
    lineage["method"] = fmeta.get("method", "")
    docs_href = None
    if DATA_DOCS.exists(store, d):
        docs_key = DATA_DOCS.manifest(store, d).key("index.html")
        # reports/ds=D/v=H/index.html -> the lake root is three levels up; a scenario's report sits
        # two levels deeper (scenarios/<name>/) and reads the official run's docs from the root
        shared = isinstance(store, lake.ScenarioStore) and store.reads_official(docs_key)
        docs_href = ("../../../../../" if shared else "../../../") + docs_key
    alerts = ANOMALIES.read_if_there(store, d)
    comparison = compare_with_official(settings, ds, orders, sim) if settings.scenario else None
    from stockwise.publish import exceptions_of

    exceptions = exceptions_of(positions)
    book, kinds = workbook.sheets(
        orders,
        positions,
        _summary(d, meta, lineage, held),
        exceptions,
        alerts,
        _supplier_performance(store, ds),
        ds=d,
        supplier_names=_supplier_names(store, ds),
    )
    urgent = orders.sort_values(["need_by", "order_value"], ascending=[True, False])
    panel = (
        catalog.read_panel(
            store, ds, days=drilldown.HISTORY_DAYS + 1, columns=["sku", "location_id", "date", "qty", "stockout"]
        )
        if catalog.DEMAND_PANEL.exists(store, d)
        else None
    )
    positions_pages = drilldown.pages(
        d, urgent, panel, FORECASTS.read_if_there(store, d), alerts, _lineage(meta, lineage, html.escape)
    )
    money = _money(store, ds, positions, settings, book, kinds)  # adds its tables to the workbook too
    # read before the page's part: a revision landing in between shows as one the page lacks
    shown = {} if settings.scenario else intraday_revisions(store, ds)
    page = render(
        d,
        orders,
        positions,
        meta,
        fmeta,
        docs_href,
        sim,
        alerts,
        lineage,
        comparison,
        exceptions,
        book,
        kinds,
        set(positions_pages),
        money,
        "" if settings.scenario else intraday_section(store, ds),
    )
    xlsx = exports.xlsx_bytes(book, kinds)
    pdf = _pdf(d, meta, fmeta, lineage, sim, orders, positions, settings, book)
    part = REPORTS.write(
        store,
        d,
        {
            "index.html": page.encode(),
            "reorder_plan.xlsx": xlsx,
            "summary.pdf": pdf,
            **{k: v.encode() for k, v in positions_pages.items()},
        },
        meta={
            "plan_id": meta.get("plan_id"),
            "plan_version": lineage.get("version"),
            "order_lines": len(orders),
            "held": held,
            "scenario": settings.scenario,
            "intraday_revisions": shown,
        },
    )
    uri = store.uri(part.key("index.html"))
    log.info("report: %s", uri)
    return ReportResult(d, uri, store.uri(part.key("reorder_plan.xlsx")), len(orders), round(time.monotonic() - t0, 1))


def _pdf(d: str, meta: dict, fmeta: dict, lineage: dict, sim, orders, positions, settings: Settings, book) -> bytes:
    """The one-page PDF summary for management (`stockwise.summary_pdf`)."""
    import re

    from stockwise import summary_pdf

    gate = meta.get("gate") or {}
    note = (
        " (held back)"
        if gate.get("held")
        else (f" · scenario {lineage['scenario']}" if lineage.get("scenario") else "")
    )
    text = html.unescape(re.sub(r"<[^>]+>", "", _lineage(meta, lineage, html.escape)))
    chart = cost_of_service_chart(sim) if sim else None
    return summary_pdf.pdf_bytes(
        d,
        note,
        text,
        _kpis(orders, positions, meta, fmeta, sim),
        finance.figures(positions, settings.holding_rate),
        settings.currency,
        chart[1] if chart else None,
        orders,
        book.get("Purchase orders"),
    )


def _money(store, ds: date, positions, settings: Settings, book: dict, kinds: dict) -> str:
    """The plan in money against the previous official plan (of the last 14 days); the tables
    by supplier and category also go into the workbook (`book`)."""
    from datetime import timedelta

    now = finance.figures(positions, settings.holding_rate)
    before, before_ds = None, None
    for back in range(1, 15):
        prev = (ds - timedelta(days=back)).isoformat()
        if PLANS.exists(store, prev) and "all_positions.parquet" in PLANS.manifest(store, prev).files:
            before = finance.figures(PLANS.read(store, prev, "all_positions.parquet"), settings.holding_rate)
            before_ds = prev
            break
    cur = f" ({settings.currency})" if settings.currency else ""
    money_kinds = {
        f"Inventory value{cur}": "money",
        f"To order{cur}": "money",
        "Lines": "int",
        "Days of supply": "days",
    }
    html_parts = [finance.section(now, before, before_ds, settings.currency)]
    for key, title in (("supplier_id", "Supplier"), ("category", "Category")):
        if key not in positions:
            continue
        t = finance.by(positions, key).rename(
            columns={
                key: title,
                "inventory_value": f"Inventory value{cur}",
                "order_value": f"To order{cur}",
                "lines": "Lines",
                "days_of_supply": "Days of supply",
            }
        )
        book[f"Value by {title.lower()}"], kinds[f"Value by {title.lower()}"] = t, money_kinds
        html_parts.append(f"<h3>By {title.lower()}</h3>" + worklist.table(t, money_kinds, f"money-{key}"))
    return "".join(html_parts)


def _supplier_names(store, ds: date) -> dict[str, str]:
    """The supplier master's names by id, where the ERP has them."""
    sup = catalog.validated("suppliers").read_if_there(store, ds)
    if sup is None or "name" not in sup:
        return {}
    named = sup.dropna(subset=["name"])
    return dict(zip(named["supplier_id"].astype(str), named["name"].astype(str), strict=True))


def _supplier_performance(store, ds: date):
    """Promised against actual lead times per supplier, from the run's validated extracts."""
    from stockwise.planning import leadtime

    items, suppliers = (catalog.validated(n).read_if_there(store, ds) for n in ("items", "suppliers"))
    if items is None or suppliers is None:
        return None
    return leadtime.performance(catalog.validated("receipts").read_if_there(store, ds), items, suppliers, ds)


def _summary(d: str, meta: dict, lineage: dict, held: bool) -> list[tuple[str, object]]:
    """The workbook's first rows: which plan this is, its state and its lineage."""
    if lineage.get("scenario"):
        state = f"scenario {lineage['scenario']}, not published"
    elif held:
        state = "held back by the simulation gate (not published)"
    else:
        state = f"published, version {lineage['version']}" if lineage.get("version") else "not published"
    prov = lineage.get("model") or {}
    gate = meta.get("gate") or {}
    return [
        ("Plan", meta.get("plan_id", "")),
        ("Run date", d),
        ("State", state),
        ("Data as of", ", ".join(f"{k} {v}" for k, v in (lineage.get("data_as_of") or {}).items() if v)),
        ("Forecast", " ".join(str(x) for x in (lineage.get("method", ""), prov.get("how", "")) if x)),
        ("Simulation gate", gate.get("why", "")),
        ("Policy", f"{meta.get('policy', '')}, {meta.get('target_kind', '')} target {meta.get('service_level', '')}"),
        ("Code version", meta.get("code_version", "")),
    ]


def compare_with_official(settings: Settings, ds: date, orders, sim: dict | None) -> dict:
    """The scenario's figures beside the official plan of the same day (if one was published)."""
    official = lake.open_official(settings)
    d = ds.isoformat()
    out: dict = {"scenario": plan_kpis(orders, sim), "official": None}
    if PLANS.exists(official, d):
        part = PLANS.manifest(official, d)
        o_orders = PLANS.read(official, d)
        o_sim = json.loads(official.get(part.key("simulation.json"))) if "simulation.json" in part.files else None
        out["official"] = plan_kpis(o_orders, o_sim)
        out["official_version"] = part.version
    return out


SUPERSEDED = "<!-- stockwise:superseded -->"
INTRADAY_MARK, INTRADAY_END = "<!-- stockwise:intraday -->", "<!-- /stockwise:intraday -->"
INTRADAY_ROWS = 500  # per table: the rest is in the ERP and in plans_intraday/
INTRADAY_KINDS = {
    "below_safety_stock": "below safety stock",
    "stockout_a_item": "A item out of stock",
    "short_receipt": "short receipt",
}
INTRADAY_DAYS = 7  # the days after a plan whose revisions it can be in force for


def mark_superseded(store, failed_ds: date, task: str, reason: str) -> str | None:
    """Mark the newest official report up to `failed_ds` as superseded by a run that failed, so
    that nobody acts on an old page believing it is today's. Returns its URI (None if none)."""
    dates = sorted({k.split("/")[1][3:] for k in store.list(f"{REPORTS.path}/") if k.endswith(lake.MANIFEST)})
    dates = [x for x in dates if x <= failed_ds.isoformat()]
    if not dates:
        return None
    d = dates[-1]
    part = REPORTS.manifest(store, d)
    page = store.get(part.key("index.html")).decode()
    first = " / ".join(reason.strip().splitlines()[:3])[:600] if reason.strip() else "unknown error"
    banner = (
        f"<div class='flag superseded'><b>Superseded run failed at {html.escape(task)}</b> for "
        f"{failed_ds.isoformat()}: {html.escape(first)}. This page shows the last official plan "
        f"({html.escape(d)}); a newer plan was not made. Do not take it for today's plan.</div>"
    )
    head, sep, tail = page.partition(SUPERSEDED)
    if not sep:
        return None
    # one banner at a time: replace the previous one, if any
    tail = tail.split("<!-- /stockwise:superseded -->", 1)[-1]
    page = head + SUPERSEDED + banner + "<!-- /stockwise:superseded -->" + tail
    files = {n: store.get(f["key"]) for n, f in part.files.items() if n != "index.html"}
    files["index.html"] = page.encode()
    new = REPORTS.write(
        store,
        d,
        files,
        meta={**part.meta, "superseded_by_failure": {"ds": failed_ds.isoformat(), "task": task, "reason": first}},
    )
    return store.uri(new.key("index.html"))


def _intraday_parts(store, plan_day: date):
    """(day, manifest) of each day whose intraday revisions were made from the plan of `plan_day`."""
    for back in range(1, INTRADAY_DAYS + 1):
        day = plan_day + timedelta(days=back)
        if INTRADAY.exists(store, day):
            m = INTRADAY.manifest(store, day)
            if m.meta.get("plan_in_force") == plan_day.isoformat():
                yield day, m


def intraday_section(store, plan_day: date) -> str:
    """The exceptions and lines that the stock events added to the plan of `plan_day` since it
    was published (its intraday revisions, `stockwise.intraday`); "" when there are none."""
    out = []
    for day, m in _intraday_parts(store, plan_day):
        exc = INTRADAY.read(store, day, "exceptions.parquet")
        lines = INTRADAY.read(store, day, "day_lines.parquet") if "day_lines.parquet" in m.files else None
        out.append(_intraday_day(day.isoformat(), m.meta, exc, lines, html.escape))
    return "".join(out)


def intraday_behind(store, plan_day: date) -> bool:
    """Whether the report of `plan_day` shows fewer intraday revisions than the lake holds (a run
    killed between a revision's flip and the page, or a nightly re-render racing a revision)."""
    if not REPORTS.exists(store, plan_day):
        return False
    shown = REPORTS.manifest(store, plan_day).meta.get("intraday_revisions") or {}
    held = intraday_revisions(store, plan_day)
    return bool(held) and shown != held


def intraday_revisions(store, plan_day: date) -> dict[str, int]:
    """Day -> the newest intraday revision the lake holds for the plan of `plan_day`."""
    return {d.isoformat(): int(m.meta.get("revision", 0)) for d, m in _intraday_parts(store, plan_day)}


def _intraday_day(day: str, meta: dict, exc, lines, esc) -> str:
    n = int(meta.get("revision", 0))
    urgent = int(lines["urgent"].sum()) if lines is not None and len(lines) else 0
    head = (
        f"<div class='intraday' id='intraday-{esc(day)}'><h2>Since this plan: {len(exc):,} exception(s) and "
        f"{0 if lines is None else len(lines):,} line(s) ({urgent:,} urgent) on {esc(day)}</h2><p>Stock events "
        f"changed the positions below; revision {n} ({esc(str(meta.get('plan_id', '')))}) is in the ERP. "
        "Act on these today: the nightly plan did not see them.</p>"
    )
    body = ""
    if len(exc):
        cells = [
            [INTRADAY_KINDS.get(str(r.kind), str(r.kind)), r.sku, r.location_id, r.detail, getattr(r, "revision", "")]
            for r in exc.sort_values(["kind", "sku", "location_id"]).head(INTRADAY_ROWS).itertuples(index=False)
        ]
        heads = ["exception", "sku", "location", "what happened", "revision"]
        body += _intraday_table("Exceptions", "intraday-exceptions", heads, cells, {4}, len(exc), esc)
    if lines is not None and len(lines):
        lines = lines.sort_values(["urgent", "need_by", "order_value"], ascending=[False, True, False])
        cells = [
            ["urgent" if r.urgent else "order day", r.sku, r.location_id, f"{r.order_qty:g}", str(r.need_by)[:10]]
            + [r.reason, int(r.revision)]
            for r in lines.head(INTRADAY_ROWS).itertuples(index=False)
        ]
        heads = ["", "sku", "location", "qty", "need by", "why", "revision"]
        body += _intraday_table("Lines ordered", "intraday-lines", heads, cells, {3, 6}, len(lines), esc)
    return head + body + "</div>"


def _intraday_table(title: str, cls: str, heads: list[str], cells: list[list], numeric: set[int], n: int, esc) -> str:
    """A table of the intraday part: the first INTRADAY_ROWS rows of n; an urgent line in red."""
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if i in numeric else ' class=urgent' if v == 'urgent' else ''}>{esc(str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in cells
    )
    more = f"<p>The first {INTRADAY_ROWS:,} of {n:,}: every one is in the ERP and in plans_intraday/.</p>"
    return (
        f"<h3>{esc(title)}</h3><table class='{cls}'><thead><tr>{''.join(f'<th>{esc(h)}</th>' for h in heads)}"
        f"</tr></thead><tbody>{rows}</tbody></table>{more if n > INTRADAY_ROWS else ''}"
    )


def add_intraday(store, plan_day: date) -> str | None:
    """Re-write the report of `plan_day` with its intraday section as the lake holds it now (a
    new version of the page; the workbook, PDF and drill-downs unchanged). Returns its URI
    (None when the plan has no report, or the page predates the section)."""
    if not REPORTS.exists(store, plan_day):
        return None
    part = REPORTS.manifest(store, plan_day)
    page = store.get(part.key("index.html")).decode()
    head, sep, tail = page.partition(INTRADAY_MARK)
    if not sep or INTRADAY_END not in tail:
        return None
    held = intraday_revisions(store, plan_day)
    page = head + INTRADAY_MARK + intraday_section(store, plan_day) + INTRADAY_END + tail.split(INTRADAY_END, 1)[1]
    files = {n: store.get(f["key"]) for n, f in part.files.items() if n != "index.html"}
    files["index.html"] = page.encode()
    new = REPORTS.write(store, plan_day, files, meta={**part.meta, "intraday_revisions": held})
    return store.uri(new.key("index.html"))
