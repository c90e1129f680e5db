"""Exports a planner opens in a spreadsheet run no formula; no credential is ever printed."""

import io
import logging

import pandas as pd
import pytest
from openpyxl import load_workbook

from stockwise import exports, masking

HOSTILE = ['=HYPERLINK("http://x","a")', "=1+1", "+1+1", "-2+3", "@SUM(1)", "\tTAB", "\rCR"]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_formula_prefix_is_neutralised_in_csv_and_xlsx(text):
    df = pd.DataFrame({"sku": [text, "SKU1"], "name": ["ok", text], "qty": [-2.0, 3.0]})
    back = pd.read_csv(io.BytesIO(exports.csv_bytes(df)), keep_default_na=False)
    first = back["sku"].tolist()[0]
    assert first.startswith("'") and first[1:].strip() == text.strip()  # a CSV reader may turn \r into \n
    assert back["qty"].tolist() == [-2.0, 3.0]  # numbers are never touched
    ws = load_workbook(io.BytesIO(exports.xlsx_bytes({"lines": df}))).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # no formula anywhere
    hit = [c for c in cells if isinstance(c.value, str) and c.value.strip() == text.strip()]
    assert len(hit) == 2 and all(c.data_type == "s" and c.quotePrefix for c in hit)


def test_the_plan_exports_go_through_the_neutraliser():
    from stockwise.publish import plan_csv

    orders = pd.DataFrame(
        {"sku": ["=1+1"], "name": ['=HYPERLINK("http://x","a")'], "order_qty": [12.0], "order_value": [24.0]}
    )
    text = plan_csv(orders).decode()
    assert "'=1+1" in text and "'=HYPERLINK" in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg2://user:PASSWORD@host:5432/db", "postgresql+psycopg2://user:***@host:5432/db"),
        ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
        ("http://reviewer:tok3n@mlflow:5000", "http://reviewer:***@mlflow:5000"),
        (
            "postgresql://h/db?user=a&password=zz&sslmode=require",
            "postgresql://h/db?user=a&password=***&sslmode=require",
        ),
        ("sqlite:////srv/stockwise/erp.db", "sqlite:////srv/stockwise/erp.db"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
    ],
)
def test_urls_are_shown_with_their_secrets_masked(url, shown):
    assert masking.mask_url(url) == shown


def test_log_records_are_scrubbed_of_known_secrets(monkeypatch, caplog):
    monkeypatch.setenv("STOCKWISE_ERP_URL", "postgresql+psycopg2://u:Sup3rSecret!@h/db")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123456")
    masking.install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("anything.at.all").info("connecting with %s and %s", "Sup3rSecret!", "tok-123456")
    assert "Sup3rSecret!" not in caplog.text and "tok-123456" not in caplog.text and "***" in caplog.text
