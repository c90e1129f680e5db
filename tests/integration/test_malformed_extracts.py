"""Malformed and extreme ERP data stops at extract or validate with the extract, column and rows
named; the batch is kept (raw) and quarantined, nothing is published, the official plan stays."""

import sqlite3

import pytest

from stockwise import lake
from stockwise.errors import ErpUnavailable, ExtractError, ValidationFailed
from stockwise.orchestration import call
from stockwise.settings import Settings
from support.demo import TINY_DS

pytestmark = [pytest.mark.integration, pytest.mark.quality]
D = TINY_DS.isoformat()


@pytest.fixture
def official(demo_home):
    """A published official plan for the date, which nothing below may touch."""
    store = lake.open_lake(Settings())
    lake.write_partition(store, "plans", D, {"reorder_plan.csv": b"sku,qty\nA,12\n"}, {"plan_id": f"SW-{D}"})
    return store, {k: store.get(k) for k in store.list("plans/")}


@pytest.mark.parametrize(
    ("sql", "extract", "column", "expectation", "why"),
    [
        (
            "UPDATE sales SET qty = 'lots' WHERE rowid IN (SELECT rowid FROM sales ORDER BY date DESC LIMIT 2)",
            "sales",
            "qty",
            "stockwise_values_parse_as_float",
            "text in a quantity column",
        ),
        ("DELETE FROM sales", "sales", "date", "expect_column_max_to_be_between", "an empty sales extract"),
        (
            "UPDATE stock SET on_hand = 1e15 WHERE rowid IN (SELECT rowid FROM stock ORDER BY date DESC LIMIT 1)",
            "stock",
            "on_hand",
            "expect_column_values_to_be_between",
            "an absurd magnitude",
        ),
        (
            "UPDATE items SET pack_size = 'a dozen' WHERE sku = (SELECT min(sku) FROM items)",
            "items",
            "pack_size",
            "stockwise_values_parse_as_int",
            "text in the master data",
        ),
    ],
    ids=["text-qty", "empty-sales", "absurd-on-hand", "text-pack-size"],
)
def test_bad_values_stop_at_validation_naming_extract_column_rows(
    official, demo_home, sql, extract, column, expectation, why
):
    store, plans_before = official
    with sqlite3.connect(demo_home / "erp.db") as c:
        c.execute(sql)
    call("extract", TINY_DS)  # kept as pulled, whatever it holds: the audit trail
    assert lake.has_partition(store, f"raw/erp/{extract}", D)
    with pytest.raises(ValidationFailed) as e:
        call("validate", TINY_DS)
    msg = str(e.value)
    assert f"extract '{extract}'" in msg and f"{expectation} column '{column}'" in msg, msg
    if expectation != "expect_column_max_to_be_between":
        assert " rows [" in msg, msg
    else:
        assert "sales holds no rows up to the run date 2025-12-31" in msg
    assert lake.has_partition(store, f"quarantine/{extract}", D)
    assert not lake.has_partition(store, f"validated/{extract}", D)
    assert {k: store.get(k) for k in store.list("plans/")} == plans_before
    with sqlite3.connect(demo_home / "erp.db") as c:  # nothing reached the ERP
        assert c.execute("SELECT count(*) FROM purchase_requisitions").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM stockwise_publications").fetchone() == (0,)


def test_a_mapping_naming_a_missing_table_fails_once_with_the_tables_there(official, demo_home, tmp_path, monkeypatch):
    from importlib import resources

    from airflow.sdk.exceptions import AirflowFailException

    mapping = tmp_path / "erp.yaml"
    base = resources.files("stockwise.erp").joinpath("mappings/demo.yaml").read_text()
    mapping.write_text(base.replace("sales: {table: sales}", "sales: {table: sales_2025}"))
    monkeypatch.setenv("STOCKWISE_ERP_MAPPING", str(mapping))
    with pytest.raises(
        ExtractError,
        match=r"extract 'sales' names table 'sales_2025', which does not exist in "
        r"sqlite:///.*erp\.db \(tables there: \[.*'sales'.*\]\)",
    ):
        call("extract", TINY_DS)
    # in Airflow, a retry cannot fix a mapping: the task fails at once
    with pytest.raises(AirflowFailException, match="sales_2025"):
        call("extract", TINY_DS, in_airflow=True)
    store, plans_before = official
    assert {k: store.get(k) for k in store.list("plans/")} == plans_before


def test_an_erp_that_is_down_is_retryable_not_a_data_error(official, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STOCKWISE_ERP_URL", f"postgresql+psycopg2://stockwise@127.0.0.1:{port}/erp")
    with pytest.raises(ErpUnavailable, match="cannot connect to the ERP"):
        call("extract", TINY_DS, in_airflow=True)  # not AirflowFailException: Airflow retries it
