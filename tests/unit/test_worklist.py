"""The report's worklist tables: what a planner acts on first, capped pages, an allowed script."""

import base64
import hashlib
import re

import numpy as np
import pandas as pd

from stockwise import worklist


def _lines(n=3):
    return pd.DataFrame(
        {
            "Need by": pd.to_datetime(["2026-01-05", "2026-01-20", "2025-12-30"][:n] + ["2026-02-01"] * (n - 3)),
            "SKU": [f"S{i}" for i in range(n)],
            "Supplier": ["B", "A", "A"][:n] + ["C"] * (n - 3),
            "Order value": [10.0, 2.5, np.nan][:n] + [1.0] * (n - 3),
            "Days of cover": [30.0, 3.0, np.nan][:n] + [1.0] * (n - 3),
            "Reason": ["<b>x</b>", "y", "z"][:n] + ["w"] * (n - 3),
        }
    )


def test_runs_out_and_the_lines_to_act_on_first():
    book = {"Order lines": _lines()}
    page = worklist.sections("2026-01-01", book, {"Order lines": {"Order value": "money", "Need by": "date"}})
    rows = re.findall(r"<tr(?: class='late')?>.*?</tr>", page.split("<tbody>")[1])
    # S0 runs out on 01-31, after its need-by date: fine; S1 runs out on 01-04, before its
    # need-by date of 01-20: red; S2's need-by date has passed: red (and no demand: no run-out day)
    assert ["class='late'" in r for r in rows] == [False, True, True]
    assert "2026-01-31" in rows[0] and "2026-01-04" in rows[1]
    assert "In red (2)" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # text is escaped
    # numbers sort on their raw value; a missing one sorts first, shown empty
    assert "data-v='10.0'>10.00</td>" in page and "data-v='-1e308'></td>" in page
    # filters only for the columns the table has
    assert "aria-label='Supplier'" in page and "aria-label='Location'" not in page


def test_a_long_table_shows_its_first_rows_and_says_where_the_rest_are(monkeypatch):
    monkeypatch.setattr(worklist, "MAX_ROWS", 5)
    page = worklist.table(_lines(12), {}, "t")
    assert page.count("<tr>") + page.count("<tr class='late'>") == 5 + 1
    assert "The first 5 of 12 rows; the Excel has them all." in page


def test_the_page_policy_allows_exactly_the_worklist_script():
    digest = base64.b64encode(hashlib.sha256(worklist.SCRIPT.encode()).digest()).decode()
    assert worklist.script_hash() == f"'sha256-{digest}'"
