"""The `files` connector reads an ERP's CSV/Parquet drop through a YAML mapping."""

import pandas as pd
import pytest

from stockwise.erp.files import FilesConnector
from stockwise.erp.mapping import load_mapping
from stockwise.errors import ExtractError
from support.demo import TINY_DS

MAPPING = """
extracts:
  items:
    file: export/ITEMS.csv
    columns: {sku: ITEM_NO, name: DESCR, unit_cost: COST}
  locations: {file: export/locations.parquet}
  suppliers: {file: export/suppliers.csv}
  sales:
    file: export/sales_*.csv
    columns: {sku: ITEM_NO, location_id: STORE, qty: UNITS}
  stock: {file: export/stock.parquet}
  movements: {file: export/movements.parquet}
  open_orders: {file: export/open_orders.csv}
"""


@pytest.fixture
def drop(tmp_path, tiny_demo):
    t = tiny_demo.tables
    ex = tmp_path / "export"
    ex.mkdir()
    t["items"].rename(columns={"sku": "ITEM_NO", "name": "DESCR", "unit_cost": "COST"}).to_csv(
        ex / "ITEMS.csv", index=False
    )
    t["locations"].to_parquet(ex / "locations.parquet")
    t["suppliers"].to_csv(ex / "suppliers.csv", index=False)
    sales = t["sales"].rename(columns={"sku": "ITEM_NO", "location_id": "STORE", "qty": "UNITS"})
    half = len(sales) // 2
    sales.iloc[:half].to_csv(ex / "sales_1.csv", index=False)  # an ERP that splits its exports
    sales.iloc[half:].to_csv(ex / "sales_2.csv", index=False)
    t["stock"].to_parquet(ex / "stock.parquet")
    t["movements"].to_parquet(ex / "movements.parquet")
    po = t["purchase_orders"]
    po[po["received_date"].isna()].drop(columns="received_date").to_csv(ex / "open_orders.csv", index=False)
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    return tmp_path


def test_files_give_the_same_extracts_as_the_database(drop, tiny_demo):
    conn = FilesConnector(drop, load_mapping(drop / "mapping.yaml"))
    items = conn.extract("items", TINY_DS, None)
    # the store pack (network plans) is an optional column: empty when the ERP has none
    assert items["store_pack_size"].isna().all()
    pd.testing.assert_frame_equal(items.drop(columns="store_pack_size"), tiny_demo.tables["items"], check_dtype=False)
    sales = conn.extract("sales", TINY_DS, 30)
    src = tiny_demo.tables["sales"]
    expect = src[src["date"] > pd.Timestamp("2025-12-01")].reset_index(drop=True)
    pd.testing.assert_frame_equal(sales, expect, check_dtype=False)
    assert sales["on_promo"].dtype == bool and sales["qty"].dtype == float
    assert len(conn.extract("open_orders", TINY_DS, 365)) > 0


def test_missing_file_or_source_column_is_named(drop):
    (drop / "export" / "stock.parquet").unlink()
    conn = FilesConnector(drop, load_mapping(drop / "mapping.yaml"))
    with pytest.raises(ExtractError, match=r"export/stock.parquet: no file for extract 'stock'"):
        conn.extract("stock", TINY_DS, 30)
    df = pd.read_csv(drop / "export" / "ITEMS.csv").drop(columns=["COST"])
    df.to_csv(drop / "export" / "ITEMS.csv", index=False)
    with pytest.raises(ExtractError, match=r"ITEMS.csv: extract 'items' lacks source column\(s\) \['COST'\]"):
        conn.extract("items", TINY_DS, 30)


