"""The closing line of a job's log: what a person reads first in the Airflow task log."""

from stockwise.logs import done_line


def test_the_closing_line_counts_what_the_job_did_and_names_what_it_wrote():
    line = done_line("validate", "2025-12-31", {"rows": {"a": 2, "b": 3}, "data_docs": "/l/d.html"}, 1.25)
    assert line == "validate 2025-12-31 done in 1.2 s: 5 rows in 2 tables; wrote Data Docs /l/d.html"
    assert done_line("train_anomaly", "2025-12-31", {}, 3.0).endswith("; wrote nothing")


def test_the_intraday_jobs_line_names_each_revision_and_the_report_showing_it():
    out = {
        "new_events": 2210,
        "revisions": [
            {"plan_id": "SW-2025-12-31-r1", "lines": 12, "urgent": 8, "exceptions": 11, "report": "/l/index.html"}
        ],
    }
    assert done_line("stock_events", "2026-01-01", out, 0.7) == (
        "stock_events 2026-01-01 done in 0.7 s: 2,210 new events; wrote revision SW-2025-12-31-r1 (12 lines, "
        "8 urgent, 11 new exceptions) to the ERP, shown in report /l/index.html"
    )
    quiet = done_line("stock_events", "2026-01-01", {"new_events": 0, "revisions": []}, 0.2)
    assert quiet == "stock_events 2026-01-01 done in 0.2 s: 0 new events; wrote nothing"
