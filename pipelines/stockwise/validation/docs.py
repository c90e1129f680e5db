"""The data-quality page of a run: every extract, every expectation, what failed and on which
rows; every value escaped (ERP text can hold markup), one self-contained file (no CDN, no
script), readable offline from the lake."""

from __future__ import annotations

import html
import json
from datetime import date
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}
h1{margin-bottom:.2rem} .sub{color:#52606d;margin-top:0}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin-bottom:1.2rem}
th,td{padding:.3rem .5rem;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:top}
th{background:#f5f7fa} .ok{color:#0b6e4f} .bad{color:#e12d39;font-weight:600} code{font-size:.8rem}
details{margin:.6rem 0} summary{cursor:pointer;font-weight:600}
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _kwargs(cfg: dict) -> str:
    kw = {k: v for k, v in (cfg.get("kwargs") or {}).items() if k not in ("batch_id",)}
    text = json.dumps(kw, default=str, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


def _extract_section(name: str, res) -> str:
    """One extract: its expectations, a row each; failures with counts, examples and rows."""
    failures = {(f["expectation"], f.get("column") or None): f for f in res.failures}
    rows = []
    ours = [f for f in res.failures if str(f["expectation"]).startswith("stockwise_")]
    for f in ours:  # the contract checks made before GX
        rows.append(_row(False, f["expectation"], f.get("column") or "", "", f))
    for r in (res.result_json or {}).get("results", []):
        cfg = r.get("expectation_config") or {}
        kw = cfg.get("kwargs") or {}
        col = kw.get("column") or ",".join(kw.get("column_list") or []) or ""
        f = failures.get((cfg.get("type"), col or None)) if not r.get("success") else None
        rows.append(_row(bool(r.get("success")), cfg.get("type", "?"), col, _kwargs(cfg), f or {}))
    status = "<span class='ok'>passed</span>" if res.success else "<span class='bad'>failed</span>"
    return (
        f"<details{' open' if not res.success else ''}><summary>{_e(name)}: {status}, {res.rows:,} rows, "
        f"{len(res.failures)} failed expectation(s)</summary><table><thead><tr><th>result</th><th>expectation</th>"
        "<th>column</th><th>what failed</th><th>parameters</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></details>"
    )


def _row(ok: bool, expectation: str, column: str, params: str, f: dict) -> str:
    what = ""
    if f:
        parts = []
        if f.get("message"):
            parts.append(f["message"])
        if f.get("unexpected_count") is not None:
            parts.append(f"{f['unexpected_count']} value(s) at fault")
        if f.get("rows"):
            parts.append(f"rows {f['rows']}")
        if f.get("examples"):
            parts.append(f"e.g. {f['examples']}")
        if f.get("observed") is not None and not f.get("message"):
            parts.append(f"observed {f['observed']}")
        what = "; ".join(str(p) for p in parts)
    mark = "<span class='ok'>✓</span>" if ok else "<span class='bad'>✗</span>"
    return (
        f"<tr><td>{mark}</td><td><code>{_e(expectation)}</code></td><td>{_e(column)}</td>"
        f"<td>{_e(what)}</td><td><code>{_e(params)}</code></td></tr>"
    )


def render(results: dict, ds: date) -> str:
    failed = sorted(n for n, r in results.items() if not r.success)
    head = (
        f"{len(failed)} of {len(results)} extracts failed: {', '.join(failed)}; they are quarantined and nothing "
        "downstream ran"
        if failed
        else f"all {len(results)} extracts passed"
    )
    summary = "".join(
        f"<tr><td>{_e(n)}</td><td>{r.rows:,}</td><td>{'passed' if r.success else 'failed'}</td>"
        f"<td>{len(r.failures)}</td></tr>"
        for n, r in results.items()
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Stockwise data quality {_e(ds)}</title><style>{CSS}</style></head><body>
<h1>Data quality {_e(ds)}</h1>
<p class="sub">Great Expectations suites, one per ERP extract: {_e(head)}.</p>
<table><thead><tr><th>extract</th><th>rows</th><th>result</th><th>failed expectations</th></tr></thead>
<tbody>{summary}</tbody></table>
{"".join(_extract_section(n, r) for n, r in results.items())}
</body></html>"""