def test_write_back_replaces_the_plan_file(drop):
    conn = FilesConnector(drop, load_mapping(drop / "mapping.yaml"))
    lines = pd.DataFrame(
        {
            "sku": ["A", "B"],
            "location_id": "S",
            "supplier_id": "V",
            "order_qty": [12.0, 24.0],
            "need_by": "2026-01-05",
            "reason": "r",
        }
    )
    conn.commit_plan("SW-1", TINY_DS, "v1", lines)
    conn.commit_plan("SW-1", TINY_DS, "v2", lines.head(1))
    out = pd.read_csv(drop / "outbox" / "purchase_requisitions" / "SW-1.csv")
    assert out["sku"].tolist() == ["A"] and out["qty"].tolist() == [12.0]
    # the lines name the version they belong to; the publication record agrees
    assert set(out["plan_version"]) == {"v2"} and conn.publication("SW-1")["version"] == "v2"


def test_a_network_plans_transfers_get_their_own_file_replaced_with_the_plan(drop):
    conn = FilesConnector(drop, load_mapping(drop / "mapping.yaml"))
    lines = pd.DataFrame(
        {
            "sku": ["A", "A", "B"],
            "location_id": ["DC1", "S1", "S2"],
            "supplier_id": ["V", "DC1", "DC1"],
            "source_id": ["V", "DC1", "DC1"],
            "order_type": ["purchase", "transfer", "transfer"],
            "order_qty": [48.0, 6.0, 12.0],
            "requested_qty": [48.0, 6.0, 18.0],
            "need_by": "2026-01-05",
            "reason": "r",
        }
    )
    assert conn.commit_plan("SW-2", TINY_DS, "v1", lines)["transfers"] == 2
    box = drop / "outbox"
    moves = pd.read_csv(box / "transfer_orders" / "SW-2.csv")
    assert moves[["from_location_id", "to_location_id", "qty", "requested_qty"]].values.tolist() == [
        ["DC1", "S1", 6.0, 6.0],
        ["DC1", "S2", 12.0, 18.0],
    ]
    assert pd.read_csv(box / "purchase_requisitions" / "SW-2.csv")["location_id"].tolist() == ["DC1"]
    assert conn.publication("SW-2")["lines"] == 3
    # the rerun proposes no transfer: the file is replaced by an empty one, not left stale
    conn.commit_plan("SW-2", TINY_DS, "v2", lines.head(1))
    assert pd.read_csv(box / "transfer_orders" / "SW-2.csv").empty


def test_a_networked_erps_transfers_and_sourcing_read_from_files(tmp_path):
    """A networked ERP's drop: its transfers (an export with its own column names, those not
    yet received blank) and its sourcing table read back typed, bounded by the run date."""
    from datetime import date

    from stockwise.erp.demo import DemoConfig, generate

    demo = generate(DemoConfig(skus=12, stores=2, days=120, end=date(2025, 12, 31), seed=11, network=True))
    ex = tmp_path / "export"
    ex.mkdir()
    tr = demo.tables["transfers"]
    tr.rename(columns={"transfer_id": "STO_NO", "location_id": "TO_STORE", "source_id": "FROM_DC"}).to_csv(
        ex / "transfers.csv", index=False
    )
    demo.tables["sourcing"].to_csv(ex / "sourcing.csv", index=False)
    (tmp_path / "mapping.yaml").write_text(
        MAPPING
        + "  transfers:\n    file: export/transfers.csv\n"
        + "    columns: {transfer_id: STO_NO, location_id: TO_STORE, source_id: FROM_DC}\n"
        + "  sourcing: {file: export/sourcing.csv}\n"
    )
    conn = FilesConnector(tmp_path, load_mapping(tmp_path / "mapping.yaml"))
    ds = date(2025, 12, 20)
    got = conn.extract("transfers", ds, 365)
    assert len(got) == (tr["ship_date"] <= pd.Timestamp(ds)).sum() > 0
    assert got["ship_date"].dtype.kind == "M" and got["qty"].dtype == float
    assert set(got["location_id"]) == set(demo.tables["sourcing"]["location_id"]) and set(got["source_id"]) == {"DC01"}
    src = conn.extract("sourcing", ds, None)
    assert src["lead_time_days_mean"].tolist() == [1.0, 1.0] and set(src["ship_weekdays"]) == {
        "mon,wed,fri",
        "tue,thu,sat",
    }
