"""The `sql` connector against a real PostgreSQL: extracts and the transactional write-back."""

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from stockwise.erp.demo import write
from stockwise.erp.sql import SqlConnector
from support.demo import TINY_DS
from support.postgres import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_erp(postgres_url, tiny_demo, tmp_path):
    erp = fresh_database(postgres_url, "stockwise_test_erp")
    truth = fresh_database(postgres_url, "stockwise_test_truth")
    write(tiny_demo, erp, truth)
    return erp


def test_extracts_match_the_sqlite_demo(pg_erp, tiny_demo, tmp_path):
    pg = SqlConnector(pg_erp)
    lite_url = f"sqlite:///{tmp_path / 'erp.db'}"
    write(tiny_demo, lite_url, f"sqlite:///{tmp_path / 'truth.db'}")
    lite = SqlConnector(lite_url)
    for name in ("items", "sales", "stock", "movements", "open_orders"):
        a = pg.extract(name, TINY_DS, 60)
        b = lite.extract(name, TINY_DS, 60)
        assert len(a) == len(b) > 0, name
        key = list(a.columns[:3])
        pd.testing.assert_frame_equal(
            a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True), check_dtype=False
        )
    sales = pg.extract("sales", TINY_DS, 60)
    assert sales["date"].min() >= pd.Timestamp("2025-11-02") and sales["date"].max() <= pd.Timestamp(TINY_DS)
    # open orders as of an earlier date include lines received since
    assert len(pg.extract("open_orders", date(2025, 12, 1), 60)) > 0


def _lines(n: int, qty: float = 12.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku": [f"SKU{i:05d}" for i in range(n)],
            "location_id": "ST00",
            "supplier_id": "SUP000",
            "order_qty": qty,
            "need_by": pd.Timestamp("2026-01-05"),
            "reason": "test",
        }
    )


def test_requisitions_upsert_is_idempotent_and_transactional(pg_erp):
    conn = SqlConnector(pg_erp)
    assert conn.commit_plan("SW-1", TINY_DS, "v1", _lines(5)) == {
        "upserted": 5,
        "transfers": 0,
        "removed": 0,
        "exceptions": 0,
    }
    assert conn.commit_plan("SW-1", TINY_DS, "v2", _lines(5, qty=24.0)) == {
        "upserted": 5,
        "transfers": 0,
        "removed": 0,
        "exceptions": 0,
    }
    assert conn.publication("SW-1")["version"] == "v2"
    rows = conn.read_table("purchase_requisitions")
    assert len(rows) == 5 and (rows["qty"] == 24.0).all()
    # a buyer approved one line; the rerun drops the plan's other stale lines but not that one
    with conn.engine.begin() as c:
        c.execute(sa.text("UPDATE purchase_requisitions SET status='approved' WHERE sku='SKU00004'"))
    assert conn.commit_plan("SW-1", TINY_DS, "v3", _lines(2)) == {
        "upserted": 2,
        "transfers": 0,
        "removed": 2,
        "exceptions": 0,
    }
    assert sorted(conn.read_table("purchase_requisitions")["sku"]) == ["SKU00000", "SKU00001", "SKU00004"]
    # a batch that fails half-way leaves the previous lines exactly as they were
    before = conn.read_table("purchase_requisitions").sort_values("sku").reset_index(drop=True)
    bad = _lines(3, qty=99.0)
    bad.loc[2, "sku"] = "X" * 200  # longer than the column: PostgreSQL rejects the insert
    with pytest.raises(sa.exc.DataError):
        conn.commit_plan("SW-1", TINY_DS, "v4", bad)
    after = conn.read_table("purchase_requisitions").sort_values("sku").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert conn.publication("SW-1")["version"] == "v3"  # the record rolled back with the lines


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_hostile_text_is_written_back_verbatim_never_run(backend, postgres_url, tmp_path):
    """Write-back is parameterised SQL: a sku or reason holding SQL is stored as text."""
    url = (
        fresh_database(postgres_url, "stockwise_test_hostile")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'erp.db'}"
    )
    conn = SqlConnector(url)
    evil = [
        "x'); DROP TABLE purchase_requisitions; --",
        "Robert'); DELETE FROM stockwise_publications;--",
        '=HYPERLINK("http://x","a")',
        "<script>alert(9)</script>",
    ]
    lines = _lines(len(evil)).assign(sku=evil, reason=evil)
    exc = pd.DataFrame({"sku": evil[:1], "location_id": ["ST00"], "kind": ["needs_master_data"], "detail": evil[1:2]})
    conn.commit_plan("SW-1'; --", TINY_DS, "v1'--", lines, exc)
    rows = conn.read_table("purchase_requisitions")
    assert sorted(rows["sku"]) == sorted(evil) and set(rows["plan_id"]) == {"SW-1'; --"}
    assert conn.publication("SW-1'; --")["version"] == "v1'--"
    assert conn.read_table("planning_exceptions")["detail"].tolist() == evil[1:2]


