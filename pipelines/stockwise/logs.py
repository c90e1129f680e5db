"""Log lines a person reads: the libraries' chatter off, one closing line per job.

A failed validation's task log was 209 lines of Great Expectations' import-time
"Skipping registering function" out of 247; Prophet's backend prints a line per chain.
"""

from __future__ import annotations

import logging
import os

# libraries whose INFO lines say nothing to an operator (their warnings and errors still show)
NOISY = (
    "great_expectations",
    "py4j",
    "alembic",
    "botocore",
    "boto3",
    "urllib3",
    "matplotlib",
    "PIL",
    "cmdstanpy",
    "prophet",
    "numexpr",
    "fontTools",
)


def quiet_libraries() -> None:
    """Raise the noisy libraries' loggers to WARNING (before they are imported: GX logs at import)."""
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)


# result keys that name something the job wrote, with how a person calls it
WROTE = {
    "uri": "",
    "html": "report",
    "xlsx": "workbook",
    "pdf": "summary PDF",
    "plan_csv": "plan CSV",
    "plan_parquet": "plan Parquet",
    "data_docs": "Data Docs",
}
# result keys counted in the closing line, in this order
COUNTS = ("rows", "series", "lines", "order_lines", "alerts", "requisitions_upserted", "new_events")


def _common_folder(uris: list[str]) -> str:
    prefix = os.path.commonprefix(uris)
    return prefix[: prefix.rfind("/") + 1] if "/" in prefix else prefix


def done_line(job: str, day: str, out: dict, seconds: float) -> str:
    """The last line of a job's log: how long it took, what it counted, what it wrote and where.

    >>> done_line("validate", "2025-12-31", {"rows": {"a": 2, "b": 3}, "data_docs": "/l/d.html"}, 1.25)
    'validate 2025-12-31 done in 1.2 s: 5 rows in 2 tables; wrote Data Docs /l/d.html'
    """
    facts = []
    for key in COUNTS:
        v = out.get(key)
        if isinstance(v, dict) and v and all(isinstance(x, int | float) for x in v.values()):
            facts.append(f"{sum(v.values()):,.0f} {key} in {len(v)} tables")
        elif isinstance(v, int | float) and not isinstance(v, bool):
            facts.append(f"{v:,.0f} {key.replace('_upserted', ' written').replace('_', ' ')}")
    wrote = []
    for key, label in WROTE.items():
        v = out.get(key)
        if isinstance(v, str) and v:
            wrote.append(f"{label} {v}".strip())
    uris = out.get("uris")
    if isinstance(uris, dict) and uris:
        wrote.append(f"{len(uris)} files under {_common_folder([str(u) for u in uris.values()])}")
    for rev in out.get("revisions") or []:  # the intraday job's plan revisions
        if isinstance(rev, dict) and rev.get("plan_id"):
            what = f"revision {rev['plan_id']} ({rev.get('lines', 0)} lines, {rev.get('urgent', 0)} urgent, "
            what += f"{rev.get('exceptions', 0)} new exceptions) to the ERP"
            wrote.append(what + (f", shown in report {rev['report']}" if rev.get("report") else ""))
    if out.get("requisitions_upserted") is not None and out.get("erp"):
        wrote.append(f"requisitions to {out['erp']}")
    text = f"{job} {day} done in {seconds:.1f} s"
    if facts:
        text += ": " + ", ".join(facts)
    if out.get("held"):
        text += f"; held, not published: {out.get('why')}"
    return text + ("; wrote " + "; ".join(wrote) if wrote else "; wrote nothing")
