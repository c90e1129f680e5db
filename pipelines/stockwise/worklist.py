"""The report's worklist: HTML tables a planner can filter, search and sort, offline.

The tables are the workbook's frames (`stockwise.workbook`): the order lines by need-by date
(with the day each position runs out if nothing is ordered), the purchase orders per supplier,
and the positions at or below their reorder point that are not ordered today. A few lines of
inline JavaScript (no library, no network) filter rows by supplier, location, category and segment,
search their text, filter on an exception kind (a planner override, stock in doubt, an anomaly,
an order below the supplier's minimum, a line that runs out before its need-by date, ...), and
sort by any column; the page's Content-Security-Policy allows exactly
that script by its hash. Long tables show their first `MAX_ROWS` rows; the Excel has them all.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS = 2000  # rows per table on the page (the workbook holds every row)
FILTERS = ("Supplier", "Location", "Category", "Segment", "Exceptions")  # columns offered as drop-down filters
MULTI = {"Exceptions"}  # filters on one of the kinds a cell lists (", " between them)
SEP = ", "

# a position's columns, in the workbook's titles
POSITION = ["SKU", "Location", "Item", "Category", "Supplier", "Segment", "On hand", "On order", "Demand per day"]
# the worklist ("Runs out" is added here) and the positions at risk
WORKLIST = [
    "Need by",
    "Runs out",
    *POSITION,
    "Reorder point",
    "Order-up-to",
    "Order qty",
    "Order value",
    "Reason",
    "Exceptions",
]
AT_RISK = [*POSITION, "Days of cover", "Reorder point", "Next order day", "Why not ordered today", "Exceptions"]
RUNS_OUT_FIRST, PAST_NEED_BY = "runs out before need-by", "need-by passed"

SCRIPT = """(function(){
function rows(t){return Array.prototype.slice.call(t.tBodies[0].rows);}
function key(c){return c.hasAttribute('data-v')?parseFloat(c.getAttribute('data-v')):c.textContent.toLowerCase();}
document.querySelectorAll('.tools').forEach(function(bar){
  var t=document.getElementById(bar.getAttribute('data-table'));
  var q=bar.querySelector('input'), sel=bar.querySelectorAll('select'), out=bar.querySelector('.count');
  function apply(){
    var s=q.value.trim().toLowerCase(), n=0, all=rows(t);
    all.forEach(function(r){
      var ok=!s||r.textContent.toLowerCase().indexOf(s)>=0;
      sel.forEach(function(x){
        if(!x.value)return;
        var c=r.cells[+x.getAttribute('data-col')].textContent;
        if(x.hasAttribute('data-multi')?c.split(', ').indexOf(x.value)<0:c!==x.value)ok=false;
      });
      r.hidden=!ok; if(ok)n++;
    });
    out.textContent=n+' of '+all.length+' shown';
  }
  q.addEventListener('input',apply);
  sel.forEach(function(x){x.addEventListener('change',apply);});
  apply();
});
document.querySelectorAll('table.sortable thead th').forEach(function(th){
  th.addEventListener('click',function(){
    var t=th.closest('table'), i=th.cellIndex, asc=th.getAttribute('aria-sort')!=='ascending';
    t.querySelectorAll('thead th').forEach(function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',asc?'ascending':'descending');
    rows(t).sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);return (x<y?-1:x>y?1:0)*(asc?1:-1);})
      .forEach(function(r){t.tBodies[0].appendChild(r);});
  });
});
})();"""

CSS = """
.tools{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;margin:.6rem 0}
.tools input,.tools select{padding:.3rem .4rem;border:1px solid #cbd2d9;border-radius:4px;font:inherit}
.tools .count{color:#52606d;font-size:.85rem}
table.sortable thead th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:' \\25B2'} th[aria-sort=descending]::after{content:' \\25BC'}
tr.late td:first-child,#worklist tr.late td:nth-child(2){color:#e12d39;font-weight:600}
.note{color:#52606d;font-size:.85rem} table.compare{width:auto;min-width:40%}
"""


def script_hash() -> str:
    """The CSP source that allows the inline script and nothing else."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode() + "'"


def _cell(value, kind: str) -> str:
    """A cell as a planner reads it, with the raw number for sorting (`data-v`)."""
    esc = html.escape
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<td class='n' data-v='-1e308'></td>" if kind and kind != "date" else "<td></td>"
    if kind == "date":
        return f"<td>{esc(str(value)[:10])}</td>"
    if kind in ("qty", "int", "money", "rate", "pct", "days"):
        v = float(value)
        if math.isinf(v):
            return f"<td class='n' data-v='{'1e308' if v > 0 else '-1e308'}'></td>"
        shown = {
            "qty": f"{v:,.0f}",
            "int": f"{v:,.0f}",
            "money": f"{v:,.2f}",
            "rate": f"{v:,.2f}",
            "pct": f"{v:.1%}",
            "days": f"{v:,.0f}",
        }[kind]
        return f"<td class='n' data-v='{v!r}'>{shown}</td>"
    return f"<td>{esc(str(value))}</td>"


def table(
    frame: pd.DataFrame,
    kinds: dict[str, str],
    table_id: str,
    columns: list[str] | None = None,
    flagged: list[bool] | None = None,
    links: list[str | None] | None = None,
) -> str:
    """A filterable, sortable table of `frame` (at most MAX_ROWS rows) with its toolbar; rows
    `flagged` are marked for attention; `links` (per row) make the SKU cell a link."""
    esc = html.escape
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    shown = frame.head(MAX_ROWS)
    selects = []
    for name in FILTERS:
        if name in cols:
            cells = [str(v) for v in shown[name].dropna()]
            values = sorted({k for c in cells for k in c.split(SEP) if k} if name in MULTI else set(cells))
            if not values:
                continue
            opts = "".join(f"<option>{esc(v)}</option>" for v in values)
            multi = " data-multi" if name in MULTI else ""
            every = "any or no exception" if name in MULTI else f"every {esc(name.lower())}"
            selects.append(
                f"<select data-col='{cols.index(name)}'{multi} aria-label='{esc(name)}'>"
                f"<option value=''>{every}</option>{opts}</select>"
            )
    tools = (
        f"<div class='tools' data-table='{esc(table_id)}'><input type='search' placeholder='search' "
        f"aria-label='search {esc(table_id)}'>{''.join(selects)}<span class='count'></span></div>"
    )
    body = []
    for i, r in enumerate(shown[cols].itertuples(index=False)):
        late = " class='late'" if flagged and flagged[i] else ""
        cells = []
        href = links[i] if links and i < len(links) else None
        for c, v in zip(cols, r, strict=True):
            if c == "SKU" and href:
                cells.append(f"<td><a href='{esc(href)}'>{esc(str(v))}</a></td>")
            else:
                cells.append(_cell(v, kinds.get(c, "")))
        body.append(f"<tr{late}>" + "".join(cells) + "</tr>")
    more = (
        f"<p class='note'>The first {MAX_ROWS:,} of {len(frame):,} rows; the Excel has them all.</p>"
        if len(frame) > MAX_ROWS
        else ""
    )
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    return (
        f"{tools}<table id='{esc(table_id)}' class='sortable'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{more}"
    )


def runs_out(frame: pd.DataFrame, ds: str) -> list[str | None]:
    """The day each position runs out without an order: the plan date plus its days of cover."""
    start = date.fromisoformat(ds)
    out: list[str | None] = []
    for c in frame.get("Days of cover", []):
        ok = c is not None and not (isinstance(c, float) and math.isnan(c))
        out.append((start + timedelta(days=int(c))).isoformat() if ok else None)
    return out


def sections(
    ds: str, book: dict[str, pd.DataFrame], kinds: dict[str, dict[str, str]], pages: set[str] | None = None
) -> str:
    """The worklist, the purchase orders, the suppliers and the positions at risk, as HTML;
    `pages`: the drill-down pages written beside the report (`drilldown.slug`), linked from the SKU."""
    from stockwise.drilldown import slug

    lines = book["Order lines"].copy()
    links = None
    if pages and {"SKU", "Location"} <= set(lines.columns):
        paths = [f"positions/{slug(s, lo)}" for s, lo in zip(lines["SKU"], lines["Location"], strict=True)]
        links = [p if p in pages else None for p in paths]
    lines["Runs out"] = runs_out(lines, ds)
    line_kinds = {**kinds.get("Order lines", {}), "Runs out": "date"}
    need = [str(v)[:10] for v in lines.get("Need by", [])]
    # the shelf empties before the order is due, or the due date has passed: act first on these
    short = [bool(o) and o < n or n < ds for o, n in zip(lines["Runs out"], need, strict=True)]
    lines["Exceptions"] = [
        SEP.join(
            [k for k in (str(e) if isinstance(e, str) else "").split(SEP) if k]
            + ([PAST_NEED_BY] if n < ds else [RUNS_OUT_FIRST] if bool(o) and o < n else [])
        )
        for e, o, n in zip(lines.get("Exceptions", [""] * len(lines)), lines["Runs out"], need, strict=True)
    ]
    out = [
        f"<h2>Worklist: order lines by need-by date ({len(lines):,})</h2>"
        "<p class='note'><b>Runs out</b>: the day the position reaches zero at the forecast demand "
        f"if nothing is ordered. In red ({sum(short):,}): it runs out before the order's need-by "
        "date, or that date has passed. Click a column to sort, a SKU for its page.</p>",
        table(lines, line_kinds, "worklist", WORKLIST, flagged=short, links=links),
    ]
    po = book.get("Purchase orders")
    if po is not None and len(po):
        below = int((po["Meets the minimum"] == "no").sum()) if "Meets the minimum" in po else 0
        off = int(po["Overrides off pack/MOQ"].sum()) if "Overrides off pack/MOQ" in po else 0
        notes = ([f"{below} below the supplier's minimum order value."] if below else []) + (
            [f"{off} line(s) a planner fixed off the pack multiple or under the MOQ."] if off else []
        )
        meets, offs = po.get("Meets the minimum", [""] * len(po)), po.get("Overrides off pack/MOQ", [0] * len(po))
        flagged = [m == "no" or bool(o) for m, o in zip(meets, offs, strict=True)]
        out.append(
            f"<h2>Purchase orders by supplier ({len(po):,})</h2>"
            + "".join(f"<p class='note'>{n}</p>" for n in notes)
            + table(po, kinds.get("Purchase orders", {}), "purchase-orders", flagged=flagged)
        )
    sup = book.get("Suppliers")
    if sup is not None and len(sup):
        # deliveries much later than promised, or often late: the lead times to question
        slow = [
            bool(a > 1.2 * p or (o == o and o < 0.5))
            for a, p, o in zip(sup["Actual lead time"], sup["Promised lead time"], sup["On time"], strict=True)
        ]
        out.append(
            f"<h2>Supplier performance ({len(sup):,})</h2><p class='note'>Lead times of the last year's "
            "receipts against the supplier master's promise; <b>Planned with</b> is what planning uses (the "
            f"receipts, shrunk towards the promise when they are few). In red ({sum(slow):,}): more than 20% "
            "slower than promised, or under half received by the expected date.</p>"
            + table(sup, kinds.get("Suppliers", {}), "suppliers", flagged=slow)
        )
    risk = book.get("At risk, not ordered")
    if risk is not None and len(risk):
        out.append(
            f"<h2>At risk, not ordered today ({len(risk):,})</h2><p class='note'>At or below their "
            "reorder point but not on today's orders, with why and when they will be.</p>"
            + table(risk, kinds.get("At risk, not ordered", {}), "at-risk", AT_RISK)
        )
    return "".join(out)
