"""Generated hostile CSV drops through the files connector and the validation gate: each one
either passes validation or fails it with a message naming extract, column and rows; none ends
in an unhandled library error (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockwise.erp.files import FilesConnector
from stockwise.erp.mapping import load_mapping
from stockwise.erp.schema import conform
from stockwise.errors import ExtractError
from stockwise.validation.gate import validate
from support.demo import TINY_DS

pytestmark = [pytest.mark.quality, pytest.mark.slow]
GX_DIR = Path(__file__).resolve().parents[2] / "great_expectations"

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e309",
        "-5",
        "1e15",
        "twelve",
        "=1+1",
        "<script>alert(9)</script>",
        "ŠKU-ü",
        "\x00",
        "\x1b[31m",
        "a,b",
        '"quoted"',
        "12\n3",
        "０１２",
        "\u202e",
        "2025-02-30",
        "31/12/2025",
    ]
)
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**12), 10**12))


def _cell(kind: str):
    if kind == "number":
        return st.one_of(NUMBERS, HOSTILE_TEXT)
    if kind == "date":
        return st.one_of(st.sampled_from(["2025-12-30", "2025-12-31", "2026-01-05", "1900-01-01"]), HOSTILE_TEXT)
    return st.one_of(st.sampled_from(["SKU00000", "SKU00001", "ST00", "ST01"]), HOSTILE_TEXT)


SALES_COLS = {
    "date": "date",
    "sku": "text",
    "location_id": "text",
    "qty": "number",
    "price": "number",
    "on_promo": "text",
}


@st.composite
def hostile_sales(draw):
    n = draw(st.integers(0, 8))
    cols = dict(SALES_COLS)
    if draw(st.booleans()):  # a missing column
        cols.pop(draw(st.sampled_from(sorted(cols))))
    if draw(st.booleans()):  # an extra one
        cols["EXTRA"] = "text"
    rows = [{c: draw(_cell(k)) for c, k in cols.items()} for _ in range(n)]
    if rows and draw(st.booleans()):
        rows.append(dict(rows[0]))  # a duplicated key
    sep = draw(st.sampled_from([",", ";", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    return pd.DataFrame(rows, columns=list(cols)), sep, encoding


@pytest.fixture(scope="module")
def master(tiny_demo):
    t = tiny_demo.tables
    return {n: conform(n, t[n], "demo") for n in ("items", "locations", "suppliers")}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=hostile_sales())
def test_a_hostile_sales_drop_passes_or_fails_cleanly(tmp_path_factory, master, case):
    frame, sep, encoding = case
    drop = tmp_path_factory.mktemp("drop")
    try:
        (drop / "sales.csv").write_bytes(frame.to_csv(index=False, sep=sep).encode(encoding, errors="replace"))
    except UnicodeEncodeError:
        return
    (drop / "mapping.yaml").write_text("extracts:\n  sales: {file: sales.csv}\n")
    conn = FilesConnector(drop, load_mapping(drop / "mapping.yaml"))
    try:
        sales = conn.extract("sales", TINY_DS, 30)
    except ExtractError as e:  # a file that cannot be read as CSV: refused, naming it
        assert "sales.csv" in str(e)
        return
    gate = validate({**master, "sales": sales}, TINY_DS, GX_DIR)
    res = gate.results["sales"]
    for f in res.failures:  # every failure names the expectation, and the column or the rows
        assert f["expectation"]
        assert f.get("column") or f.get("message") or f.get("observed") is not None or f.get("rows") is not None
    assert res.success or res.failures