def test_extract_in_batches_from_a_server_side_cursor_equals_the_whole(pg_erp, tmp_path):
    """A multi-year extract is read a batch at a time (PostgreSQL: a server-side cursor) and
    written batch by batch into one Parquet file: the same rows and types as in one go; a batch
    with text in a quantity (among clean ones) is stored as pulled, for validation to name."""
    import pyarrow.parquet as pq

    from stockwise import lake

    pg = SqlConnector(pg_erp)
    whole = pg.extract("stock", TINY_DS, 60)
    parts = list(pg.extract_batches("stock", TINY_DS, 60, rows=300))
    assert len(parts) == -(-len(whole) // 300) > 2
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    data, n = lake.parquet_bytes_of_batches(iter(parts))
    assert n == len(whole)
    back = pq.read_table(pa_buffer(data)).to_pandas()
    pd.testing.assert_frame_equal(back, whole, check_dtype=False)

    bad = parts[1].astype({"on_hand": object})
    bad.loc[bad.index[3], "on_hand"] = "12 units"
    data, n = lake.parquet_bytes_of_batches(iter([parts[0], bad, parts[2]]))
    back = pq.read_table(pa_buffer(data)).to_pandas()
    assert n == len(parts[0]) + len(bad) + len(parts[2]) == len(back)
    assert (back["on_hand"] == "12 units").sum() == 1  # kept as pulled: validation names the row


def pa_buffer(data: bytes):
    import pyarrow as pa

    return pa.BufferReader(data)


def test_transfer_orders_go_beside_the_requisitions_in_one_transaction(pg_erp):
    """A network plan's DC -> store lines land in transfer_orders, keyed by the receiving store;
    a rerun refreshes them and drops those no longer proposed, in the same transaction."""
    conn = SqlConnector(pg_erp)
    dc = _lines(1).assign(location_id="DC01", order_type="purchase", source_id="SUP000", requested_qty=12.0)
    moves = _lines(2, qty=6.0).assign(order_type="transfer", source_id="DC01", requested_qty=[6.0, 18.0])
    got = conn.commit_plan("SW-NET", TINY_DS, "v1", pd.concat([dc, moves], ignore_index=True))
    assert got == {"upserted": 1, "transfers": 2, "removed": 0, "exceptions": 0}
    t = conn.read_table("transfer_orders")
    t = t[t["plan_id"] == "SW-NET"].sort_values("sku")
    assert list(t["from_location_id"]) == ["DC01", "DC01"] and list(t["to_location_id"]) == ["ST00", "ST00"]
    assert list(t["qty"]) == [6.0, 6.0] and list(t["requested_qty"]) == [6.0, 18.0]
    assert conn.publication("SW-NET")["lines"] == 3
    again = conn.commit_plan("SW-NET", TINY_DS, "v2", pd.concat([dc, moves.iloc[:1]], ignore_index=True))
    assert again == {"upserted": 1, "transfers": 1, "removed": 1, "exceptions": 0}
    t = conn.read_table("transfer_orders")
    assert list(t[t["plan_id"] == "SW-NET"]["sku"]) == ["SKU00000"]
    r = conn.read_table("purchase_requisitions")
    assert list(r[r["location_id"] == "DC01"]["sku"]) == ["SKU00000"]
